"""The same index behaviour against a real `chroma run` server on a free loopback port."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port

# The scenarios of the embedded store, re-run here with the server fixture below.
from test_index import (  # noqa: F401
    test_a_crash_between_write_and_record_is_repaired,
    test_a_file_that_turns_bad_loses_its_stale_chunks,
    test_deleted_and_renamed_files_leave_no_orphans,
    test_editing_one_paragraph_reembeds_about_one_chunk,
    test_other_embeddings_or_chunking_need_a_rebuild,
    test_reindex_twice_changes_nothing_and_embeds_nothing,
)
from test_rebuild_and_schedule import test_rebuild_switches_to_a_complete_new_collection  # noqa: F401

pytestmark = pytest.mark.slow



@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if chroma is None:
        pytest.fail("the chroma CLI (shipped by the chromadb package) is not installed")
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = open(data / "server.log", "w")
    proc = subprocess.Popen([chroma, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"chroma server did not start: {(data / 'server.log').read_text()[-2000:]}")
            time.sleep(0.2)
    yield "127.0.0.1", port
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def make_app(tmp_path: Path, chroma_server):
    """Like the embedded fixture, but every index lives on the server (collection per persist dir)."""
    from rag_app import RagApp, Settings

    host, port = chroma_server
    apps = []

    def factory(**overrides):
        persist = overrides.pop("persist_dir", str(tmp_path / "index"))
        values = {
            "persist_dir": persist,
            "collection": "t-" + hashlib.sha1(persist.encode()).hexdigest()[:16],
            "embeddings": "fake",
            "llm": "fake",
            "chroma_host": host,
            "chroma_port": port,
        }
        values.update(overrides)
        app = RagApp(Settings(), **values)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.close()


def test_cli_against_the_server(chroma_server, corpus: Path, tmp_path: Path):
    host, port = chroma_server
    work = tmp_path / "work"
    (work / ".env").write_text(
        f"CHROMA_HOST={host}\nCHROMA_PORT={port}\nRAG_COLLECTION=cli-test\nRAG_EMBEDDINGS=fake\n"
        f"RAG_LLM=extractive\nRAG_PERSIST_DIR={tmp_path / 'state'}\n"
    )
    run = lambda *a: subprocess.run([sys.executable, "-m", "rag_app", *a], cwd=work, capture_output=True, text=True, timeout=120)  # noqa: E731
    first = json.loads(run("reindex", str(corpus), "--json").stdout)
    second = json.loads(run("reindex", str(corpus), "--json").stdout)
    assert first["added"] == first["chunks"] > 0 and second["unchanged"] == first["chunks"]
    answer = run("query", "error code E01 battery", "--json")
    assert answer.returncode == 0 and json.loads(answer.stdout)["sources"]
    assert not (tmp_path / "state" / "chroma.sqlite3").exists()  # the vectors live on the server


def test_unreachable_server_is_a_one_line_config_error(tmp_path: Path):
    work = tmp_path / "work"
    (work / ".env").write_text(f"CHROMA_HOST=127.0.0.1\nCHROMA_PORT={free_port()}\nRAG_EMBEDDINGS=fake\n")
    result = subprocess.run([sys.executable, "-m", "rag_app", "query", "x"], cwd=work, capture_output=True, text=True, timeout=60)
    assert result.returncode == 4 and "chroma run" in result.stderr and "Traceback" not in result.stderr
