"""``ollama``: a model served by Ollama, through ``langchain-ollama``.

``ollama:llama3.2`` picks the model; ``extra["base_url"]`` (``OLLAMA_BASE_URL``,
default ``http://localhost:11434``) the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Sequence

from chains.backend import AnswerBackend
from chains.prompt import qa_messages
from chains.registry import BackendError, BackendOptions, MissingDependency, register_llm

if TYPE_CHECKING:
    from langchain_core.documents import Document

DEFAULT_BASE_URL = "http://localhost:11434"
DEFAULT_MODEL = "llama3.2"


class OllamaBackend(AnswerBackend):
    """Chat with an Ollama model; errors name the server and the model."""

    name = "ollama"

    def __init__(self, options: BackendOptions) -> None:
        try:
            from langchain_ollama import ChatOllama
        except ImportError:
            raise MissingDependency("The ollama backend needs langchain-ollama: pip install 'rag-app[ollama]'") from None
        self.model = options.model or DEFAULT_MODEL
        self.base_url = str(options.extra.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
        self.context_window = options.context_window
        self.max_tokens = options.max_tokens
        self._chat = ChatOllama(
            model=self.model,
            base_url=self.base_url,
            temperature=options.temperature,
            num_predict=options.max_tokens,
            num_ctx=options.context_window,
            client_kwargs={"timeout": options.timeout},
        )

    def _explain(self, exc: Exception) -> BackendError:
        status = getattr(exc, "status_code", None)
        if status == 404:
            return BackendError(
                f"Model '{self.model}' not found at {self.base_url} (404): run `ollama pull {self.model}` or fix RAG_LLM"
            )
        if isinstance(exc, ConnectionError) or "connect" in type(exc).__name__.lower():
            return BackendError(f"Cannot reach Ollama at {self.base_url}: is `ollama serve` running and OLLAMA_BASE_URL right?")
        if "timeout" in type(exc).__name__.lower():
            return BackendError(f"Ollama at {self.base_url} did not answer in time: raise RAG_TIMEOUT")
        detail = " ".join(str(getattr(exc, "error", exc)).split())[:300]
        return BackendError(f"Ollama at {self.base_url} failed{f' (HTTP {status})' if status else ''}: {detail}")

    def _messages(self, messages: list[dict[str, str]]) -> list[tuple[str, str]]:
        return [(m["role"] if m["role"] != "assistant" else "ai", m["content"]) for m in messages]

    def generate(self, messages: list[dict[str, str]]) -> str:
        try:
            return str(self._chat.invoke(self._messages(messages)).content).strip()
        except Exception as exc:  # the ollama client raises plain ConnectionError/ResponseError/httpx errors
            raise self._explain(exc) from None

    def answer(self, question: str, documents: Sequence["Document"]) -> str:
        return self.generate(qa_messages(question, documents))

    def stream(self, question: str, documents: Sequence["Document"]) -> Iterator[str]:
        try:
            for chunk in self._chat.stream(self._messages(qa_messages(question, documents))):
                if chunk.content:
                    yield str(chunk.content)
        except Exception as exc:
            raise self._explain(exc) from None

    def describe(self) -> str:
        return f"ollama:{self.model}"


@register_llm(
    "ollama",
    description="A model served by Ollama (OLLAMA_BASE_URL), e.g. ollama:llama3.2.",
    install_hint="pip install 'rag-app[ollama]'",
)
def _ollama(options: BackendOptions) -> AnswerBackend:
    return OllamaBackend(options)


