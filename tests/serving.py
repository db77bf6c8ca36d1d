"""Start a real ``rag-app serve`` process on a free loopback port, for the serve and web-page tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from helpers import DATA, free_port, sealed_environ, stop_process, wait_until_up


def child_env(base: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process: sealed like the tests, running this tree's code, HOME in ``base``."""
    return sealed_environ(base / "home", **extra)


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    work: Path
    env: dict[str, str]
    key: str | None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        return stop_process(self.process, timeout=60)


def build_index(base: Path, embeddings: str = "minilm") -> tuple[Path, dict[str, str]]:
    """A private copy of data/ indexed into ``base/idx``; the work dir and env to serve it."""
    corpus = base / "corpus"
    if not corpus.exists():
        shutil.copytree(DATA, corpus)
    work = base / "work"
    work.mkdir(exist_ok=True)
    env = child_env(base, RAG_PERSIST_DIR=str(base / "idx"), RAG_DATA=str(corpus), RAG_EMBEDDINGS=embeddings)
    done = subprocess.run(
        [sys.executable, "-m", "rag_app", "reindex"], cwd=work, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return work, env


def start_server(work: Path, env: dict[str, str], *argv: str, key: str | None = None, timeout: float = 180) -> Server:
    """``rag-app serve`` on a free port, once ``/health`` answers."""
    port = free_port()
    log = work / f"serve-{port}.log"
    env = dict(env)
    if key:
        env["RAG_API_KEY"] = key
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "rag_app", "serve", "--port", str(port), *argv],
            cwd=work, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log, work, env, key)

    def healthy() -> bool:
        try:
            return httpx.get(f"{server.url}/health", headers=server.headers(), timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until_up(healthy, process, log, "rag-app serve", timeout)
    return server


SLOW_PLUGIN = '''"""``slow``: a stand-in for llama.cpp in a server: one answer takes SLOW_SECONDS (0.1 s when the
question says "quickly"), and each
generation's start and end are appended to SLOW_LOG (so a test sees which requests ran)."""
import os
import time

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from chains.llm import LLM
from chains.queueing import CANCEL, Cancelled
from chains.registry import register_llm

TOKEN_S = 0.05


def _seconds(question):
    return 0.1 if "quickly" in question else float(os.environ.get("SLOW_SECONDS", "2"))


def _log(line):
    with open(os.environ["SLOW_LOG"], "a") as f:
        f.write(line + "\\n")


def _question(messages):
    text = messages[-1].text
    return text.rsplit("Question:", 1)[-1].strip().splitlines()[0]


class SlowChat(BaseChatModel):
    @property
    def _llm_type(self):
        return "slow"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        # Token by token, like llama.cpp: between tokens, the request's cancel event (set when
        # its client left or the server's --shutdown-timeout passed) ends the generation.
        question = _question(messages)
        _log("start " + question)
        ends = time.monotonic() + _seconds(question)
        while time.monotonic() < ends:
            time.sleep(min(TOKEN_S, max(0.0, ends - time.monotonic())))
            cancel = CANCEL.get()
            if cancel is not None and cancel.is_set():
                _log("cut " + question)
                raise Cancelled("cut between tokens")
        _log("end " + question)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="Slowly: " + question))])

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        question = _question(messages)
        _log("start " + question)
        words = ("Slowly: " + question).split(" ")
        for i, word in enumerate(words):
            time.sleep(_seconds(question) / len(words))
            yield ChatGenerationChunk(message=AIMessageChunk(content=word if i == 0 else " " + word))
        _log("end " + question)


@register_llm("slow", description="test backend: slow, one at a time")
def _slow(options):
    return LLM(label="slow", chat_model=SlowChat(), provider="slow", billing="free")
'''


def slow_plugin(base: Path) -> Path:
    """A directory to put on PYTHONPATH: the ``slow`` backend, installed as an entry-point plugin."""
    site = base / "plugin"
    info = site / "slowprobe-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (site / "slowprobe.py").write_text(SLOW_PLUGIN)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: slowprobe\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[rag_app.llms]\nslow = slowprobe\n")
    return site
