"""The approximate vector index of a large collection: an HNSW graph over its distinct texts.

Exact search scans every distinct text's int8 vector (:mod:`rag_app.store.arrays`): about
0.18 us per text per question on this 2-core machine, 36 ms at 200k texts, 120-180 ms at 1M,
and a first query touches every page of the vectors file. From :data:`ANN_FROM` distinct texts
the writer therefore also publishes ``NAME--STAMP.hnsw.usearch``: a `USearch
<https://github.com/unum-cloud/usearch>`_ HNSW graph (cosine, ``i8``) of the same int8 codes,
keyed by the first 64 bits of each text's content hash (keys sort like the rows, and a text keeps
its key across stamps). It stores the codes itself, so it replaces the vectors file
(:class:`rag_app.store.arrays.GraphRows`; kept only if two texts ever share a key). It is part of
the stamp's set (written before the hashes file that completes it, deleted with it). A run that changes a small share of
the texts updates the previous stamp's graph (removes what left, adds what came) instead of
building it again.

Why not Chroma's own HNSW: it holds one vector per *chunk*, so thousands of copies of one text
crowd everything else out of the graph (``tests/test_recall.py``), and a second Chroma collection
of distinct texts would store every text's float32 vector again (~1.9 KB per text on disk). This
graph holds one int8 vector per distinct text (384 B at 384 dimensions) plus its links.

A reader maps it (``view``: nothing copied) and asks it for the best rows; search then rescores
those candidates exactly from their codes and scales, so the scores shown are the exact path's. A
``where`` filter scores exactly the rows of the texts it keeps: the graph cannot skip what it drops.
Recall against exact search is measured by ``bench/ann.py`` and ``bench/scale.py``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

#: Distinct texts from which the writer builds the graph. Below it exact search answers within
#: the hybrid budget (36 ms for the vector side at 200k texts; hybrid p95 60 ms in all).
ANN_FROM = 200_000
#: Graph degree and build-time beam (USearch's defaults are 16 and 128).
CONNECTIVITY = 16
EXPANSION_ADD = 128
#: Search beam: candidates the graph walk keeps (more: better recall, slower, more of the mapped
#: file touched). Measured with the shipped MiniLM on 100,650 generated texts (``bench/ann.py
#: --expansion 256,384,512,768 --queries 400``): recall@4 against float32 exact 0.955 / 0.971 /
#: 0.979 / 0.988 (an earlier build: 0.977 / 0.986 / 0.993 at 384 / 512 / 768); the shared QA
#: sets reach 0.994-0.996 already at 128. At 1M chunks (fake vectors) a cold CLI query peaks at
#: 548 / 589 / 623 MB at 256 / 384 / 512 (the walk's scattered pages of the mapped graph), so
#: 384: under the 600 MB target, recall within a point of 512. A wider build beam
#: (``expansion_add`` 256: 0.981 at 384) took 77% longer to build and touched more pages (614 MB).
EXPANSION_SEARCH = 384
#: Rows added to the graph per call (progress and memory stay bounded).
_ADD_PAGE = 50_000
#: A run that removes or adds more than this share of the texts rebuilds the graph whole;
#: below it the previous stamp's graph is updated in place (removed slots are reused).
REBUILD_SHARE = 0.25
SUFFIX = "hnsw.usearch"


def _usearch() -> Any:
    """``usearch.index``, imported so that later extensions still work.

    USearch's extension carries its own copy of the C++ runtime; imported before any module that
    loads the system ``libstdc++``, its process-wide (GNU-unique) runtime symbols win, and a later
    ``import onnxruntime`` (the shipped embedding model's runtime) crashes the process in
    ``std::codecvt``. Loading the system ``libstdc++`` globally first keeps its symbols in charge.
    """
    import ctypes

    try:
        ctypes.CDLL("libstdc++.so.6", mode=ctypes.RTLD_GLOBAL)
    except OSError:  # not a glibc system: no shared runtime to protect
        pass
    import usearch.index

    return usearch.index


def keys_of(hashes: Any) -> "np.ndarray":
    """Graph keys of content hashes (a sorted ``S32`` array): the first 64 bits of each, so keys
    sort like the rows and stay the same for a text from one stamp to the next."""
    import numpy as np

    prefixes = np.asarray(hashes).astype("S16").tobytes()
    return np.frombuffer(bytes.fromhex(prefixes.decode()), dtype=">u8").astype(np.uint64)


def holds_every_row(hashes: Any) -> bool:
    """Whether a graph of ``hashes`` (sorted) holds a vector for each: no two share a key."""
    import numpy as np

    keys = keys_of(hashes)
    return bool(np.all(keys[1:] != keys[:-1]))


def build(vectors: Any, hashes: Any, path: str | Path, previous: str | Path | None = None, threads: int = 0) -> str:
    """Write the graph of ``vectors`` (int8 rows of the sorted ``hashes``: an array, or the path of
    a ``.npy`` file) to ``path``: ``previous`` (the last stamp's graph) updated with what changed
    when that is a small share, else built whole. Returns ``"updated"`` or ``"built"``.

    A file is mapped one page of rows at a time: what was read leaves the process with its map,
    so the build holds the graph, not the graph and the whole file (1M texts: 384 MB).
    """
    import numpy as np

    usearch = _usearch()
    Index, ScalarKind = usearch.Index, usearch.ScalarKind
    n, dim = _rows_source(vectors).shape
    keys = keys_of(hashes)
    first = np.ones(n, dtype=bool)
    first[1:] = keys[1:] != keys[:-1]  # two texts sharing 64 bits (~1e-8 at 1M): the second is left to exact scans
    threads = threads or os.cpu_count() or 1
    index = Index.restore(str(previous)) if previous and os.path.exists(previous) else None
    if index is not None and (index.ndim != dim or index.dtype != ScalarKind.I8):
        index = None  # another layout: build anew
    add = np.flatnonzero(first)
    if index is not None:
        old = np.sort(np.asarray(index.keys, dtype=np.uint64))
        gone = np.setdiff1d(old, keys[first], assume_unique=True)
        add = add[~np.isin(keys[add], old, assume_unique=True)]
        if len(gone) + len(add) <= REBUILD_SHARE * max(n, 1):
            if len(gone):
                index.remove(gone)
        else:
            index, add = None, np.flatnonzero(first)
    outcome = "updated" if index is not None else "built"
    if index is None:
        index = Index(ndim=dim, metric="cos", dtype="i8", connectivity=CONNECTIVITY, expansion_add=EXPANSION_ADD)
    for start in range(0, len(add), _ADD_PAGE):
        rows = add[start : start + _ADD_PAGE]
        index.add(keys[rows], np.ascontiguousarray(_rows_source(vectors)[rows], dtype=np.int8), threads=threads)
    index.save(str(path))
    return outcome


def _rows_source(vectors: Any) -> Any:
    """``vectors`` itself, or the ``.npy`` file it names mapped anew (unmapped when dropped)."""
    import numpy as np

    return np.load(vectors, mmap_mode="r") if isinstance(vectors, (str, Path)) else vectors


class Graph:
    """A published graph, mapped, searched by one thread at a time (USearch's Python search shares
    one search context per index, so concurrent calls are serialised here; each takes 1-4 ms)."""

    def __init__(self, index: Any, hashes: Any) -> None:
        self.index = index
        self.hashes = hashes  # the stamp's sorted S32 hashes: a key's row is where its prefix sorts
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.index)

    def nearest(self, q: "np.ndarray", count: int) -> "np.ndarray":
        """Rows of the ``count`` texts nearest to ``q`` (a normalised float32 vector)."""
        import numpy as np

        scale = float(np.abs(q).max()) / 127.0 or 1.0  # the question as int8 codes, like the rows
        codes = np.clip(np.rint(q / scale), -127, 127).astype(np.int8)
        with self._lock:
            found = self.index.search(codes, min(count, len(self.index)))
        prefixes = np.asarray([f"{int(k):016x}" for k in found.keys], dtype="S16")
        return np.searchsorted(self.hashes, prefixes).astype(np.int64)

    def codes(self, rows: "np.ndarray") -> "np.ndarray":
        """The int8 codes the graph stores for ``rows`` (of its stamp's sorted hashes)."""
        import numpy as np

        keys = keys_of(self.hashes[rows])
        with self._lock:
            found = self.index.get(keys, dtype=np.int8)
        if not len(found):
            return np.zeros((0, self.index.ndim), dtype=np.int8)
        return np.stack(found)


def load(path: str | Path, hashes: Any) -> Graph | None:
    """The graph at ``path`` memory-mapped (``hashes``: its stamp's), or None when there is none."""
    if not os.path.exists(path):
        return None
    Index = _usearch().Index
    try:
        index = Index.restore(str(path), view=True)
    except (RuntimeError, ValueError, OSError):
        return None  # replaced between two opens, or truncated: exact search answers
    if index is None:
        return None
    index.expansion_search = EXPANSION_SEARCH
    return Graph(index, hashes)
