"""LangChain's own standard test suites (``langchain-tests``) on every LangChain part we ship.

Each class declares what its part supports; a standard test skips only for a feature
declared unsupported here (the reasons are in the ``Declared`` docstrings below):

- tool calling, structured output, JSON mode: not offered by the local models. A llama.cpp
  JSON-schema grammar was tried: SmolLM2-135M looped inside a string until its token limit
  (invalid JSON after 3-6 minutes per answer on a 2-core machine), so it is not offered;
- per-call model override: one instance holds one loaded model file;
- serialisation (``dumpd``/``load``): the models are built from machine-local files;
- VCR cassettes: nothing goes over HTTP (the remote embedders talk to a loopback server);
- images, audio, PDF: the models read text only.

The local models answer at most a few tokens here (``max_tokens``), to keep the suite short.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_tests.integration_tests import (
    ChatModelIntegrationTests,
    EmbeddingsIntegrationTests,
    RetrieversIntegrationTests,
)
from langchain_tests.unit_tests import ChatModelUnitTests, EmbeddingsUnitTests

from helpers import DATA

#: Few answer tokens: the standard prompts ("Hello", "Write me 2 haikus") need no more to pass.
MAX_TOKENS = 12


class _LocalModel:
    """What a local chat model declares (tests read these properties)."""

    @property
    def has_tool_calling(self) -> bool:  # declared: no tool calling
        return False

    @property
    def has_structured_output(self) -> bool:  # declared: no structured output
        return False

    @property
    def supports_json_mode(self) -> bool:  # declared: no JSON mode
        return False

    @property
    def returns_usage_metadata(self) -> bool:  # invoke and the last streamed chunk carry usage
        return True

    @property
    def supports_model_override(self) -> bool:  # declared: one instance, one model file
        return False

    @property
    def enable_vcr_tests(self) -> bool:  # declared: no HTTP to record
        return False

    @property
    def standard_chat_model_params(self) -> dict[str, Any]:
        # unit suites: LangChain's standard parameters; integration suites: a short answer
        if isinstance(self, ChatModelIntegrationTests):
            return {"max_tokens": MAX_TOKENS}
        return super().standard_chat_model_params  # type: ignore[misc]


# --- LlamaCppChat --------------------------------------------------------------------------

def _gguf() -> str:
    from chains.backends.local import default_model_path

    return str(default_model_path())


class _Llama(_LocalModel):
    @property
    def chat_model_class(self) -> type:
        from chains.backends.local import LlamaCppChat

        return LlamaCppChat

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model_path": _gguf(), "n_ctx": 1024}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return {"RAG_LOCAL_MODEL": "/models/other.gguf"}, {}, {"model_path": "/models/other.gguf"}


@pytest.fixture(scope="module")
def llama_loaded():
    """One loaded model for the module: the instances the suites create share it (same settings)."""
    from chains.backends.local import LlamaCppChat

    return LlamaCppChat(model_path=_gguf(), n_ctx=1024).loaded()


class TestLlamaCppChatUnit(_Llama, ChatModelUnitTests):
    pass


@pytest.mark.slow
@pytest.mark.usefixtures("llama_loaded")
class TestLlamaCppChatIntegration(_Llama, ChatModelIntegrationTests):
    pass


# --- HFChat --------------------------------------------------------------------------------

@pytest.fixture(scope="class")
def hf_base(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    """SmolLM2 as a transformers directory, converted once per test run (shared with test_finetune)."""
    from chains.hf_models import offline_base_dir

    request.cls.model_dir = str(offline_base_dir(tmp_path_factory.getbasetemp() / "rag-app-cache"))


class _HF(_LocalModel):
    model_dir = ""

    @property
    def chat_model_class(self) -> type:
        from chains.backends.hf import HFChat

        return HFChat

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model_dir": self.model_dir, "threads": 2}


@pytest.mark.usefixtures("hf_base")
class TestHFChatUnit(_HF, ChatModelUnitTests):
    pass


@pytest.mark.slow
@pytest.mark.usefixtures("hf_base")
class TestHFChatIntegration(_HF, ChatModelIntegrationTests):
    pass


# --- FakeChatModel -------------------------------------------------------------------------

class _Fake:
    @property
    def chat_model_class(self) -> type:
        from chains.backends.fake import FakeChatModel

        return FakeChatModel

    @property
    def has_tool_calling(self) -> bool:  # declared: no tool calling
        return False

    @property
    def supports_model_override(self) -> bool:  # declared: the reply names the model it was built with
        return False


class TestFakeChatModelUnit(_Fake, ChatModelUnitTests):
    pass


class TestFakeChatModelIntegration(_Fake, ChatModelIntegrationTests):
    pass


# --- MiniLMEmbedder, both precisions -------------------------------------------------------

class _MiniLM:
    precision = "int8"

    @property
    def embeddings_class(self) -> type:
        from rag_app.embeddings.minilm import MiniLMEmbedder

        return MiniLMEmbedder

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"precision": self.precision}


class TestMiniLMInt8Unit(_MiniLM, EmbeddingsUnitTests):
    pass


class TestMiniLMInt8Integration(_MiniLM, EmbeddingsIntegrationTests):
    pass


class TestMiniLMFp32Unit(_MiniLM, EmbeddingsUnitTests):
    precision = "fp32"


class TestMiniLMFp32Integration(_MiniLM, EmbeddingsIntegrationTests):
    precision = "fp32"


# --- remote embedders, a loopback server standing in for the service -----------------------

@pytest.fixture(scope="class")
def embedding_server(request: pytest.FixtureRequest):
    from http_stub import StubServer

    with StubServer() as server:
        request.cls.server_url = server.url
        yield server


class _OpenAIEmbedder:
    server_url = ""

    @property
    def embeddings_class(self) -> type:
        from rag_app.embeddings.remote import OpenAIEmbedder

        return OpenAIEmbedder

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "stub-embed", "options": {"base_url": f"{self.server_url}/v1", "api_key": "test"}}


class _OllamaEmbedder:
    server_url = ""

    @property
    def embeddings_class(self) -> type:
        from rag_app.embeddings.remote import OllamaEmbedder

        return OllamaEmbedder

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": "nomic-embed-text", "options": {"ollama_base_url": self.server_url}}


@pytest.mark.usefixtures("embedding_server")
class TestOpenAIEmbedderUnit(_OpenAIEmbedder, EmbeddingsUnitTests):
    pass


@pytest.mark.usefixtures("embedding_server")
class TestOpenAIEmbedderIntegration(_OpenAIEmbedder, EmbeddingsIntegrationTests):
    pass


@pytest.mark.usefixtures("embedding_server")
class TestOllamaEmbedderUnit(_OllamaEmbedder, EmbeddingsUnitTests):
    pass


@pytest.mark.usefixtures("embedding_server")
class TestOllamaEmbedderIntegration(_OllamaEmbedder, EmbeddingsIntegrationTests):
    pass


# --- IndexRetriever over a real index of data/ (real MiniLM, embedded Chroma) --------------

@pytest.fixture(scope="class")
def indexed_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    from rag_app import RagApp, Settings

    persist = tmp_path_factory.mktemp("standard-retriever") / "index"
    app = RagApp(Settings(), persist_dir=str(persist), llm="extractive")
    app.reindex([DATA])
    request.cls.app = app
    yield app
    app.close()


@pytest.mark.usefixtures("indexed_app")
class TestIndexRetriever(RetrieversIntegrationTests):
    app: Any = None

    @property
    def retriever_constructor(self) -> Any:
        return self.app.as_retriever  # how users get one: RagApp.as_retriever(k=...) -> IndexRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "How long is the warranty on an aluminium frame?"


def test_the_retriever_under_test_is_ours(tmp_path: Path):
    """TestIndexRetriever builds through RagApp.as_retriever: that is the IndexRetriever class."""
    from rag_app import RagApp, Settings
    from rag_app.retrieval.retriever import IndexRetriever

    app = RagApp(Settings(), persist_dir=str(tmp_path / "index"), llm="extractive", embeddings="fake")
    assert type(app.as_retriever(k=3)) is IndexRetriever and app.as_retriever(k=3).k == 3
