"""The embedding cache: (embedder variant, content hash) -> vector, across collections and runs.

A table of the records' database (created with the search side); each write is a
small transaction of its own, so a vector computed once is never computed again,
even by a reindex that is interrupted later. Vectors a collection's published arrays
hold leave the cache (:mod:`rag_app.store.arrays`); the writer then takes a text's exact
vector from Chroma, the store of record (:func:`from_chroma`), not from the int8 copy.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from rag_app.store.search_side import blob

if TYPE_CHECKING:
    import numpy as np
    from chromadb.api import ClientAPI

    from rag_app.store.search_side import ChunkStore


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


def from_chroma(client: "ClientAPI", store: "ChunkStore", model: str, hashes: Sequence[str]) -> "dict[str, np.ndarray]":
    """Exact vectors of ``hashes`` from Chroma, asked by the id of a chunk with that text in a
    collection built with embedder variant ``model`` (missing hashes are left out)."""
    import numpy as np

    found: dict[str, np.ndarray] = {}
    for physical in store.collections_with_key(model) if hashes else []:
        missing = [h for h in hashes if h not in found]
        by_hash = store.chunks_of(physical, missing) if missing else {}
        ids = {chunk_ids[0]: h for h, chunk_ids in by_hash.items() if chunk_ids}
        if not ids:
            continue
        try:
            got = client.get_collection(physical, embedding_function=None).get(ids=list(ids), include=["embeddings"])
        except Exception:  # that collection is gone from Chroma: the caller embeds instead
            continue
        vectors = got.get("embeddings")
        for chunk_id, vector in zip(got["ids"], vectors if vectors is not None else []):
            found[ids[chunk_id]] = np.asarray(vector, dtype=np.float32)
    return found
