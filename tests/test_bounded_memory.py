"""A first reindex streams: its memory is bounded by one group of files, not by the corpus.

A child process (fresh interpreter, its own peak RSS) indexes a generated corpus with
``fake:384`` embeddings. Its RSS high-water mark is read after a warm-up (every module
imported, the collection created) and after the reindex; the growth must stay under a cap
that holding the corpus (its chunks and vectors, ~15 KB per chunk) would exceed several times.
The same run with one group for the whole corpus shows the cap can fail.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import sealed_environ

pytestmark = pytest.mark.slow

CHUNKS = 6000
CAP_MB = 40

CHILD = """
import json, resource, sys
from pathlib import Path
from rag_app import RagApp, Settings

corpus, warm, index, group = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
app = RagApp(Settings(), persist_dir=index, embeddings="fake:384", chunk_size=40, chunk_overlap=0, ledger=False)
app.reindex([warm])
app.vector_index().group_chunks = group
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
report = app.reindex([corpus])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"chunks": report.chunks, "growth_mb": after - before}))
"""


def _corpus(root: Path) -> tuple[Path, Path]:
    rng = random.Random(7)
    words = [f"{a}{b}{c}" for a in "bcdfgklmnprst" for b in "aeiou" for c in "lmnrstx"]
    corpus, warm = root / "corpus", root / "warm"
    corpus.mkdir()
    warm.mkdir()
    (warm / "w.txt").write_text("A small file read first, so every module is imported before measuring.\n")
    per_file = 40
    for f in range(CHUNKS // per_file):
        paragraphs = (" ".join(rng.choices(words, k=20)) + "." for _ in range(per_file))
        (corpus / f"f{f:04d}.txt").write_text("\n\n".join(paragraphs) + "\n")
    return corpus, warm


def _run(tmp_path: Path, corpus: Path, warm: Path, group: int, name: str) -> dict:
    env = sealed_environ(tmp_path / "home")
    done = subprocess.run([sys.executable, "-c", CHILD, str(corpus), str(warm), str(tmp_path / name), str(group)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_first_reindex_grows_memory_by_one_group_not_by_the_corpus(tmp_path: Path):
    corpus, warm = _corpus(tmp_path)
    streamed = _run(tmp_path, corpus, warm, 500, "streamed")
    assert streamed["chunks"] >= CHUNKS
    whole = _run(tmp_path, corpus, warm, 10**9, "whole")  # the corpus as one group: what streaming avoids
    assert whole["chunks"] == streamed["chunks"]
    assert streamed["growth_mb"] < CAP_MB < whole["growth_mb"], (streamed, whole)
