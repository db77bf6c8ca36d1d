"""Peak memory (max RSS) of a reindex process and of query processes, each a fresh `rag-app`.

    python bench/memory.py                      # python_faq corpus, extractive and local queries
    python bench/memory.py --corpus squad_expmrc --skip-local
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import ROOT, corpus_dir, machine

WRAP = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE);"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode, r.stderr.decode()[-300:].replace(chr(10), ' '))"
)


def peak(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Max RSS in MiB of ``argv`` run alone (its own parent process, so nothing else counts)."""
    # cwd: not a checkout (`python -m` puts the cwd first on sys.path)
    out = subprocess.run([sys.executable, "-c", WRAP, *argv], capture_output=True, text=True, env=env, check=True,
                         cwd=tempfile.gettempdir()).stdout
    kib, code, err = out.split(" ", 2)
    return int(kib) / 1024, ("" if code == "0" else f"exit {code}: {err.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="python_faq")
    parser.add_argument("--skip-local", action="store_true", help="no query with the local SmolLM2 model")
    parser.add_argument("--code", default=str(ROOT), help="the rag-app checkout to measure (e.g. a baseline)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-mem-"))
    env = {**os.environ, "PYTHONPATH": args.code, "RAG_PERSIST_DIR": str(tmp / "index"), "RAG_LEDGER": "0"}
    app = [sys.executable, "-m", "rag_app"]
    print(f"{machine()}\ncode: {args.code}")
    try:
        rows = [("reindex " + args.corpus, app + ["reindex", str(corpus_dir(args.corpus))])]
        question = "How do I make a global variable visible in a function?"
        rows.append(("query --llm extractive", app + ["query", question, "--llm", "extractive"]))
        if not args.skip_local:
            rows.append(("query --llm local (SmolLM2-135M)", app + ["query", question, "--llm", "local"]))
        rows.append(("--help", app + ["--help"]))
        for name, argv in rows:
            mib, problem = peak(argv, env)
            print(f"  {name:<40} peak RSS {mib:7.0f} MiB {problem}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
