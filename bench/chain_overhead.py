"""Warm per-query latency of ``RagApp.query`` (extractive and local), for comparing two checkouts.

    python bench/chain_overhead.py [--root CHECKOUT] [--queries 20] [--backends fake,extractive,local] [--search vector]

Indexes data/ once (MiniLM) into a temp dir, warms each backend with one query, then prints the
median wall time of ``--queries`` queries per backend, as JSON. Run it for two checkouts in
turns (A B A B) on the same machine to compare: ``--root`` picks the code under test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent))
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--backends", default="fake,extractive,local")
    parser.add_argument("--search", default="vector", help="search mode for both checkouts (the default changed)")
    args = parser.parse_args()
    root = Path(args.root).resolve()
    from common import SAMPLE_QUESTIONS as QUESTIONS

    sys.path.insert(0, str(root))  # after common's own insert: the code under test wins
    from rag_app import RagApp, Settings

    out: dict[str, float] = {}
    written: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        app = RagApp(Settings(), persist_dir=str(Path(tmp) / "idx"), ledger=False, search=args.search)
        app.reindex([root / "data"])
        for backend in args.backends.split(","):
            app.query(QUESTIONS[0], llm=backend)  # load the model outside the timings
            times, tokens = [], []
            for i in range(args.queries):
                started = time.perf_counter()
                answer = app.query(QUESTIONS[i % len(QUESTIONS)], llm=backend)
                times.append((time.perf_counter() - started) * 1000)
                tokens.append(answer.usage.get("completion_tokens", 0) if answer.usage else 0)
            out[backend] = round(statistics.median(times), 2)
            written[backend] = round(statistics.mean(tokens), 1)
    print(json.dumps({"root": root.name, "median_ms": out, "mean_completion_tokens": written}))


if __name__ == "__main__":
    main()
