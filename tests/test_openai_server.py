"""The openai backend against a real OpenAI-compatible server: llama-cpp-python's, on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import DATA, free_port, http_ok, sealed_environ, stop_process, wait_until_up

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory):
    """``python -m llama_cpp.server`` serving SmolLM2-135M; its base URL (…/v1)."""
    pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server]")
    from chains.backends.local import default_model_path

    port = free_port()
    base_dir = tmp_path_factory.mktemp("llama-server")
    log = base_dir / "server.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path()),
             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "2"],
            stdout=sink, stderr=subprocess.STDOUT, cwd=base_dir, env=sealed_environ(base_dir / "home"),
        )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        wait_until_up(lambda: http_ok(f"{base}/models"), process, log, "llama_cpp.server", timeout=120, interval=0.3)
        yield base
    finally:
        stop_process(process)


def _cli(*argv: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rag_app", *argv], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


@pytest.fixture
def cli_env(env: Path, llama_server: str) -> dict[str, str]:
    """The env fixture's settings (in the sealed environment), for ``rag-app`` child processes using the llama server."""
    child = dict(os.environ, OPENAI_BASE_URL=llama_server, RAG_OPENAI_MODEL="smollm2-135m", RAG_MAX_TOKENS="48")
    assert _cli("reindex", str(DATA), cwd=env, env=child).returncode == 0
    return child


def test_query_and_stream_through_the_openai_backend(cli_env, tmp_path: Path):
    question = ["How long is the warranty on an aluminium frame?", "--llm", "openai", "--where", "source:*warranty.md", "--k", "2"]
    plain = _cli("query", *question, "--json", cwd=tmp_path, env=cli_env)
    assert plain.returncode == 0, plain.stderr
    answer = json.loads(plain.stdout)
    assert answer["llm"] == "openai:smollm2-135m" and answer["answer"].strip()
    assert all(Path(s["source"]).name == "warranty.md" for s in answer["sources"])

    # llama.cpp reuses the previous request's cache, so greedy output may differ between two requests:
    # compare the streamed text with the answer of the same streamed request instead.
    streamed = _cli("query", *question, "--stream", "--json", cwd=tmp_path, env=cli_env)
    assert streamed.returncode == 0, streamed.stderr
    result = json.loads(streamed.stdout)
    assert result["llm"] == "openai:smollm2-135m" and result["answer"].strip()
    # this server sends no usage in a stream: counted with the model's tiktoken encoding instead
    assert result["usage"]["counted_by"] == "tiktoken:o200k_base" and result["usage"]["completion_tokens"] > 0
    shown = _cli("query", *question, "--stream", cwd=tmp_path, env=cli_env)
    assert shown.returncode == 0, shown.stderr
    text, _, sources = shown.stdout.partition("\n\nSources:")
    assert text.strip() and "warranty.md:" in sources


def test_server_side_context_length_error_is_one_line(cli_env, tmp_path: Path):
    big = tmp_path / "big"
    big.mkdir()
    (big / "long.txt").write_text("\n\n".join(f"Paragraph {i}: the frame number {i} was inspected and passed." * 8 for i in range(60)))
    env = dict(cli_env, RAG_N_CTX="32768", RAG_K="40", RAG_PERSIST_DIR=str(tmp_path / "big-idx"))
    assert _cli("reindex", str(big), cwd=tmp_path, env=env).returncode == 0
    # Our budget believes RAG_N_CTX (32768); the server's window is 2048 and it says so.
    result = _cli("query", "Tell me everything", "--llm", "openai", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "context window" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_provider_by_name_through_init_chat_model(cli_env, tmp_path: Path):
    """``deepseek:MODEL`` is not one of ours: LangChain's init_chat_model builds ChatDeepSeek,
    which reads DEEPSEEK_API_BASE / DEEPSEEK_API_KEY itself and speaks the OpenAI protocol."""
    pytest.importorskip("langchain_deepseek")
    env = dict(cli_env, DEEPSEEK_API_BASE=cli_env["OPENAI_BASE_URL"], DEEPSEEK_API_KEY="sk-local")
    result = _cli("query", "How long is the warranty on an aluminium frame?", "--llm", "deepseek:smollm2-135m",
                  "--k", "2", "--json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["llm"] == "deepseek:smollm2-135m" and answer["sources"]
    assert answer["usage"]["counted_by"] == "provider" and answer["usage"]["completion_tokens"] > 0
