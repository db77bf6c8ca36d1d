"""Search arrays the writer publishes for readers to memory-map: a cold query starts without loading.

After a reindex that changed a large collection (at least :data:`ARRAYS_FROM` distinct texts),
the writer writes, per collection and stamp (the search side's generation token), to
``RAG_PERSIST_DIR/arrays/``:

- ``NAME--STAMP.hashes.npy``: the distinct texts' content hashes, sorted (``S32``);
- ``NAME--STAMP.vectors.npy``: their vectors in that order (float32, streamed from SQLite a page
  at a time, so the writer never holds them all);
- ``NAME--STAMP.bm25-{data,indices,indptr}.npy``: the BM25 weights as a (terms x texts) CSR matrix.

A reader whose snapshot has that stamp maps them (``np.load(mmap_mode="r")``): nothing is read
until a query touches it, and the page cache is shared by every reader process. Without them
(a small collection, a run still in progress) readers build the same arrays from SQLite.
The hashes file is renamed into place last: its presence means the set is complete.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import numpy as np

    from rag_app.store.search_side import ChunkStore

#: Distinct texts from which the writer publishes arrays (below, loading from SQLite is quick).
ARRAYS_FROM = 20_000
_PAGE = 10_000
_BM25 = ("data", "indices", "indptr")


def _base(folder: Path, physical: str, stamp: str) -> Path:
    return folder / f"{physical}--{stamp}"


def export(store: "ChunkStore", physical: str, folder: Path) -> bool:
    """Write the arrays of ``physical`` as of its current stamp (the writer, after its last commit)."""
    import numpy as np

    stamp = store.stamp(physical)
    base = _base(folder, physical, stamp)
    if not stamp or Path(f"{base}.hashes.npy").exists():
        return False
    folder.mkdir(parents=True, exist_ok=True)
    n, dim = store.text_count(physical), store.dimension(physical)
    tmp = f"{base}.{os.getpid()}.tmp"
    vectors = np.lib.format.open_memmap(f"{tmp}.vectors.npy", mode="w+", dtype="<f4", shape=(n, dim))
    hashes = np.zeros(n, dtype="S32")
    done = 0
    for page_hashes, page in _pages(store, physical):
        vectors[done : done + len(page)] = page
        hashes[done : done + len(page)] = page_hashes
        done += len(page)
    vectors.flush()
    del vectors
    row = Positions(hashes[:done])
    bm25 = store.term_matrix(physical, row)
    for part in _BM25:
        np.save(f"{tmp}.bm25-{part}.npy", getattr(bm25, part))
    np.save(f"{tmp}.hashes.npy", hashes[:done])
    for suffix in ["vectors"] + [f"bm25-{p}" for p in _BM25] + ["hashes"]:
        os.replace(f"{tmp}.{suffix}.npy", f"{base}.{suffix}.npy")
    forget(folder, physical, keep=stamp)
    return True


def _pages(store: "ChunkStore", physical: str) -> Iterator[tuple[list[str], "np.ndarray"]]:
    import numpy as np

    hashes: list[str] = []
    blobs: list[bytes] = []
    for content_hash, blob in store.sorted_vectors(physical):
        hashes.append(content_hash)
        blobs.append(blob)
        if len(blobs) == _PAGE:
            yield hashes, np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1)
            hashes, blobs = [], []
    if blobs:
        yield hashes, np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1)


def load(folder: Path, physical: str, stamp: str) -> tuple[Any, Any, Any] | None:
    """``(sorted S32 hashes, vectors, bm25)`` memory-mapped, or None when the writer published none for ``stamp``."""
    import numpy as np
    from scipy.sparse import csr_matrix

    base = _base(folder, physical, stamp)
    try:
        hashes = np.load(f"{base}.hashes.npy", mmap_mode="r")
        vectors = np.load(f"{base}.vectors.npy", mmap_mode="r")
        data, indices, indptr = (np.load(f"{base}.bm25-{p}.npy", mmap_mode="r") for p in _BM25)
    except (FileNotFoundError, ValueError):
        return None  # none for this stamp, or replaced between two opens: build from SQLite
    bm25 = csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, len(hashes)), copy=False)
    return hashes, vectors, bm25


def forget(folder: Path, physical: str, keep: str | None = None) -> None:
    """Delete ``physical``'s arrays except those of stamp ``keep`` (readers keep their open maps)."""
    if not folder.is_dir():
        return
    for path in folder.glob(f"{physical}--*"):
        if keep is None or not path.name.startswith(f"{physical}--{keep}."):
            path.unlink(missing_ok=True)


class Hashes:
    """A sorted ``S32`` hash array read as a sequence of ``str``."""

    def __init__(self, array: Any) -> None:
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, i: int) -> str:
        return bytes(self.array[i]).decode()


class Positions:
    """``hash -> row`` over a sorted ``S32`` array, by binary search (no dict of a million keys)."""

    def __init__(self, array: Any) -> None:
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def _find(self, key: str) -> int:
        import numpy as np

        encoded = key.encode()
        i = int(np.searchsorted(self.array, encoded))
        return i if i < len(self.array) and bytes(self.array[i]) == encoded else -1

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key) >= 0

    def __getitem__(self, key: str) -> int:
        i = self._find(key)
        if i < 0:
            raise KeyError(key)
        return i
