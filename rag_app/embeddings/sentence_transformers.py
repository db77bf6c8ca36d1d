"""``st:/dir``: any sentence-transformers model directory (``pip install 'rag-app[st]'``)."""

from __future__ import annotations

import os

from rag_app.embeddings.registry import Embedder, register_embeddings
from rag_app.errors import ConfigError


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model directory (normalised vectors)."""

    def __init__(self, model_dir: str) -> None:
        super().__init__()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ConfigError("st: embeddings need sentence-transformers: pip install 'rag-app[st]'") from None
        self._model = SentenceTransformer(model_dir, device="cpu", local_files_only=True)
        self.identity = f"st:{os.path.basename(os.path.normpath(model_dir))}"

    @property
    def dimension(self) -> int:
        return int(self._model.get_sentence_embedding_dimension() or 0)

    def _embed(self, texts: list[str]) -> list[list[float]]:
        return self._model.encode(texts, normalize_embeddings=True, batch_size=len(texts)).tolist()


@register_embeddings("st")
def _st(model: str | None) -> Embedder:
    if not model:
        raise ConfigError("RAG_EMBEDDINGS=st needs a model directory: st:/path/to/model")
    return SentenceTransformerEmbedder(model)
