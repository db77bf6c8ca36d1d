"""Repairs by the writer: the search side re-mirrored from Chroma, vectors it lacks copied from Chroma.

Only the reindex calls these (queries never write); both read Chroma a page at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag_app.store.records import RecordStore
from rag_app.store.search_side import ChunkRow, text_hash

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection

PAGE = 2000


def mirror_chroma(records: RecordStore, collection: "Collection", force: bool = False) -> bool:
    """Make the search side hold what ``collection`` holds when their chunk counts differ (or
    ``force``); True if it did. Page by page, in one transaction (readers see before or after)."""
    store = records.chunks
    physical = collection.name
    if not force and store.count(physical) == collection.count():
        return False
    with records.transaction():
        store.clear(physical)
        offset = 0
        while True:
            got = collection.get(include=["documents", "metadatas", "embeddings"], limit=PAGE, offset=offset)
            embeddings = got.get("embeddings")
            rows: list[ChunkRow] = []
            for i, chunk_id in enumerate(got["ids"]):
                text = (got["documents"] or [])[i] or ""
                meta = dict((got["metadatas"] or [])[i] or {})
                digest = str(meta.get("content_hash") or text_hash(text))
                vector = embeddings[i] if embeddings is not None else None
                rows.append(ChunkRow(chunk_id, str(meta.get("source", "")), digest, text, meta, vector))
            store.add_rows(physical, rows)
            if len(got["ids"]) < PAGE:
                return True
            offset += PAGE


def fill_missing_vectors(records: RecordStore, collection: "Collection") -> None:
    """Texts the search side has no vector for (kept chunks of a reconciled file): copy Chroma's.

    A vector is there if the embedding cache or the published arrays hold it (:func:`arrays.published`:
    only their hashes are read, so a run that changed nothing maps no vector).
    """
    from rag_app.store import arrays

    store = records.chunks
    key = store.vector_key(collection.name)
    uncached = store.uncached_hashes(collection.name)
    missing: list[str] = []
    opened: dict[str, object] = {}
    for start in range(0, len(uncached), PAGE):
        part = uncached[start : start + PAGE]
        found = arrays.published(store, store.arrays_folder, key, part, opened)
        missing += [h for h in part if h not in found]
    for start in range(0, len(missing), PAGE):
        by_hash = store.chunks_of(collection.name, missing[start : start + PAGE])
        part = [(ids[0], h) for h, ids in by_hash.items() if ids]
        got = collection.get(ids=[chunk_id for chunk_id, _ in part], include=["embeddings"])
        by_id = {i: e for i, e in zip(got["ids"], got["embeddings"] if got.get("embeddings") is not None else [])}
        vectors = {h: by_id[i] for i, h in part if i in by_id}
        with records.transaction():
            store.put_vectors(collection.name, vectors)
