"""Start-up times: `rag-app --help` and a cold `rag-app query` (a new process each run).

    python bench/startup.py              # 5 runs each, extractive; local with --local
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


def run_times(argv: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--local", action="store_true", help="also a cold query with the local model")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-start-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAG_PERSIST_DIR": str(tmp / "index"), "RAG_LEDGER": "0"}
    app = [sys.executable, "-m", "rag_app"]
    print(machine())
    try:
        subprocess.run(app + ["reindex", str(ROOT / "data")], env=env, check=True, capture_output=True)
        cases = [
            ("rag-app --help", app + ["--help"]),
            ("cold query --llm extractive", app + ["query", "How long is the warranty on an aluminium frame?", "--llm", "extractive"]),
        ]
        if args.local:
            cases.append(("cold query --llm local", app + ["query", "How long is the warranty on an aluminium frame?", "--llm", "local"]))
        for name, argv in cases:
            times = run_times(argv, env, args.runs)
            print(f"  {name:<32} median {statistics.median(times):6.2f} s   min {min(times):6.2f} s   ({args.runs} runs)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
