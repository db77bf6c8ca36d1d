"""Past one machine: against a real `chroma run` server, readers keep no local copy; one writer per collection.

Each client is a process of its own with its own RAG_PERSIST_DIR, as on separate machines.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import sealed_environ
from test_server_mode import chroma_server  # noqa: F401  (the module-scoped server fixture)

pytestmark = pytest.mark.slow

HOLD = """
import sys
from pathlib import Path
from rag_app import RagApp
app = RagApp.from_env(None)
index = app.vector_index(create=True)
with index.writing(Path(app.settings.persist_dir)):
    print("holding", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


def _env(server, tmp_path: Path, state: str, **extra: str) -> dict[str, str]:
    host, port = server
    values = {"CHROMA_HOST": host, "CHROMA_PORT": str(port), "RAG_COLLECTION": "shared", "RAG_EMBEDDINGS": "fake",
              "RAG_LLM": "extractive", "RAG_LEDGER": "false", "RAG_PERSIST_DIR": str(tmp_path / state)}
    return sealed_environ(tmp_path / "home", **{**values, **extra})


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rag_app", *args], env=env, capture_output=True, text=True, timeout=180)


def test_a_reader_on_another_machine_answers_from_the_server_and_keeps_no_copy(chroma_server, corpus: Path, tmp_path: Path):  # noqa: F811
    writer, reader = _env(chroma_server, tmp_path, "writer"), _env(chroma_server, tmp_path, "reader")
    assert _cli(writer, "reindex", str(corpus), "--json").returncode == 0
    first = _cli(reader, "query", "What does error code E01 mean?", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["sources"]
    (corpus / "quokka.txt").write_text("Quokkas are small marsupials living on Rottnest Island.\n")
    assert _cli(writer, "reindex", str(corpus), "--json").returncode == 0
    second = _cli(reader, "query", "quokkas small marsupials", "--json", "--k", "1")
    assert second.returncode == 0, second.stderr
    assert Path(json.loads(second.stdout)["sources"][0]["source"]).name == "quokka.txt"  # the writer's change, at once
    left = sorted(p.name for p in (tmp_path / "reader").rglob("*"))
    assert left == [], left  # no records, no vectors, no search side: nothing mirrored locally


def test_a_second_writer_is_detected_and_a_dead_writer_is_taken_over_by_its_own_machine(chroma_server, corpus: Path, tmp_path: Path):  # noqa: F811
    first, second = _env(chroma_server, tmp_path, "one", RAG_COLLECTION="leased"), _env(chroma_server, tmp_path, "two", RAG_COLLECTION="leased")
    holder = subprocess.Popen([sys.executable, "-c", HOLD], env=first, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"  # type: ignore[union-attr]
        busy = _cli(second, "reindex", str(corpus))
        assert busy.returncode == 3 and "Another writer" in busy.stderr and "Traceback" not in busy.stderr
        holder.stdin.write("\n")  # type: ignore[union-attr]
        holder.stdin.flush()  # type: ignore[union-attr]
        assert holder.stdout.readline().strip() == "released"  # type: ignore[union-attr]
        assert holder.wait(timeout=60) == 0
    finally:
        holder.kill()
    assert _cli(second, "reindex", str(corpus)).returncode == 0  # the lease was released: the next writer goes
    # A writer killed while holding the lease: others are refused, its own machine and directory take over.
    crashed = subprocess.Popen([sys.executable, "-c", HOLD], env=second, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert crashed.stdout.readline().strip() == "holding"  # type: ignore[union-attr]
    crashed.send_signal(signal.SIGKILL)
    crashed.wait(timeout=30)
    assert _cli(first, "reindex", str(corpus)).returncode == 3
    assert _cli(second, "reindex", str(corpus)).returncode == 0
