"""Real processes: graceful SIGTERM with a request in flight, start-up errors, `reindex --watch`."""

from __future__ import annotations

import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from serving import build_index, child_env, start_server

pytestmark = pytest.mark.slow


def test_sigterm_finishes_the_request_in_flight_then_exits_0(tmp_path: Path, stub_server):
    from http_stub import Reply

    work, env = build_index(tmp_path, embeddings="fake")
    stub = stub_server(completion="The frames are covered for 10 years [1].")
    stub.plan.append(Reply(delay=3.0))  # a slow model: the answer is still being generated at SIGTERM
    env.update(OPENAI_BASE_URL=stub.url + "/v1", OPENAI_API_KEY="stub-key", RAG_UNSUPPORTED="flag")
    server = start_server(work, env, "--llm", "openai", "--quiet")
    result: dict = {}

    def ask() -> None:
        response = httpx.post(f"{server.url}/query", json={"question": "How long is the frame warranty?"}, timeout=120)
        result["status"], result["body"] = response.status_code, response.json()

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        deadline = time.monotonic() + 60
        while not any(path.endswith("/chat/completions") for _, path, _ in stub.requests):
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.01)
        server.process.send_signal(signal.SIGTERM)
        asker.join(120)
        assert server.process.wait(timeout=60) == 0, server.output()
    finally:
        server.stop()
    assert result["status"] == 200, result
    assert result["body"]["answer"].startswith("The frames are covered for 10 years")
    assert result["body"]["sources"]
    assert "rag-app serve: stopped" in server.output()


def test_the_local_model_answers_concurrent_requests_in_turn(tmp_path: Path):
    from concurrent.futures import ThreadPoolExecutor

    work, env = build_index(tmp_path, embeddings="fake")
    server = start_server(work, env, "--llm", "local", "--quiet")
    body = {"model": "local", "messages": [{"role": "user", "content": "How long is the warranty on an aluminium frame?"}]}

    def plain(_: int) -> dict:
        response = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=300)
        assert response.status_code == 200, response.text
        return response.json()

    def streamed(_: int) -> list[str]:
        with httpx.stream("POST", f"{server.url}/v1/chat/completions", json={**body, "stream": True}, timeout=300) as r:
            return [line for line in r.iter_lines() if line.startswith("data: ")]

    try:
        with ThreadPoolExecutor(4) as pool:  # four requests at once: two plain, two streamed
            futures = [pool.submit(plain, 0), pool.submit(streamed, 0), pool.submit(plain, 1), pool.submit(streamed, 1)]
            answers = [futures[0].result(), futures[2].result()]
            events = [futures[1].result(), futures[3].result()]
        assert server.process.poll() is None, server.output()
    finally:
        server.stop()
    for answer in answers:
        assert answer["model"] == "local" and answer["choices"][0]["message"]["content"] and answer["sources"]
    for stream in events:
        assert stream[-1] == "data: [DONE]" and '"sources"' in stream[-2]


def _serve_fails(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    work, env = build_index(tmp_path, embeddings="fake")
    return subprocess.run(
        [sys.executable, "-m", "rag_app", "serve", *argv], cwd=work, env=env, capture_output=True, text=True, timeout=300
    )


def test_start_up_mistakes_are_one_line_errors(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = _serve_fails(tmp_path, "--llm", "extractive", "--port", str(port))
    assert busy.returncode == 4
    assert busy.stderr.strip().splitlines()[-1].startswith(f"error: Cannot listen on 127.0.0.1:{port}")
    assert "Traceback" not in busy.stderr
    unknown = _serve_fails(tmp_path, "--llm", "extractive", "--models", "extractive,nonesuch")
    assert unknown.returncode == 1
    assert "nonesuch" in unknown.stderr and "Traceback" not in unknown.stderr


class _Lines:
    """A child's stderr, line by line, with a timeout on each wait."""

    def __init__(self, stream) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=lambda: [self.queue.put(line) for line in stream], daemon=True).start()

    def until(self, predicate, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.queue.get(timeout=0.5)
            except queue.Empty:
                continue
            self.seen.append(line)
            if predicate(line):
                return line
        raise AssertionError("never saw the line; got:\n" + "".join(self.seen))


def test_reindex_watch_picks_up_an_edit_and_stops_cleanly(tmp_path: Path):
    from rag_app import RagApp, Settings

    work, env = build_index(tmp_path, embeddings="fake")
    corpus = Path(env["RAG_DATA"])
    process = subprocess.Popen(
        [sys.executable, "-m", "rag_app", "reindex", "--watch", str(corpus), "--debounce", "0.3"],
        cwd=work, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )
    lines = _Lines(process.stderr)
    try:
        first = lines.until(lambda line: " reindex files=" in line)
        assert "added=0 updated=0 deleted=0" in first  # the index was already up to date
        (corpus / "winter.md").write_text("# Winter\n\nStore the zebracorn saddle indoors when it freezes.\n")
        changed = lines.until(lambda line: " reindex files=" in line)
        assert "files=7" in changed and "added=1" in changed
        (corpus / "winter.md").unlink()
        removed = lines.until(lambda line: " reindex files=" in line)
        assert "files=6" in removed and "deleted=1" in removed
        (corpus / "winter.md").write_text("# Winter\n\nStore the zebracorn saddle indoors when it freezes.\n")
        lines.until(lambda line: "added=1" in line)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        lines.until(lambda line: line.rstrip().endswith(" stopped"))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    app = RagApp(Settings(), persist_dir=env["RAG_PERSIST_DIR"], embeddings="fake")
    try:
        found = app.retrieve("zebracorn saddle", k=1)
        assert found[0].metadata["source"].endswith("winter.md")
    finally:
        app.close()


def test_watch_needs_an_existing_path(tmp_path: Path):
    done = subprocess.run(
        [sys.executable, "-m", "rag_app", "reindex", "--watch", str(tmp_path / "nope")],
        cwd=tmp_path, env=child_env(tmp_path, RAG_PERSIST_DIR=str(tmp_path / "idx")), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 4 and "Cannot watch" in done.stderr and "Traceback" not in done.stderr
