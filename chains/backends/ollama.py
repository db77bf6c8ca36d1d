"""``ollama``: a model served by Ollama, as langchain-ollama's ``ChatOllama`` itself.

``ollama:llama3.2`` picks the model; ``extra["base_url"]`` (``OLLAMA_BASE_URL``,
default ``http://localhost:11434``) the server.
"""

from __future__ import annotations

from typing import Callable

from chains.llm import LLM, from_chat_model
from chains.errors import MissingDependency
from chains.registry import BackendOptions, register_llm

DEFAULT_BASE_URL = "http://localhost:11434"
DEFAULT_MODEL = "llama3.2"


def ollama_explainer(model: str, base_url: str) -> Callable[[Exception], str]:
    """One line naming the server and the model, and what to do."""

    def explain(exc: Exception) -> str:
        status = getattr(exc, "status_code", None)
        if status == 404:
            return f"Model '{model}' not found at {base_url} (404): run `ollama pull {model}` or fix RAG_LLM"
        if isinstance(exc, ConnectionError) or "connect" in type(exc).__name__.lower():
            return f"Cannot reach Ollama at {base_url}: is `ollama serve` running and OLLAMA_BASE_URL right?"
        if "timeout" in type(exc).__name__.lower():
            return f"Ollama at {base_url} did not answer in time: raise RAG_TIMEOUT"
        detail = " ".join(str(getattr(exc, "error", exc)).split())[:300]
        return f"Ollama at {base_url} failed{f' (HTTP {status})' if status else ''}: {detail}"

    return explain


@register_llm(
    "ollama",
    description="A model served by Ollama (OLLAMA_BASE_URL), e.g. ollama:llama3.2.",
    install_hint="pip install 'rag-app[ollama]'",
)
def _ollama(options: BackendOptions) -> LLM:
    try:
        from langchain_ollama import ChatOllama
    except ImportError:
        raise MissingDependency("The ollama backend needs langchain-ollama: pip install 'rag-app[ollama]'") from None
    model = options.model or DEFAULT_MODEL
    base_url = str(options.extra.get("base_url") or DEFAULT_BASE_URL).rstrip("/")
    chat = ChatOllama(
        model=model,
        base_url=base_url,
        temperature=options.temperature,
        num_predict=options.max_tokens,
        num_ctx=options.context_window,
        client_kwargs={"timeout": options.timeout},
    )
    llm = from_chat_model(chat, spec=f"ollama:{model}", context_window=options.context_window,
                          max_tokens=options.max_tokens)
    llm.label, llm.context_window = f"ollama:{model}", options.context_window
    llm.explain = ollama_explainer(model, base_url)
    return llm
