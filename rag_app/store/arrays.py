"""Search arrays the writer publishes for readers to memory-map, and the one copy of their vectors.

After a reindex that changed a large collection (at least :data:`ARRAYS_FROM` distinct texts),
the writer writes, per collection and stamp (the search side's generation token), to
``RAG_PERSIST_DIR/arrays/``:

- ``NAME--STAMP.hashes.npy``: the distinct texts' content hashes, sorted (``S32``);
- ``NAME--STAMP.vectors.npy`` + ``.scales.npy``: their vectors in that order, **int8** with one
  float32 scale per vector (a quarter of float32's bytes; float16 was half, but numpy converts it
  8x slower than int8 when scoring), written a page at a time, so the writer never holds them all;
  ranking against float32 is measured by ``bench/scale.py`` (``exact int8 vs float32 recall``).
  From :data:`rag_app.store.ann.ANN_FROM` texts the HNSW graph (``NAME--STAMP.hnsw.usearch``) is
  built from these codes and stores them itself, so the vectors file is not published beside it
  (:class:`GraphRows` reads rows from the graph; 384 B per text at 384 dimensions saved);
- ``NAME--STAMP.bm25-{data,indices,indptr}.npy``: the BM25 weights as a (terms x texts) CSR matrix,
  each term's row impact-ordered (highest weight first), so a question reads at most
  :data:`rag_app.store.bm25.POSTINGS_CAP` postings per term; ``bm25-stats.npy`` (texts, average
  length) lets a reader score its best candidates exactly from their stored term counts.

Once published, this file is the **only** copy of those vectors on the search side: the writer
deletes them from the SQLite embedding cache (:func:`uncache`; rows another collection also uses
stay), and search's lookups by content hash (the next export, a reader's fallback matrix between
two stamps) ask the cache first and then the published arrays of any collection with the same
embedder variant (:func:`lookup`). The writer's "never embed twice" takes an exact vector from the
cache or from Chroma (the store of record), never the quantized copy.

A reader whose snapshot has that stamp maps them (``np.load(mmap_mode="r")``): nothing is read
until a query touches it, and the page cache is shared by every reader process. The writer flushes
each file and drops it from its page cache before publishing it (:func:`_settle`), so a reader's
scattered reads map small pages, not the large folios a fresh write leaves. Without them
(a small collection, a run still in progress) readers build the same arrays from SQLite and the
previous arrays. The hashes file is renamed into place last: its presence means the set is complete.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

from rag_app.store.sorted_hashes import Positions

if TYPE_CHECKING:
    import numpy as np

    from rag_app.store.search_side import ChunkStore

#: Distinct texts from which the writer publishes arrays (below, loading from SQLite is quick).
ARRAYS_FROM = 20_000
_PAGE = 10_000
#: Rows scored at a time: small enough to stay in cache and under OpenBLAS's threading threshold
#: (at 100k texts on 2 shared cores: 1,024 rows 15 ms, 65,536 rows 100 ms, 2,048-4,096 rows
#: 300-575 ms, threads spinning against other processes).
_BLOCK = 1024
_BM25 = ("data", "indices", "indptr")


def _base(folder: Path, physical: str, stamp: str) -> Path:
    return folder / f"{physical}--{stamp}"


def _stamps(folder: Path, physical: str) -> list[str]:
    """Stamps of ``physical``'s complete sets, newest first (not another collection named ``physical--…``)."""
    if not folder.is_dir():
        return []
    pattern = re.compile(re.escape(physical) + r"--([0-9a-f]{16})\.hashes\.npy$")
    found = [(p.stat().st_mtime_ns, m.group(1)) for p in folder.glob(f"{physical}--*.hashes.npy")
             if (m := pattern.match(p.name))]
    return [stamp for _, stamp in sorted(found, reverse=True)]


class Quantized:
    """Vectors as int8 codes times one float32 scale per row (both usually memory-mapped).

    ``graph``: the stamp's HNSW graph (:mod:`rag_app.store.ann`), when one was published.
    """

    graph: Any = None

    def __init__(self, codes: Any, scale: Any) -> None:
        self.codes = codes
        self.scale = scale

    def __len__(self) -> int:
        return len(self.scale)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.codes.shape)  # type: ignore[return-value]

    def _codes(self, at: Any) -> "np.ndarray":
        """int8 codes of rows ``at`` (a slice, or sorted row numbers)."""
        return self.codes[at]

    def __getitem__(self, i: int) -> "np.ndarray":
        import numpy as np

        return self.rows(np.asarray([i]))[0]

    def rows(self, at: Any) -> "np.ndarray":
        """Rows ``at`` (an index array) as float32 (only those pages are read)."""
        import numpy as np

        at = np.asarray(at, dtype=np.int64)
        order = np.argsort(at, kind="stable")  # ascending reads from the map
        out = np.empty((len(at), self.shape[1]), dtype=np.float32)
        out[order] = self._codes(at[order]).astype(np.float32) * self.scale[at[order]][:, None]
        return out

    def dot(self, q: Any, at: Any = None) -> "np.ndarray":
        """``vectors @ q`` in float32 for every row, or for rows ``at`` (sorted), a block at a time
        (the map is never copied whole)."""
        import numpy as np

        out = np.empty(len(self) if at is None else len(at), dtype=np.float32)
        for start in range(0, len(out), _BLOCK):
            block = slice(start, start + _BLOCK)
            rows = block if at is None else at[block]
            out[block] = (self._codes(rows).astype(np.float32) @ q) * self.scale[rows]
        return out


class GraphRows(Quantized):
    """A graph-sized set's vectors, read from the HNSW graph that holds their int8 codes (the
    writer publishes no separate vectors file beside a graph: one copy)."""

    def __init__(self, graph: Any, scale: Any) -> None:
        super().__init__(None, scale)
        self.graph = graph

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.scale), self.graph.index.ndim

    def _codes(self, at: Any) -> "np.ndarray":
        import numpy as np

        if isinstance(at, slice):
            at = np.arange(*at.indices(len(self)))
        return self.graph.codes(at)


def quantize(rows: "np.ndarray") -> tuple["np.ndarray", "np.ndarray"]:
    """Symmetric int8 per row: ``codes * scale`` ~ ``rows`` (error at most scale / 2 per component)."""
    import numpy as np

    scale = np.abs(rows).max(axis=1) / 127.0
    scale[scale == 0] = 1.0
    codes = np.clip(np.rint(rows / scale[:, None]), -127, 127).astype(np.int8)
    return codes, scale.astype(np.float32)


def scores(matrix: Any, q: Any) -> "np.ndarray":
    """The cosine of every row with ``q`` (rows and ``q`` normalised): float32 or :class:`Quantized`."""
    import numpy as np

    if isinstance(matrix, Quantized):
        return matrix.dot(q)
    out = np.empty(len(matrix), dtype=np.float32)
    for start in range(0, len(matrix), _BLOCK):
        out[start : start + _BLOCK] = matrix[start : start + _BLOCK] @ q
    return out


def export(store: "ChunkStore", physical: str, folder: Path, ann_from: int | None = None) -> bool:
    """Write the arrays of ``physical`` as of its current stamp (the writer, after its last commit),
    and its HNSW graph (:mod:`rag_app.store.ann`) from ``ann_from`` distinct texts (default
    :data:`rag_app.store.ann.ANN_FROM`)."""
    import numpy as np

    from rag_app.store import ann

    stamp = store.stamp(physical)
    base = _base(folder, physical, stamp)
    if not stamp or Path(f"{base}.hashes.npy").exists():
        return False
    folder.mkdir(parents=True, exist_ok=True)
    n, dim = store.text_count(physical), store.dimension(physical)
    tmp = f"{base}.{os.getpid()}.tmp"
    np.lib.format.open_memmap(f"{tmp}.vectors.npy", mode="w+", dtype=np.int8, shape=(n, dim)).flush()  # the file, sized
    scale = np.zeros(n, dtype="<f4")
    hashes = np.zeros(n, dtype="S32")
    done = 0
    key = store.vector_key(physical)
    opened: dict[str, Any] = {}
    for page_hashes in _pages(store.sorted_hashes(physical)):
        found = lookup(store, folder, key, page_hashes, opened)
        if len(found) < len(page_hashes):
            page_hashes = [h for h in page_hashes if h in found]  # no vector anywhere: not searchable
        if page_hashes:
            codes, scales = quantize(np.stack([found[h] for h in page_hashes]))
            vectors = np.load(f"{tmp}.vectors.npy", mmap_mode="r+")  # mapped per page: written pages
            vectors[done : done + len(page_hashes)] = codes  # leave the process (1M texts: 384 MB)
            vectors.flush()
            del vectors
            scale[done : done + len(page_hashes)] = scales
        hashes[done : done + len(page_hashes)] = page_hashes
        done += len(page_hashes)
    opened.clear()  # unmap the previous sets before the graph build loads one
    if done < n:  # shrink to the rows written (rare: texts whose vector is missing everywhere)
        full = np.load(f"{tmp}.vectors.npy", mmap_mode="r")
        np.save(f"{tmp}.part.npy", full[:done])
        del full
        os.replace(f"{tmp}.part.npy", f"{tmp}.vectors.npy")
    row = Positions(hashes[:done])
    bm25 = store.term_matrix(physical, row)  # impact-ordered as built
    for part in _BM25:
        np.save(f"{tmp}.bm25-{part}.npy", getattr(bm25, part))
    np.save(f"{tmp}.bm25-stats.npy", bm25.bm25_stats)
    del bm25  # written: not held through the graph build (1M texts: 160 MB)
    np.save(f"{tmp}.scales.npy", scale[:done])
    np.save(f"{tmp}.hashes.npy", hashes[:done])
    suffixes = ["vectors", "scales", "bm25-stats"] + [f"bm25-{p}" for p in _BM25]
    if done and done >= (ann.ANN_FROM if ann_from is None else ann_from):
        previous = [f"{_base(folder, physical, s)}.{ann.SUFFIX}" for s in _stamps(folder, physical)[:1]]
        ann.build(f"{tmp}.vectors.npy", hashes[:done], f"{tmp}.{ann.SUFFIX}", previous=previous[0] if previous else None)
        if ann.holds_every_row(hashes[:done]):  # the graph's int8 codes are these rows: no second copy
            os.unlink(f"{tmp}.vectors.npy")
            suffixes.remove("vectors")
        _settle(f"{tmp}.{ann.SUFFIX}")
        os.replace(f"{tmp}.{ann.SUFFIX}", f"{base}.{ann.SUFFIX}")  # before the hashes: part of the set
    for suffix in suffixes + ["hashes"]:
        _settle(f"{tmp}.{suffix}.npy")
        os.replace(f"{tmp}.{suffix}.npy", f"{base}.{suffix}.npy")
    forget(folder, physical, keep=stamp)
    return True


def _settle(path: str) -> None:
    """Flush a file the writer publishes to disk and drop it from the page cache.

    Durable before its rename publishes it; and readers, which read a few scattered pages of it,
    fault them in one small page at a time. Pages a writer leaves cached are large folios, and
    touching any byte of one maps all of it into the reader: 2,000 random reads of a just-written
    1 GB file mapped 1,002 MB, the same reads after this 8 MB (Linux 6.18, ext4).
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _pages(hashes: Iterable[str]) -> Iterator[list[str]]:
    page: list[str] = []
    for h in hashes:
        page.append(h)
        if len(page) == _PAGE:
            yield page
            page = []
    if page:
        yield page


def lookup(
    store: "ChunkStore", folder: Path, key: str, hashes: Sequence[str], opened: "dict[str, Any] | None" = None
) -> "dict[str, np.ndarray]":
    """Vectors (float32) of ``hashes`` under embedder variant ``key``: the SQLite cache, then the
    arrays published for any collection built with ``key``. Missing hashes are left out.

    ``opened``: a dict the caller keeps across pages of one pass, so each set is mapped once.
    """
    import numpy as np

    found = store.cached_vectors(key, hashes)
    missing = [h for h in hashes if h not in found]
    for keys, matrix in _published(store, folder, key, {} if opened is None else opened) if missing else []:
        at, hit = Positions(keys).locate(missing)
        rows = matrix.rows(at[hit]) if isinstance(matrix, Quantized) else np.asarray(matrix[at[hit]], np.float32)
        found.update(zip((m for m, ok in zip(missing, hit) if ok), rows))
        missing = [m for m, ok in zip(missing, hit) if not ok]
        if not missing:
            break
    return found


def published(
    store: "ChunkStore", folder: Path, key: str, hashes: Sequence[str], opened: "dict[str, Any] | None" = None
) -> set[str]:
    """Those ``hashes`` whose vector (embedder variant ``key``) a published set holds: their hashes
    are read, not their vectors."""
    held: set[str] = set()
    missing = list(hashes)
    for keys, _ in _published(store, folder, key, {} if opened is None else opened, vectors=False) if missing else []:
        _, hit = Positions(keys).locate(missing)
        held.update(m for m, ok in zip(missing, hit) if ok)
        missing = [m for m, ok in zip(missing, hit) if not ok]
        if not missing:
            break
    return held


def _published(
    store: "ChunkStore", folder: Path, key: str, opened: "dict[str, Any]", vectors: bool = True
) -> Iterator[tuple[Any, Any]]:
    """``(sorted hashes, vectors)`` of the newest set of each collection built with ``key``, mapped
    once per ``opened``; without ``vectors`` only the hashes (``None`` for the vectors)."""
    import numpy as np

    for physical in store.collections_with_key(key):
        for stamp in _stamps(folder, physical)[:1]:
            where = f"{_base(folder, physical, stamp)}{'' if vectors else ':hashes'}"
            if where not in opened:
                if vectors:
                    opened[where] = load(folder, physical, stamp)
                else:
                    try:
                        opened[where] = (np.load(f"{_base(folder, physical, stamp)}.hashes.npy", mmap_mode="r"), None)
                    except (FileNotFoundError, ValueError):
                        opened[where] = None
            if opened[where] is not None:
                yield opened[where][:2]


def matrix(store: "ChunkStore", folder: Path, physical: str) -> tuple[list[str], "np.ndarray"]:
    """A reader's fallback when no arrays match its stamp: every distinct text's vector, loaded."""
    import numpy as np

    hashes: list[str] = []
    rows: list["np.ndarray"] = []
    key = store.vector_key(physical)
    opened: dict[str, Any] = {}
    for page in _pages(store.sorted_hashes(physical)):
        found = lookup(store, folder, key, page, opened)
        for h in page:
            if h in found:
                hashes.append(h)
                rows.append(found[h])
    if not rows:
        return hashes, np.zeros((0, 0), dtype=np.float32)
    return hashes, np.stack(rows).astype(np.float32, copy=False)


def uncache(store: "ChunkStore", physical: str, folder: Path) -> None:
    """After :func:`export`: the cache keeps no vector the published arrays now hold (one copy)."""
    stamps = _stamps(folder, physical)
    if stamps and stamps[0] == store.stamp(physical):
        store.uncache_texts(physical)


def load(folder: Path, physical: str, stamp: str) -> tuple[Any, Any, Any] | None:
    """``(sorted S32 hashes, vectors, bm25)`` memory-mapped, or None when the writer published none
    for ``stamp``. The vectors' ``graph`` is the stamp's HNSW graph, mapped, when it has one."""
    import numpy as np
    from scipy.sparse import csr_matrix

    from rag_app.store import ann

    base = _base(folder, physical, stamp)
    try:
        hashes = np.load(f"{base}.hashes.npy", mmap_mode="r")
        graph = ann.load(f"{base}.{ann.SUFFIX}", hashes)
        vectors: Any
        if graph is not None and not os.path.exists(f"{base}.vectors.npy"):
            vectors = GraphRows(graph, np.load(f"{base}.scales.npy", mmap_mode="r"))
        else:
            vectors = np.load(f"{base}.vectors.npy", mmap_mode="r")
            if vectors.dtype == np.int8:  # this layout: impact-ordered rows and their stats
                vectors = Quantized(vectors, np.load(f"{base}.scales.npy", mmap_mode="r"))
                vectors.graph = graph
        data, indices, indptr = (np.load(f"{base}.bm25-{p}.npy", mmap_mode="r") for p in _BM25)
    except (FileNotFoundError, ValueError):
        return None  # none for this stamp, or replaced between two opens: build from SQLite
    bm25 = csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, len(hashes)), copy=False)
    if isinstance(vectors, Quantized):
        try:
            bm25.bm25_stats = np.load(f"{base}.bm25-stats.npy")
        except (FileNotFoundError, ValueError):
            return None
    return hashes, vectors, bm25


def forget(folder: Path, physical: str, keep: str | None = None) -> None:
    """Delete ``physical``'s arrays except those of stamp ``keep`` (readers keep their open maps)."""
    if not folder.is_dir():
        return
    pattern = re.compile(re.escape(physical) + r"--[0-9a-f]{16}\.")
    for path in folder.glob(f"{physical}--*"):
        if pattern.match(path.name) and (keep is None or not path.name.startswith(f"{physical}--{keep}.")):
            path.unlink(missing_ok=True)
