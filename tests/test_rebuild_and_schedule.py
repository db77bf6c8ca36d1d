from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag_app import ConfigError, IndexMismatch
from rag_app.store.index import ALIASES
from rag_app.cli.schedule import parse_interval, run_every


def _collections(app) -> set[str]:
    """This index's collections (a server may hold others)."""
    prefix = app.settings.collection
    names = {getattr(c, "name", c) for c in app.chroma_client(True).list_collections()} - {ALIASES}
    return {n for n in names if n == prefix or n.startswith(f"{prefix}--")}


def test_rebuild_switches_to_a_complete_new_collection(make_app, corpus: Path):
    old = make_app()
    old.reindex([corpus])
    old.close()
    changed = make_app(chunk_size=100, chunk_overlap=10)
    with pytest.raises(IndexMismatch, match="chunk_size 200 -> 100.*--rebuild"):
        changed.query("frame warranty")
    report = changed.reindex([corpus], rebuild=True)
    assert report.added == report.chunks > 0
    answer = changed.query("frame warranty")
    assert answer.sources
    names = _collections(changed)
    assert len(names) == 1 and next(iter(names)).startswith(f"{changed.settings.collection}--")
    # A second process with the new settings sees the switch; incremental runs continue on it.
    again = make_app(chunk_size=100, chunk_overlap=10)
    assert again.reindex([corpus]).unchanged == report.chunks


def test_an_interrupted_rebuild_leaves_the_old_index_serving(make_app, corpus: Path):
    app = make_app()
    app.reindex([corpus])
    before = {d.id for d in app.retrieve("battery", k=3)}
    index = app.vector_index()
    index.write_batch = 2

    def stop_after_first_batch(done: int, total: int) -> None:
        index.stop.set()  # (vectors come from the embedding cache: a progress hook, not the embedder)

    report = app.reindex([corpus], rebuild=True, progress=stop_after_first_batch)
    assert report.interrupted
    assert {d.id for d in app.retrieve("battery", k=3)} == before
    index.stop.clear()
    finished = app.reindex([corpus], rebuild=True)
    assert not finished.interrupted and len(_collections(app)) == 1


@pytest.mark.parametrize("text, seconds", [("15m", 900), ("30s", 30), ("1h30m", 5400), ("45", 45), ("2d", 172800)])
def test_parse_interval(text: str, seconds: float):
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "15x", "0s", "-5m"])
def test_bad_intervals_say_how_to_write_them(text: str):
    with pytest.raises(ConfigError, match="30s, 15m|at least 1 second"):
        parse_interval(text)


def test_run_every_logs_each_run_and_survives_errors(make_app, corpus: Path):
    app = make_app()
    out = io.StringIO()
    results = iter([lambda: app.reindex([corpus]), lambda: app.reindex([corpus / "missing"]), lambda: app.reindex([corpus])])
    run_every(0.01, lambda: next(results)(), app.stop, out=out, max_runs=3)
    lines = out.getvalue().splitlines()
    runs = [line for line in lines if " reindex files=" in line]
    assert len(runs) == 2 and "added=0" not in runs[0] and "added=0" in runs[1]
    assert any("error: " in line and "missing" in line for line in lines)
    assert lines[-1].endswith("stopped")


def test_every_runs_until_sigterm_and_exits_cleanly(tmp_path: Path, corpus: Path):
    env_file = tmp_path / "work" / ".env"
    env_file.write_text(f"RAG_PERSIST_DIR={tmp_path / 'idx'}\nRAG_EMBEDDINGS=fake\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag_app", "reindex", str(corpus), "--every", "1s"],
        cwd=tmp_path / "work", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        lines: list[str] = []
        while time.monotonic() < deadline and sum(" reindex files=" in line for line in lines) < 2:
            line = proc.stderr.readline()
            if line:
                lines.append(line)
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[1]
    finally:
        proc.kill()
    runs = [line for line in lines if " reindex files=" in line]
    assert len(runs) >= 2 and "added=0" in runs[1] and "unchanged=" in runs[1]
    assert proc.returncode == 0 and "stopped" in rest and "Traceback" not in rest
