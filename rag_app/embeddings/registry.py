"""The embedding registry: an :class:`Embedder` base, and factories registered by name."""

from __future__ import annotations

import inspect
import threading
from abc import abstractmethod
from typing import TYPE_CHECKING, Any, Callable, Mapping

from langchain_core.embeddings import Embeddings

from rag_app.errors import ConfigError

if TYPE_CHECKING:
    from rag_app.settings import Settings


class Embedder(Embeddings):
    """A LangChain ``Embeddings`` that knows its identity and counts its work."""

    #: Recorded with the index: a different identity means a rebuild.
    identity: str = "embedder"
    batch_size: int = 64

    @property
    def cache_identity(self) -> str:
        """Key of this embedder's vectors in the embedding cache: the exact variant that made them."""
        return self.identity

    def __init__(self) -> None:
        self.embedded_texts = 0

    @property
    @abstractmethod
    def dimension(self) -> int:
        """Length of every vector."""

    @abstractmethod
    def _embed(self, texts: list[str]) -> list[list[float]]:
        """Embed one batch (already sized by the caller)."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        # Batch texts of similar length together (less padding), then restore the order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        vectors: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            for index, vector in zip(batch, self._embed([texts[i] for i in batch])):
                vectors[index] = vector
            self.embedded_texts += len(batch)
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """The question's vector; a question asked again (a server hears the same ones often)
        is not embedded again: the last :data:`QUERY_CACHE` vectors are kept."""
        cache: dict[str, tuple[float, ...]] | None = self.__dict__.get("_queries")
        if cache is None:
            cache = self.__dict__.setdefault("_queries", {})
        found = cache.get(text)
        if found is not None:
            return list(found)
        vector = self._embed([text])[0]
        with _QUERY_LOCK:
            cache[text] = tuple(vector)
            while len(cache) > QUERY_CACHE:
                cache.pop(next(iter(cache)))
        return list(vector)


#: Question vectors an embedder keeps (oldest dropped first).
QUERY_CACHE = 2048
_QUERY_LOCK = threading.Lock()


EmbedderFactory = Callable[..., Embedder]  # (model) or (model, options)
_REGISTRY: dict[str, EmbedderFactory] = {}
ENTRY_POINT_GROUP = "rag_app.embeddings"


def _load_entry_points() -> None:
    from chains.plugins import load_plugins

    load_plugins(ENTRY_POINT_GROUP, "Embedding")


def available_embeddings() -> list[str]:
    """Registered embedding model names (plugins included)."""
    _load_entry_points()
    return sorted(_REGISTRY)


def register_embeddings(name: str) -> Callable[[EmbedderFactory], EmbedderFactory]:
    """Decorator: register ``factory(model_or_None) -> Embedder`` as ``name``."""

    def decorate(factory: EmbedderFactory) -> EmbedderFactory:
        _REGISTRY[name] = factory
        return factory

    return decorate


def create_embeddings(spec: str, batch_size: int = 64, options: Mapping[str, Any] | None = None) -> Embedder:
    """The embedder ``spec`` names (``name`` or ``name:model``).

    ``options`` (base URLs, keys, timeouts) reach factories that take a second argument.
    """
    name, sep, model = spec.strip().partition(":")
    name = name.lower()
    if name not in _REGISTRY:
        _load_entry_points()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"Embedding model '{name}' is not known. Available: {known}. Set RAG_EMBEDDINGS in .env.")
    factory = _REGISTRY[name]
    args: tuple[Any, ...] = (model if sep and model else None,)
    if len(inspect.signature(factory).parameters) > 1:
        args += (dict(options or {}),)
    embedder = factory(*args)
    embedder.batch_size = max(1, batch_size)
    return embedder


def embedder_for(settings: "Settings") -> Embedder:
    """The embedder ``RAG_EMBEDDINGS`` names, with the options the settings give it."""
    s = settings
    options = {
        "api_key": s.openai_api_key, "base_url": s.openai_base_url, "ollama_base_url": s.ollama_base_url,
        "timeout": s.request_timeout, "max_retries": s.max_retries,
        "runtime": s.embed_runtime, "precision": s.embed_precision,
    }
    return create_embeddings(s.embeddings, s.embed_batch_size, options)
