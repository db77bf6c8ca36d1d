"""LLM/embedding registries and the network backends, over real sockets on loopback."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from chains.support import strip_markers

from chains import MissingDependency, available_llms, create_llm
from helpers import ROOT, bare_environ, free_port
from http_stub import Reply, StubServer
from rag_app import LLMError

#: Every backend the README documents, and the extra that installs it.
DOCUMENTED = {"local": None, "extractive": None, "openai": "openai", "azure": "openai", "ollama": "ollama", "hf": "hf", "fake": None}


@pytest.fixture
def stub(stub_server) -> StubServer:
    return stub_server()



# --- the registry --------------------------------------------------------------------------

def test_readme_documents_exactly_the_pinned_backends():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Backends", 1)[1].split("\n\n", 2)[1]
    names = re.findall(r"^\| `(\w+)`", table, flags=re.M)
    assert sorted(names) == sorted(DOCUMENTED)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_every_documented_backend_is_registered_with_a_description(name):
    """With the test extras installed every documented backend is there; what a missing package
    says is tested below, one package at a time."""
    described = available_llms()
    assert name in described and described[name].strip()


@pytest.mark.parametrize("name, options, label", [
    ("extractive", {}, "extractive"),
    ("fake", {}, "fake"),
    ("openai", {"api_key": "sk-test"}, "openai:gpt-4o-mini"),
    ("azure", {"api_key": "k", "extra": {"endpoint": "https://x.openai.azure.com", "deployment": "dep"}}, "azure:dep"),
    ("ollama", {"extra": {"base_url": "http://127.0.0.1:1"}}, "ollama:llama3.2"),
])
def test_documented_backends_are_langchain_runnables(name, options, label):
    """No network is touched: creating a model only configures its client."""
    from langchain_core.language_models import BaseChatModel

    from chains import AnswerBackend, BackendOptions

    llm = create_llm(name, BackendOptions(**options))
    assert llm.label == label
    assert isinstance(llm.chat_model, BaseChatModel) or isinstance(llm.backend, AnswerBackend)


@pytest.mark.parametrize("name, module, extra", [("openai", "langchain_openai", "openai"), ("azure", "langchain_openai", "openai"), ("ollama", "langchain_ollama", "ollama")])
def test_a_missing_optional_package_is_a_one_line_install_hint(name, module, extra, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # what `import` sees when the package is absent
    with pytest.raises(MissingDependency) as info:
        create_llm(name)
    message = str(info.value)
    assert f"pip install 'rag-app[{extra}]'" in message and "\n" not in message


def test_missing_embedding_package_names_the_extra(make_app, monkeypatch):
    monkeypatch.setitem(sys.modules, "langchain_ollama", None)
    from rag_app import ConfigError

    with pytest.raises(ConfigError, match=r"pip install 'rag-app\[ollama\]'"):
        make_app(embeddings="ollama:nomic-embed-text").embedder


def test_entry_point_plugins_register_an_llm_and_embeddings(tmp_path: Path, corpus: Path):
    """A third-party package, found through its dist-info like any installed one."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "rag_echo_plugin.py").write_text(textwrap.dedent('''
        from chains import AnswerBackend, register_llm
        from rag_app.embeddings import FakeEmbedder, register_embeddings

        class Echo(AnswerBackend):
            name = "echo"
            def answer(self, question, documents):
                return f"ECHO {question} ({len(documents)} passages)"

        @register_llm("echo", description="Echoes the question.")
        def make_echo(options):
            return Echo()

        @register_embeddings("plugin-bow")
        def make_bow(model):
            return FakeEmbedder(32)
    '''))
    dist = site / "rag_echo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rag-echo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[rag_app.llms]\necho = rag_echo_plugin\n\n[rag_app.embeddings]\nplugin-bow = rag_echo_plugin\n")
    script = (
        "from rag_app.cli.main import main\n"
        f"assert main(['reindex', {str(corpus)!r}, '--embeddings', 'plugin-bow']) == 0\n"
        "raise SystemExit(main(['query', 'frame warranty', '--llm', 'echo', '--embeddings', 'plugin-bow']))\n"
    )
    env = bare_environ(tmp_path, PYTHONPATH=f"{ROOT}:{site}", RAG_PERSIST_DIR=str(tmp_path / "idx"))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ECHO frame warranty (4 passages)" in result.stdout and "Sources:" in result.stdout


# --- openai: errors, retries and streaming against a local server --------------------------

def openai_app(make_app, url: str, **overrides):
    values = dict(llm="openai", openai_base_url=f"{url}/v1", openai_api_key="sk-test", max_retries=2, retry_backoff=0.01, request_timeout=5.0)
    values.update(overrides)
    return make_app(**values)


@pytest.fixture
def indexed(make_app, corpus):
    make_app().reindex([corpus])
    return corpus


def chat_requests(stub: StubServer) -> int:
    return sum(p.endswith("/chat/completions") for p in stub.paths())


@pytest.mark.parametrize(
    "replies, message, attempts",
    [
        ([Reply(401, {"error": {"message": "Incorrect API key", "type": "invalid_request_error"}})], "rejected the API key (401): check OPENAI_API_KEY", 1),
        ([Reply(404, {"error": {"message": "The model does not exist", "type": "invalid_request_error"}})], "Model 'gpt-4o-mini' not found", 1),
        ([Reply(429, {"error": {"message": "slow down"}})] * 3, "Rate limited by http://127.0.0.1", 3),
        ([Reply(500, {"error": {"message": "boom"}})] * 3, "failed with HTTP 500 after 3 attempts", 3),
        (
            [Reply(400, {"error": {"message": "This model's maximum context length is 2048 tokens. However, you requested 4000 tokens.", "code": "context_length_exceeded"}})],
            "longer than gpt-4o-mini's context window",
            1,
        ),
    ],
)
def test_http_errors_are_one_line_and_only_transient_ones_are_retried(make_app, indexed, stub, replies, message, attempts):
    stub.plan = list(replies)
    app = openai_app(make_app, stub.url)
    with pytest.raises(LLMError) as info:
        app.query("How long is the frame warranty?")
    assert message in str(info.value) and "\n" not in str(info.value)
    assert chat_requests(stub) == attempts


def test_transient_errors_are_retried_with_exponential_backoff_then_succeed(make_app, indexed, stub):
    stub.plan = [Reply(503, {"error": {"message": "busy"}}), Reply(429, {"error": {"message": "slow"}})]
    app = openai_app(make_app, stub.url, retry_backoff=0.2)
    started = time.perf_counter()
    answer = app.query("How long is the frame warranty?")
    elapsed = time.perf_counter() - started
    assert answer.answer == strip_markers(stub.completion) and chat_requests(stub) == 3
    assert elapsed >= 0.2 + 0.4  # waited backoff, then twice that


def test_a_slow_server_times_out_with_the_url_and_the_setting(make_app, indexed, stub):
    stub.plan = [Reply(delay=3.0)] * 2
    app = openai_app(make_app, stub.url, request_timeout=0.3, max_retries=1)
    with pytest.raises(LLMError, match=r"did not answer within 0.3s \(after 2 attempts\): raise RAG_TIMEOUT"):
        app.query("frame warranty")
    assert chat_requests(stub) == 2


def test_an_unreachable_server_is_named(make_app, indexed):
    url = f"http://127.0.0.1:{free_port()}"
    app = openai_app(make_app, url, max_retries=1)
    with pytest.raises(LLMError, match=rf"Cannot reach {re.escape(url)}/v1 \(after 2 attempts\)"):
        app.query("frame warranty")


def test_cli_prints_the_network_error_as_one_line(indexed, stub, env, monkeypatch, cli):
    stub.plan = [Reply(401, {"error": {"message": "bad key"}})]
    monkeypatch.setenv("OPENAI_BASE_URL", f"{stub.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    code, _, err = cli("query", "frame warranty", "--llm", "openai")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "401" in err and "Traceback" not in err


def test_openai_streams_over_sse(make_app, indexed, stub):
    app = openai_app(make_app, stub.url)
    streaming = app.stream("How long is the frame warranty?")
    pieces = list(streaming)
    assert len(pieces) >= len(stub.completion.split()) - 1 > 1  # the model's own [1] is not shown
    assert streaming.result is not None and streaming.result.answer == strip_markers(stub.completion)
    body = stub.requests[-1][2]
    assert body["stream"] is True and "frame" in body["messages"][-1]["content"]


def test_azure_calls_the_deployment_with_the_api_version(make_app, indexed, stub):
    app = make_app(llm="azure", azure_endpoint=stub.url, azure_api_key="az-key", azure_deployment="chat-dep", openai_api_version="2024-10-21")
    answer = app.query("frame warranty")
    method, path, body = stub.requests[-1]
    assert answer.answer == strip_markers(stub.completion) and answer.llm == "azure:chat-dep"
    assert path == "/openai/deployments/chat-dep/chat/completions?api-version=2024-10-21"


def test_azure_without_settings_names_them(make_app):
    with pytest.raises(LLMError, match="AZURE_OPENAI_ENDPOINT, AZURE_OPENAI_API_KEY, AZURE_OPENAI_DEPLOYMENT"):
        make_app(llm="azure").llm()


def test_ollama_answers_and_streams_through_its_http_api(make_app, indexed, stub):
    app = make_app(llm="ollama:tiny", ollama_base_url=stub.url)
    answer = app.query("frame warranty")
    assert answer.answer == strip_markers(stub.completion) and answer.llm == "ollama:tiny"
    assert stub.paths()[-1] == "/api/chat" and stub.requests[-1][2]["model"] == "tiny"
    pieces = list(app.stream("frame warranty"))
    assert "".join(pieces) == strip_markers(stub.completion) and len(pieces) > 1


def test_ollama_errors_say_what_to_do(make_app, indexed, stub):
    stub.plan = [Reply(404, {"error": "model 'tiny' not found"})]
    with pytest.raises(LLMError, match=r"ollama pull tiny"):
        make_app(llm="ollama:tiny", ollama_base_url=stub.url).query("frame warranty")
    with pytest.raises(LLMError, match=r"Cannot reach Ollama at http://127.0.0.1"):
        make_app(llm="ollama:tiny", ollama_base_url=f"http://127.0.0.1:{free_port()}").query("frame warranty")


# --- remote embeddings ---------------------------------------------------------------------

@pytest.mark.parametrize("spec, path", [("openai:stub-embed", "/v1/embeddings"), ("ollama:nomic-embed-text", "/api/embed")])
def test_remote_embeddings_index_and_answer(make_app, corpus, stub, spec, path):
    app = make_app(embeddings=spec, openai_base_url=f"{stub.url}/v1", ollama_base_url=stub.url, llm="extractive")
    report = app.reindex([corpus])
    assert report.chunks > 0 and app.embedder.identity == spec
    answer = app.query("How long is the warranty on an aluminium frame?")
    assert answer.sources and path in stub.paths()
    embedded = sum(len(b.get("input") or []) for _, p, b in stub.requests if p.startswith(path))
    assert embedded >= report.chunks  # every chunk went over the wire once (plus probe and query)
    before = len(stub.requests)
    again = app.reindex([corpus])
    assert again.added == 0 and len(stub.requests) == before  # unchanged chunks are not embedded again
