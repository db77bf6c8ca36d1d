"""The same index behaviour against a real `chroma run` server on a free loopback port."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import free_port, http_ok, sealed_environ, stop_process, wait_until_up

# The scenarios of the embedded store, re-run here with the server fixture below.
from test_index import (  # noqa: F401
    test_a_crash_between_write_and_record_is_repaired,
    test_a_file_that_turns_bad_keeps_its_chunks_with_a_warning,
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
    log = data / "server.log"
    with open(log, "w") as sink:
        proc = subprocess.Popen([chroma, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
                                stdout=sink, stderr=subprocess.STDOUT, cwd=data, env=sealed_environ(data / "home"))
    try:
        wait_until_up(lambda: http_ok(f"http://127.0.0.1:{port}/api/v2/heartbeat"), proc, log, "chroma server", timeout=60)
        yield "127.0.0.1", port
    finally:
        stop_process(proc)


@pytest.fixture
def app_store(chroma_server):
    """make_app (conftest) with every index on the server: one collection per persist dir."""
    host, port = chroma_server
    return lambda persist_dir: {
        "collection": "t-" + hashlib.sha1(persist_dir.encode()).hexdigest()[:16],
        "chroma_host": host,
        "chroma_port": port,
    }


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
