"""`rag-app serve` under a flood of abandoned clients and a SIGTERM with requests queued.

The ``slow`` backend (an entry-point plugin written by :func:`serving.slow_plugin`)
stands in for llama.cpp: one answer at a time, each taking ``SLOW_SECONDS``, and a
log of which questions it started, so the tests see what ran and what never did.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from serving import Server, build_index, slow_plugin, start_server

pytestmark = pytest.mark.slow

QUESTION = "How long is the warranty on an aluminium frame?"


def _slow_server(tmp_path: Path, seconds: float, *argv: str) -> tuple[Server, Path]:
    work, env = build_index(tmp_path, embeddings="fake")
    log = tmp_path / "slow.log"
    env.update(SLOW_LOG=str(log), SLOW_SECONDS=str(seconds),
               PYTHONPATH=os.pathsep.join([env["PYTHONPATH"], str(slow_plugin(tmp_path))]))
    return start_server(work, env, "--models", "slow,extractive", "--quiet", *argv), log


def _chat(server: Server, question: str, model: str = "slow", timeout: float = 60, client: httpx.Client | None = None,
          **extra) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": question}], **extra}
    return (client or httpx).post(f"{server.url}/v1/chat/completions", json=body, timeout=timeout)


def _started(log: Path) -> list[str]:
    return [line[6:] for line in log.read_text().splitlines() if line.startswith("start ")] if log.exists() else []


def _wait(condition, limit: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"{what} not reached in {limit} s"
        time.sleep(0.05)


def _queue(server: Server) -> dict:
    return httpx.get(f"{server.url}/health", timeout=5).json()["queues"]["slow"]


def test_a_flood_of_abandoned_clients_neither_runs_nor_wedges(tmp_path: Path):
    server, log = _slow_server(tmp_path, 12.0, "--max-queue", "4")
    client = httpx.Client(limits=httpx.Limits(max_connections=100))
    try:
        holder = ThreadPoolExecutor(1).submit(_chat, server, "first question, the one that runs?")
        _wait(lambda: _started(log), what="the first generation")

        def abandon(number: int) -> httpx.Response | str:
            try:
                return _chat(server, f"abandoned question {number}?", timeout=3, client=client)
            except httpx.TimeoutException:
                return "gave up"

        with ThreadPoolExecutor(60) as pool:
            outcomes = list(pool.map(abandon, range(60)))
        # Four wait (the bound) until their clients give up; the rest are refused at once.
        refused = [r for r in outcomes if isinstance(r, httpx.Response)]
        assert outcomes.count("gave up") == 4 and len(refused) == 56, outcomes
        for response in refused:
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "queue_full"
            assert int(response.headers["Retry-After"]) >= 1

        # While the slow model is busy, the fast backend, /health and /stats answer at once.
        started = time.monotonic()
        fast = _chat(server, QUESTION, model="extractive", timeout=10)
        assert fast.status_code == 200 and fast.json()["sources"]
        assert httpx.get(f"{server.url}/stats", timeout=5).status_code == 200
        assert time.monotonic() - started < 5

        # The clients that gave up left the queue: nobody waits any more, though one still runs.
        _wait(lambda: _queue(server)["waiting"] == 0, 10, "an empty queue")
        assert holder.result(timeout=60).status_code == 200
        _wait(lambda: _queue(server)["admitted"] == 0, 10, "no request admitted")
        after = _chat(server, "and quickly after the flood?", timeout=60)
        assert after.status_code == 200 and "quickly after the flood" in after.json()["choices"][0]["message"]["content"]
    finally:
        client.close()
        assert server.stop() == 0, server.output()[-3000:]
    ran = _started(log)
    assert not [q for q in ran if q.startswith("abandoned")], ran  # no abandoned request was generated
    assert ran == ["first question, the one that runs?", "and quickly after the flood?"]
    assert "Traceback" not in server.output()


def test_sigterm_answers_queued_requests_503_cuts_the_running_one_and_exits_0(tmp_path: Path):
    server, log = _slow_server(tmp_path, 30.0, "--shutdown-timeout", "2")
    results: dict[str, httpx.Response] = {}

    def ask(name: str, **extra) -> None:
        results[name] = _chat(server, f"{name} question?", timeout=60, **extra)

    threads = [threading.Thread(target=ask, args=("running",))]
    threads[0].start()
    _wait(lambda: _started(log), what="the first generation")
    for name, extra in (("queued", {}), ("queued-too", {}), ("queued-stream", {"stream": True})):
        threads.append(threading.Thread(target=ask, args=(name,), kwargs=extra))
        threads[-1].start()
    _wait(lambda: _queue(server)["waiting"] == 3, 20, "three waiting")
    signalled = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(30)
    code = server.process.wait(timeout=30)
    took = time.monotonic() - signalled
    assert code == 0, server.output()[-3000:]
    assert took < 2 + 2, took  # the shutdown timeout plus a little
    for name in ("queued", "queued-too", "queued-stream"):
        response = results[name]
        assert response.status_code == 503 and response.headers["content-type"] == "application/json", response.text
        assert response.json()["error"]["code"] == "shutting_down"
    cut = results["running"]
    assert cut.status_code == 503 and cut.headers["content-type"] == "application/json", cut.text
    assert "--shutdown-timeout" in cut.json()["error"]["message"]
    assert _started(log) == ["running question?"]  # the queued ones never ran
    # The running generation stopped between two tokens at the deadline (it would take 30 s).
    assert "cut running question?" in log.read_text().splitlines()
    assert "rag-app serve: stopped" in server.output() and "Traceback" not in server.output()


def test_streaming_client_that_leaves_while_queued_never_runs(tmp_path: Path):
    server, log = _slow_server(tmp_path, 3.0)
    try:
        holder = ThreadPoolExecutor(1).submit(_chat, server, "holder question?")
        _wait(lambda: _started(log), what="the first generation")
        body = {"model": "slow", "stream": True, "messages": [{"role": "user", "content": "streamed then abandoned?"}]}
        with pytest.raises(httpx.TimeoutException):
            with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, timeout=1.0) as response:
                list(response.iter_lines())
        _wait(lambda: _queue(server)["waiting"] == 0, 10, "an empty queue")
        assert holder.result(timeout=30).status_code == 200
        streamed = _chat(server, "streamed quickly to the end?", stream=True)
        events = [line[6:] for line in streamed.text.splitlines() if line.startswith("data: ")]
        assert events[-1] == "[DONE]" and json.loads(events[-2])["sources"]
    finally:
        assert server.stop() == 0
    assert _started(log) == ["holder question?", "streamed quickly to the end?"]
