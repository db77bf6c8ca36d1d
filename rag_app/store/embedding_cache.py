"""The embedding cache: (embedder variant, content hash) -> vector, across collections and runs.

A table of the records' database (created with the search side); each write is a
small transaction of its own, so a vector computed once is never computed again,
even by a reindex that is interrupted later.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from rag_app.store.search_side import blob

if TYPE_CHECKING:
    import numpy as np


def cached(db: sqlite3.Connection, model: str, hashes: Iterable[str]) -> "dict[str, np.ndarray]":
    """The cached vectors of ``hashes`` that ``model`` embedded before (float32 arrays)."""
    import numpy as np

    wanted = list(dict.fromkeys(hashes))
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        marks = ",".join("?" * len(part))
        for content_hash, data in db.execute(
            f"SELECT content_hash, vector FROM embedding_cache WHERE model = ? AND content_hash IN ({marks})",
            (model, *part),
        ):
            found[content_hash] = np.frombuffer(data, dtype="<f4")
    return found


def cache(db: sqlite3.Connection, model: str, vectors: Mapping[str, Sequence[float]]) -> None:
    """Remember ``vectors`` (content hash -> vector) as ``model``'s, in one transaction."""
    if not vectors:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(
            "INSERT OR REPLACE INTO embedding_cache (model, content_hash, vector) VALUES (?, ?, ?)",
            [(model, h, blob(v)) for h, v in vectors.items()],
        )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
