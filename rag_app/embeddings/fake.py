"""``fake``: deterministic hashed bag-of-words vectors, for tests and demos without a model."""

from __future__ import annotations

import hashlib
import math
import re

from rag_app.embeddings.registry import Embedder, register_embeddings

_TOKEN = re.compile(r"[a-z0-9]+")


class FakeEmbedder(Embedder):
    """Hashed bag of words: texts sharing words are close. No model, no randomness."""

    identity = "fake:bow-64"

    def __init__(self, dimension: int = 64) -> None:
        super().__init__()
        self._dimension = dimension
        self.identity = f"fake:bow-{dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def _embed(self, texts: list[str]) -> list[list[float]]:
        out = []
        for text in texts:
            vector = [0.0] * self._dimension
            for word in _TOKEN.findall(text.lower()):
                digest = hashlib.md5(word.encode()).digest()
                vector[digest[0] % self._dimension] += 1.0 if digest[1] % 2 else -1.0
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            out.append([v / norm for v in vector] if any(vector) else [1.0] + [0.0] * (self._dimension - 1))
        return out


@register_embeddings("fake")
def _fake(model: str | None) -> Embedder:
    return FakeEmbedder(int(model) if model else 64)
