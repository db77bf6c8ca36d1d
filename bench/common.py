"""Helpers shared by the benchmark scripts: where the real text lives, how to time things.

Run every script from the repository root, e.g. ``python bench/indexing.py``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
EVALDATA = Path(os.environ.get("RAG_EVALDATA", ROOT.parent / "shared" / "evaldata"))
sys.path.insert(0, str(ROOT))  # run the code of this checkout


#: Questions about data/ that the latency benchmarks ask in turn.
SAMPLE_QUESTIONS = [
    "How long is the warranty on an aluminium frame?",
    "What does error code E01 mean?",
    "How long does a full charge take?",
    "How should the battery be stored over winter?",
    "Which service centres are open on Saturday?",
]


def corpus_dir(name: str) -> Path:
    path = EVALDATA / name / "corpus"
    if not path.is_dir():
        raise SystemExit(f"{path} not found: set RAG_EVALDATA to the directory holding squad_expmrc/ and python_faq/")
    return path


def questions(name: str, limit: int) -> list[str]:
    import json

    lines = (EVALDATA / name / "qa.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines[:limit]]


def load_chunk_files(paths: list[Path], chunk_size: int = 200, overlap: int = 30):
    """The app's own chunks (same splitter, same ids) for ``paths``."""
    from loaders import SplitConfig, load_chunks

    split = SplitConfig(chunk_size, overlap)
    return [c for p in paths for c in load_chunks(p, split)]


def pick_files(directory: Path, max_chunks: int) -> list[Path]:
    """Files of ``directory`` in name order until they hold about ``max_chunks`` chunks."""
    chosen, total = [], 0
    for path in sorted(p for p in directory.iterdir() if p.is_file()):
        n = len(load_chunk_files([path]))
        if chosen and total + n > max_chunks:
            break
        chosen.append(path)
        total += n
    return chosen


def pcts(values_ms: list[float]) -> str:
    data = sorted(values_ms)
    p50 = statistics.median(data)
    p95 = data[min(len(data) - 1, round(0.95 * (len(data) - 1)))]
    return f"p50 {p50:7.1f} ms  p95 {p95:7.1f} ms"


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def machine() -> str:
    import platform

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
