"""Tests are sealed from the environment: no .env, no RAG_*/OPENAI_*/CHROMA_* leaks, temp paths.

The shared fixtures live here; the plain helpers they use (and helper modules use) in helpers.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from helpers import DATA, Cli, is_sealed, pythonpath


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "env(**variables): more settings for the env fixture (module or test)")


@pytest.fixture(autouse=True)
def sealed_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    for name in list(os.environ):
        if is_sealed(name):
            monkeypatch.delenv(name, raising=False)
    # Child processes inherit this environment: they must run this checkout's code too.
    monkeypatch.setenv("PYTHONPATH", pythonpath())
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    # One shared tiktoken cache per test session, filled from the shipped files.
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "tiktoken"))
    return work


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A private copy of data/ the test may edit."""
    target = tmp_path / "corpus"
    shutil.copytree(DATA, target)
    return target


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """Settings for the CLI run in this process: a temp index and fake embeddings; the test's tmp_path.

    More settings (``RAG_LLM``, ...) come from an ``env`` mark on the test or its module:
    ``pytestmark = pytest.mark.env(RAG_LLM="extractive")``.
    """
    values = {"RAG_PERSIST_DIR": str(tmp_path / "index"), "RAG_EMBEDDINGS": "fake"}
    for mark in reversed(list(request.node.iter_markers("env"))):  # module first, the test's own last
        values.update(mark.kwargs)
    for name, value in values.items():
        monkeypatch.setenv(name, str(value))
    return tmp_path


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``cli(*argv, code=None)``: the rag-app command in this process; ``cli.json(*argv)`` parses its output."""
    return Cli(capsys)


@pytest.fixture
def app_store() -> Callable[[str], dict[str, Any]]:
    """Where ``make_app``'s indexes live, per persist dir: embedded Chroma. Modules override it."""
    return lambda persist_dir: {}


@pytest.fixture
def make_app(tmp_path: Path, app_store: Callable[[str], dict[str, Any]]):
    """``make_app(**overrides)``: a RagApp on fake embeddings and a temp index."""
    from rag_app import RagApp, Settings

    apps = []

    def factory(**overrides):
        persist = overrides.pop("persist_dir", str(tmp_path / "index"))
        values = {"persist_dir": persist, "embeddings": "fake", "llm": "fake", **app_store(persist)}
        values.update(overrides)
        app = RagApp(Settings(), **values)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.close()


@pytest.fixture
def stub_server():
    """``stub_server(completion=..., usage=...)``: a started StubServer, shut down after the test."""
    from http_stub import StubServer

    servers = []

    def start(**options: Any) -> StubServer:
        server = StubServer(**options).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()
