"""Questions asked while the index is rebuilt — by the server's own job or by `reindex --rebuild`
in another process — are answered from the old index or the new one, never from half of one."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from serving import build_index, start_server

pytestmark = pytest.mark.slow

QUESTION = "How long is the warranty on an aluminium frame?"


def _ask_until(server, stop: threading.Event, answers: list) -> None:
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            response = client.post(f"{server.url}/query", json={"question": QUESTION})
            body = response.json()
            answers.append((response.status_code, len(body.get("sources", [])), body.get("answer", body)))


def test_questions_during_rebuilds_never_lose_their_sources(tmp_path: Path):
    work, env = build_index(tmp_path)
    server = start_server(work, env, "--llm", "extractive", "--quiet")
    answers: list = []
    stop = threading.Event()
    askers = [threading.Thread(target=_ask_until, args=(server, stop, answers)) for _ in range(4)]
    for asker in askers:
        asker.start()
    try:
        for _ in range(3):  # the server's own rebuild job
            job = httpx.post(f"{server.url}/reindex", json={"rebuild": True}, timeout=30).json()
            deadline = time.monotonic() + 300
            while httpx.get(f"{server.url}{job['url']}", timeout=10).json()["status"] not in ("done", "failed"):
                assert time.monotonic() < deadline
                time.sleep(0.1)
        rebuilt = subprocess.run([sys.executable, "-m", "rag_app", "reindex", "--rebuild"], cwd=work, env=env,
                                 capture_output=True, text=True, timeout=600)  # another process
        assert rebuilt.returncode == 0, rebuilt.stderr
        time.sleep(1.0)
    finally:
        stop.set()
        for asker in askers:
            asker.join(120)
        assert server.stop() == 0, server.output()[-2000:]
    assert len(answers) > 10
    bad = [a for a in answers if a[0] != 200 or a[1] == 0 or "10 years" not in str(a[2])]
    assert bad == [], f"{len(bad)} of {len(answers)} answers lost their sources: {bad[:3]}"
