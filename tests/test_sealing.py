"""The tests' own guard: nothing from the developer's shell reaches rag-app, in this process or a child."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import ROOT, sealed_environ


def test_a_test_sees_no_settings_and_its_children_run_this_checkout(tmp_path: Path):
    assert not [name for name in os.environ if name.startswith(("RAG_", "OPENAI_", "CHROMA_", "AZURE_OPENAI", "OLLAMA_"))]
    assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)
    child = subprocess.run([sys.executable, "-c", "import rag_app; print(rag_app.__file__)"],
                           capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert Path(child.stdout.strip()).parent.parent == ROOT


def test_server_fixtures_get_a_sealed_environment_even_before_the_per_test_sealing(monkeypatch, tmp_path: Path):
    # what a session-scoped fixture sees: the shell's variables, not yet removed
    for name in ("RAG_LLM", "OPENAI_API_KEY", "CHROMA_HOST", "AZURE_OPENAI_ENDPOINT", "OLLAMA_HOST"):
        monkeypatch.setenv(name, "from-the-shell")
    env = sealed_environ(tmp_path / "home", RAG_EMBEDDINGS="fake")
    assert not [name for name, value in env.items() if value == "from-the-shell"]
    assert env["RAG_EMBEDDINGS"] == "fake" and env["HOME"] == str(tmp_path / "home")
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT)
