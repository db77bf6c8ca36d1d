"""Cold `rag-app query --llm extractive`: wall time, peak RSS and heavy imports, against a baseline checkout.

Each run is a new process (as a script or cron job calling the CLI). With ``--baseline DIR``
(another checkout of rag-app, e.g. ``git worktree add /tmp/base main``) the same index
folder layout is built by each version and their runs are interleaved, so a busy machine
slows both alike. Prints medians, and which of torch / transformers / chromadb / langchain
the query imported (``python -X importtime``).

    python bench/cold_query.py --runs 7
    python bench/cold_query.py --runs 7 --baseline /tmp/base
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine

QUESTION = "How long is the warranty on an aluminium frame?"
WRAPPER = (
    "import atexit, resource, runpy, sys; "
    "atexit.register(lambda: print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)); "
    "sys.argv = ['rag-app'] + sys.argv[1:]; runpy.run_module('rag_app', run_name='__main__')"
)
HEAVY = ("torch", "transformers", "chromadb", "langchain_core", "onnxruntime", "sentence_transformers")


def run(code: Path, env: dict[str, str], *args: str, importtime: bool = False) -> tuple[float, float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", WRAPPER, *args],
        env={**env, "PYTHONPATH": str(code)}, capture_output=True, text=True, check=True,
        cwd=env["RAG_PERSIST_DIR"] + "-cwd",  # not the checkout: `python -c` puts the cwd first on sys.path
    )
    wall = time.perf_counter() - started
    rss = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("MAXRSS")) / 1024
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return wall, rss, ",".join(m for m in HEAVY if m in imported) or "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", help="another rag-app checkout to compare with")
    args = parser.parse_args()
    versions = {"this checkout": ROOT}
    if args.baseline:
        versions = {"baseline": Path(args.baseline).resolve(), **versions}
    print(machine())
    tmp = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    try:
        envs = {}
        imports: dict[str, str] = {}
        for name, code in versions.items():
            env = {**os.environ, "RAG_PERSIST_DIR": str(tmp / name.replace(" ", "-")), "RAG_LEDGER": "0"}
            Path(env["RAG_PERSIST_DIR"] + "-cwd").mkdir()
            subprocess.run([sys.executable, "-m", "rag_app", "reindex", str(ROOT / "data")], cwd=env["RAG_PERSIST_DIR"] + "-cwd",
                           env={**env, "PYTHONPATH": str(code)}, check=True, capture_output=True)
            envs[name] = env
            # Warm the page cache; the import list comes from this run (-X importtime slows a run a little).
            imports[name] = run(code, env, "query", QUESTION, "--llm", "extractive", importtime=True)[2]
        results: dict[str, list[tuple[float, float, str]]] = {name: [] for name in versions}
        for _ in range(args.runs):
            for name, code in versions.items():
                results[name].append(run(code, envs[name], "query", QUESTION, "--llm", "extractive"))
        print(f"\ncold `rag-app query --llm extractive`, {args.runs} runs each, interleaved")
        print(f"| version | wall median (min) | peak RSS median | heavy imports |\n|---|---|---|---|")
        for name, rows in results.items():
            walls = [r[0] for r in rows]
            print(f"| {name} | {statistics.median(walls):.2f} s ({min(walls):.2f}) | "
                  f"{statistics.median(r[1] for r in rows):.0f} MiB | {imports[name]} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
