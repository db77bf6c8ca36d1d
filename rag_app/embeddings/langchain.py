"""Any LangChain ``Embeddings`` as the app's :class:`~rag_app.embeddings.Embedder`.

``RagApp(embeddings=HuggingFaceEmbeddings(...))`` or ``OpenAIEmbeddings(...)``: the
index records the model's identity (class and model name) and its dimension, like
for the built-in models, so a later run with another model is caught.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag_app.embeddings import Embedder

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings


class LangChainEmbedder(Embedder):
    """Delegates to a LangChain ``Embeddings``; batching and counting are ours."""

    def __init__(self, embeddings: "Embeddings", batch_size: int = 64) -> None:
        super().__init__()
        self.embeddings = embeddings
        self.batch_size = batch_size
        name = next((str(getattr(embeddings, a)) for a in ("model", "model_name", "model_id")
                     if getattr(embeddings, a, None)), "")
        self.identity = f"langchain:{type(embeddings).__name__}" + (f":{name}" if name else "")
        self._dimension: int | None = None

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = len(self.embeddings.embed_query("dimension probe"))
        return self._dimension

    def _embed(self, texts: list[str]) -> list[list[float]]:
        return self.embeddings.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.embeddings.embed_query(text)


def wrap_embeddings(embeddings: "Embeddings", batch_size: int = 64) -> Embedder:
    """``embeddings`` itself when it is already an :class:`Embedder`, else a :class:`LangChainEmbedder`."""
    from langchain_core.embeddings import Embeddings

    if isinstance(embeddings, Embedder):
        return embeddings
    if not isinstance(embeddings, Embeddings):
        from rag_app.errors import ConfigError

        raise ConfigError(f"embeddings= expects a LangChain Embeddings, got {type(embeddings).__name__}")
    return LangChainEmbedder(embeddings, batch_size)
