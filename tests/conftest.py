"""Tests are sealed from the environment: no .env, no RAG_*/OPENAI_*/CHROMA_* leaks, temp paths."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
EVALDATA = ROOT.parent / "shared" / "evaldata"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def sealed_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    for name in list(os.environ):
        if name.startswith(("RAG_", "OPENAI_", "CHROMA_", "AZURE_OPENAI", "OLLAMA_")):
            monkeypatch.delenv(name, raising=False)
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
def make_app(tmp_path: Path):
    """``make_app(**overrides)``: a RagApp on fake embeddings and a temp index."""
    from rag_app import RagApp, Settings

    apps = []

    def factory(**overrides):
        values = {"persist_dir": str(tmp_path / "index"), "embeddings": "fake", "llm": "fake"}
        values.update(overrides)
        app = RagApp(Settings(), **values)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.close()
