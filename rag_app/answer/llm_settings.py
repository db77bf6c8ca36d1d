"""Which settings each LLM backend receives (the runner's only knowledge of backends)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag_app.settings import Settings

if TYPE_CHECKING:
    from chains import BackendOptions
    from rag_app.embeddings import Embedder

#: Embedding models whose question–sentence similarity was measured to help the extractive
#: answerer choose its sentence (bench/answer_quality.py on the shared sets); for others the
#: answerer scores words only (a remote model would also cost a call per question).
SENTENCE_SCORING_MODELS = frozenset({"minilm:all-MiniLM-L6-v2"})


def backend_options(settings: Settings, name: str) -> "BackendOptions":
    """``BackendOptions`` for backend ``name`` from ``settings``."""
    from chains import BackendOptions

    s = settings
    model = {"openai": s.openai_model, "local": s.local_model or None, "ollama": s.ollama_model}.get(name)
    api_key = s.azure_api_key if name == "azure" else s.openai_api_key
    extra: dict[str, object] = {}
    if name == "azure":
        extra = {"endpoint": s.azure_endpoint, "deployment": s.azure_deployment, "api_version": s.openai_api_version}
    elif name == "ollama":
        extra = {"base_url": s.ollama_base_url}
    return BackendOptions(
        model=model,
        api_key=api_key or None,
        base_url=s.openai_base_url or None,
        temperature=s.temperature,
        max_tokens=s.max_tokens,
        context_window=s.context_window,
        threads=s.threads or None,
        timeout=s.request_timeout,
        max_retries=s.max_retries,
        retry_backoff=s.retry_backoff,
        extra=extra,
    )


def sentence_scoring(embedder: "Embedder") -> dict[str, object]:
    """The ``extractive`` answerer's embedding functions, for models known to help it; else none."""
    if embedder.identity not in SENTENCE_SCORING_MODELS:
        return {}
    return {"embed": embedder.embed_documents, "embed_query": embedder.embed_query}
