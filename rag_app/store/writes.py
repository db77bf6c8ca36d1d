"""A group's new chunks into Chroma: embedded a batch at a time, upserted in large calls."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Callable, Sequence

from loaders import Chunk
from rag_app.store.report import Progress

if TYPE_CHECKING:
    import numpy as np
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

#: Chunks written to Chroma per upsert call (capped by the client's own maximum batch size): each
#: call has a fixed cost (a transaction, the HNSW segment's bookkeeping), ~14% of a 256-chunk call.
UPSERT_CHUNKS = 4096
#: ... but embedded chunks wait at most this long: with a slow embedder each batch is written as it
#: comes (readers see progress, a killed run loses little); a fast one fills the large calls.
FLUSH_SECONDS = 0.5


def max_batch(client: "ClientAPI", fallback: int) -> int:
    """The most records ``client`` takes in one call (Chroma's SQLite-bound limit, ~5,000)."""
    try:
        return max(int(client.get_max_batch_size()), 1)
    except Exception:  # an old server or client without the call
        return fallback


def write_chunks(
    collection: "Collection", chunks: Sequence[Chunk], embed: Callable[[Sequence[Chunk]], "np.ndarray"], *,
    embed_batch: int, upsert: int, stop: threading.Event, progress: Progress | None = None, before: int = 0,
    total: int = 0,
) -> int:
    """Embed ``chunks`` ``embed_batch`` at a time (``progress(before + done, total)`` after each)
    and upsert them ``upsert`` at a time or every :data:`FLUSH_SECONDS`; how many were written.
    Once ``stop`` is set no batch is embedded, but those already embedded are still written."""
    import time

    import numpy as np

    chunks_waiting: list[Chunk] = []
    vectors_waiting: list[Any] = []
    done = 0
    flushed = time.monotonic()

    def flush() -> None:
        nonlocal done, flushed
        vectors = np.concatenate(vectors_waiting)
        for start in range(0, len(chunks_waiting), upsert):
            part = chunks_waiting[start : start + upsert]
            collection.upsert(
                ids=[c.id for c in part],
                embeddings=vectors[start : start + upsert],  # type: ignore[arg-type]
                documents=[c.text for c in part],
                metadatas=[c.metadata() for c in part],  # type: ignore[misc]
            )
        done += len(chunks_waiting)
        chunks_waiting.clear()
        vectors_waiting.clear()
        flushed = time.monotonic()

    for start in range(0, len(chunks), embed_batch):
        if stop.is_set():
            break
        batch = chunks[start : start + embed_batch]
        vectors_waiting.append(embed(batch))
        chunks_waiting.extend(batch)
        if progress:
            progress(before + done + len(chunks_waiting), max(total, before + done + len(chunks_waiting)))
        if len(chunks_waiting) >= upsert or time.monotonic() - flushed >= FLUSH_SECONDS:
            flush()
    if chunks_waiting:
        flush()
    return done
