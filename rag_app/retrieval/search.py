"""Retrieval options over the vector index: k, score threshold, metadata filter, MMR, hybrid.

- ``min_score`` drops chunks whose cosine similarity to the question is lower.
- ``where`` is ``FIELD:GLOB`` (``source:docs/*.md``, ``headings:*Battery*``).
  Chroma's ``where`` cannot glob, so the glob is resolved against the values
  the collection holds and becomes a ``$in`` filter.
- ``mmr`` fetches ``fetch_k`` candidates with their stored embeddings and picks
  ``k`` by maximal marginal relevance (relevant, but not repeating each other).
- ``hybrid`` (the default) ranks the collection with BM25 (Snowball stemming,
  stop words dropped; a sparse weight matrix over the distinct texts, built
  once per process from term counts the reindex stores) and fuses it with the vector ranking: both
  lists' scores are normalised (cosine min-max over the candidates, BM25 over
  its best) and mixed with weight :data:`HYBRID_ALPHA` on the vector side.
  Measured on the shared QA sets (``bench/retrieval_quality.py``).
- ``bm25`` is the keyword ranking alone (for comparison).

Search reads the search side of the index (:mod:`rag_app.store.search_side`), not
Chroma's HNSW graph: vector search is **exact** (one matrix product over one
vector per distinct text), so a file that repeats one paragraph thousands of
times cannot hide the rest of the collection, as it does in HNSW. The matrix is
loaded once per process and reloaded when the collection's generation changes.
From :data:`rag_app.store.ann.ANN_FROM` distinct texts the writer also publishes an
HNSW graph over those same rows (one per distinct text, so repetition cannot crowd
it either); vector search then asks the graph for candidates and rescores them
exactly (:mod:`rag_app.store.ann`), unless a ``where`` filter asks for an exact scan.

Queries are read-only. Each search reads one snapshot of the search side through
its thread's own read-only connection (:mod:`rag_app.store.reader`), so a reindex
or a rebuild committing meanwhile is seen whole or not at all. When this process
has no search side for the collection (written by another machine, an older
layout), Chroma answers alone (:mod:`rag_app.retrieval.from_chroma`) until the
writer's next reindex builds it; nothing on the query path syncs or writes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Collection

from rag_app.errors import ConfigError, IndexMissing
from rag_app.retrieval.options import RetrievalOptions, glob_matches, make_document, parse_where

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from rag_app.store.index import VectorIndex
    from rag_app.store.search_side import ChunkStore

__all__ = ["HYBRID_ALPHA", "HYBRID_METHOD", "RRF_K", "RetrievalOptions", "Searcher", "fuse", "parse_where"]

#: Hybrid fusion: weight of the (min-max normalised) cosine; BM25 gets the rest.
HYBRID_ALPHA = 0.2
#: Fusion method: "weighted" (normalised scores) or "rrf" (reciprocal ranks, k=RRF_K).
HYBRID_METHOD = "weighted"
RRF_K = 60


@dataclass
class _View:
    """One collection's distinct-text vectors, loaded once per generation."""

    collection: str
    generation: int
    hashes: Any  # the distinct texts' content hashes: a list, or the writer's sorted array (mapped)
    matrix: Any  # float32 (n, dim)
    row: Any  # content hash -> row: a dict, or binary search over the mapped array
    bm25: Any = None  # sparse (terms x n) BM25 weights, loaded on first keyword search
    impact_ordered: bool = False  # the writer's arrays: each term's postings by weight (capped reads)
    graph: Any = None  # the writer's HNSW graph over the rows (large collections), mapped


class Searcher:
    """Runs one retrieval against a :class:`VectorIndex` with :class:`RetrievalOptions` (thread-safe)."""

    def __init__(self, index: "VectorIndex", remote: bool = False) -> None:
        from rag_app.store.reader import SideReader

        self.index = index
        self.remote = remote  # a Chroma server others may write to: ask it which collection serves
        self.side = SideReader(index.records.path)
        self.arrays = index.records.path.parent / "arrays"  # what the writer publishes to map
        self._view: _View | None = None
        self._loading = threading.Lock()
        self.corpus_builds = 0  # how often the vectors were (re)loaded into this process

    # --- what the search reads ----------------------------------------------------------

    def resolve(self, store: "ChunkStore | None") -> tuple[str, "ChunkStore | None"]:
        """The physical collection serving the index now, and ``store`` if it holds that collection.

        Local: the alias this snapshot records. With a server: the alias and the writer's stamp
        published beside the collection; a local search side is used only if its stamp matches.
        """
        name = self.index.name
        if self.remote:
            physical, stamp = self.index.published()
            if store is not None and store.knows(physical) and store.stamp(physical) == stamp:
                self.index.check_setup(store.setup(physical) or {})
                return physical, store
            return physical, None
        physical = store.alias(name) if store is not None and store.current else None
        if physical is None:
            return self.index.published()[0], None
        if store is not None and store.knows(physical):
            self.index.check_setup(store.setup(physical) or {})
            return physical, store
        return physical, None

    def collection_name(self) -> str:
        """The physical collection a search would read now."""
        with self.side.snapshot() as store:
            return self.resolve(store)[0]

    def view(self, physical: str, store: "ChunkStore") -> _View:
        """The vectors of ``physical`` as ``store`` (one snapshot) has them; cached per generation."""
        generation = store.generation(physical)
        view = self._view
        if view is not None and (view.collection, view.generation) == (physical, generation):
            return view
        with self._loading:
            view = self._view
            if view is None or (view.collection, view.generation) != (physical, generation):
                from rag_app.store.arrays import Quantized, load
                from rag_app.store.sorted_hashes import Hashes, Positions

                mapped = load(self.arrays, physical, store.stamp(physical))
                if mapped is not None:  # published by the writer: mapped, not loaded
                    keys, matrix, bm25 = mapped
                    quantized = isinstance(matrix, Quantized)  # int8 sets are impact-ordered
                    view = _View(physical, generation, Hashes(keys), matrix, Positions(keys), bm25,
                                 impact_ordered=quantized, graph=matrix.graph if quantized else None)
                else:
                    hashes, matrix = store.matrix(physical)
                    view = _View(physical, generation, hashes, matrix, {h: i for i, h in enumerate(hashes)})
                self._view = view
                self.corpus_builds += 1
        return view

    @property
    def loaded(self) -> _View | None:
        """The vectors (and BM25 weights) the last search used, for inspection."""
        return self._view

    def _allowed(self, store: "ChunkStore", physical: str, where: str) -> dict[str, str]:
        """``chunk id -> content hash`` of the chunks a ``where`` filter keeps."""
        field, pattern = parse_where(where)
        values = sorted({str(v) for v in store.field_values(physical, field)})
        matching = [v for v in values if glob_matches(field, v, pattern)]
        if not matching:
            raise ConfigError(f"No indexed chunk has {field} matching {pattern!r}: check the --where pattern")
        return store.ids_where(physical, field, matching)

    # --- search -------------------------------------------------------------------------

    def search(self, query: str, options: RetrievalOptions) -> list["Document"]:
        """The chunks for ``query``, from one snapshot of the index (never a half-written one)."""
        with self.side.snapshot() as side:
            physical, store = self.resolve(side)
            if store is None:
                from rag_app.retrieval.from_chroma import search_chroma

                return search_chroma(self.index, physical, query, options, remote=self.remote)
            return self._search(store, physical, query, options)

    def _search(self, store: "ChunkStore", physical: str, query: str, options: RetrievalOptions) -> list["Document"]:
        import numpy as np

        view = self.view(physical, store)
        if not view.hashes:
            raise IndexMissing(f"The index '{self.index.name}' is empty: run `rag-app reindex` first.")
        allowed = self._allowed(store, physical, options.where) if options.where else None
        fetch = options.k if options.search == "vector" else max(options.fetch_k, options.k)
        q = np.asarray(self.index.embedder.embed_query(query), dtype=np.float32)
        from rag_app.store.arrays import scores as product

        # the cosine of every distinct text (vectors are normalised), or, where the writer published
        # a graph, of the candidates it finds (rescored exactly); keyword search alone needs only
        # its results' cosines, so it scans nothing
        scores = columns = None
        if options.search != "bm25":
            if view.graph is not None and allowed is None:
                columns = view.graph.nearest(q, max(2 * fetch, 32))
                scores = view.matrix.rows(columns) @ q
            elif view.graph is not None:  # a filter: exactly, over the rows of the texts it keeps
                columns = view.row.rows_of(set(allowed.values()))
                scores = view.matrix.dot(q, columns)
            else:
                scores = product(view.matrix, q)
        known = dict(zip(columns.tolist(), scores.tolist())) if columns is not None else None

        def cosine(content_hash: str) -> float:
            if content_hash not in view.row:
                return 0.0
            i = view.row[content_hash]
            if scores is not None and known is None:
                return float(scores[i])
            if known is not None and i in known:
                return float(known[i])
            return float(np.asarray(view.matrix[i], np.float32) @ q)

        if options.search == "bm25":
            ranked = [i for i, _ in self.keyword(physical, query, options.k, allowed, store=store)]
        else:
            vector = self.exact(physical, view, scores, fetch, allowed, store=store, columns=columns)
            if options.search == "mmr":
                ranked = self._mmr(store, q, view, vector, physical, options)
            elif options.search == "hybrid":
                keyword = self.keyword(physical, query, fetch, allowed, store=store)
                seen = {i for i, _ in vector}
                extra = store.rows(physical, [i for i, _ in keyword if i not in seen])
                cosines = {i: cosine(r[2]) for i, r in extra.items() if r[2] in view.row}
                ranked = fuse(vector, keyword, options.k, cosines=cosines)
            else:
                ranked = [i for i, _ in vector[: options.k]]
        rows = store.rows(physical, ranked)
        documents = []
        for chunk_id in ranked:
            if chunk_id not in rows:
                continue
            text, metadata, content_hash = rows[chunk_id]
            score = round(cosine(content_hash), 4)
            if options.min_score and score < options.min_score:
                continue
            documents.append(make_document(chunk_id, text, metadata, score))
        return documents

    def exact(
        self, physical: str, view: _View, scores: Any, n: int, allowed: Collection[str] | None, *, store: "ChunkStore",
        columns: Any = None,
    ) -> list[tuple[str, float]]:
        """The ``n`` chunks of the best-scoring distinct texts, exactly: ``(chunk_id, score)``.

        ``scores[i]`` is the score of text ``columns[i]`` (a view row), or of row ``i`` without ``columns``.
        """
        import numpy as np

        out: list[tuple[str, float]] = []
        limit = len(scores)
        width = min(limit, max(n, 8))
        done = 0
        while len(out) < n and done < limit:
            if width >= limit:
                order = np.argsort(-scores, kind="stable")
            else:
                top = np.argpartition(-scores, width - 1)[:width]
                order = top[np.argsort(-scores[top], kind="stable")]
            batch = [(view.hashes[int(i if columns is None else columns[i])], float(scores[i])) for i in order[done:width]]
            by_hash = store.chunks_of(physical, [h for h, _ in batch])
            for content_hash, score in batch:
                out += [(c, score) for c in by_hash.get(content_hash, []) if allowed is None or c in allowed]
            done = width
            width = min(limit, width * 4)
        return out[:n]

    def keyword(
        self, physical: str, query: str, n: int, allowed: Collection[str] | None, *, store: "ChunkStore"
    ) -> list[tuple[str, float]]:
        """BM25 over the distinct texts, expanded to chunks: only the question's postings are read
        (on the writer's impact-ordered arrays, each term's highest weights: ``bm25.read_cap``)."""
        import numpy as np

        from rag_app.store.bm25 import accumulate, rescore, terms, top_postings

        view = self.view(physical, store)
        if view.bm25 is None:
            with self._loading:
                if view.bm25 is None:
                    view.bm25 = store.term_matrix(physical, view.row)
        ids = [i for i in store.term_ids(terms(query)) if i < view.bm25.shape[0]]
        partial = False
        if view.impact_ordered and allowed is None:  # each term's highest weights (bm25.read_cap)
            columns, totals, partial = top_postings(view.bm25, ids)
        else:  # a filter may drop any text: every posting of the question's terms
            columns, totals = accumulate(view.bm25, ids)
        if partial:  # the best candidates' sums are lower bounds: score them exactly
            width = min(len(totals), max(4 * n, 64))
            best = np.argpartition(-totals, width - 1)[:width] if width < len(totals) else np.arange(len(totals))
            hashes = [view.hashes[int(columns[i])] for i in best]
            blobs = store.term_counts(physical, hashes)
            df = [int(view.bm25.indptr[t + 1]) - int(view.bm25.indptr[t]) for t in ids]
            totals[best] = rescore([blobs.get(h, b"") for h in hashes], ids, df, view.bm25.bm25_stats)
        return self.exact(physical, view, totals, n, allowed, store=store, columns=columns)

    def _mmr(
        self, store: "ChunkStore", q: Any, view: _View, hits: list[tuple[str, float]], physical: str,
        options: RetrievalOptions,
    ) -> list[str]:
        if not hits:
            return []
        from langchain_core.vectorstores.utils import maximal_marginal_relevance

        hashes = store.rows(physical, [i for i, _ in hits])
        embeddings = [view.matrix[view.row[hashes[i][2]]] for i, _ in hits]
        picked = maximal_marginal_relevance(q, embeddings, lambda_mult=options.mmr_lambda, k=options.k)
        return [hits[i][0] for i in picked]

    def close(self) -> None:
        self.side.close()


def fuse(
    vector: list[tuple[str, float]],
    keyword: list[tuple[str, float]],
    k: int,
    method: str | None = None,
    alpha: float | None = None,
    rrf_k: int | None = None,
    cosines: dict[str, float] | None = None,
) -> list[str]:
    """Chunk ids best first from a vector ranking and a BM25 ranking (each ``(id, score)``, best first).

    ``cosines``: the vector score of keyword hits outside the vector list (weighted fusion
    scales them like the list, clamped to 0..1).
    """
    method = method or HYBRID_METHOD
    fused: dict[str, float] = {}
    if method == "rrf":
        depth = rrf_k if rrf_k is not None else RRF_K
        for ranking in (vector, keyword):
            for rank, (chunk_id, _) in enumerate(ranking, 1):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (depth + rank)
    else:
        weight = HYBRID_ALPHA if alpha is None else alpha
        if vector:
            high, low = vector[0][1], vector[-1][1]
            span = (high - low) or 1.0
            for chunk_id, score in list(vector) + list((cosines or {}).items()):
                fused[chunk_id] = weight * min(max((score - low) / span, 0.0), 1.0)
        if keyword:
            best = keyword[0][1] or 1.0
            for chunk_id, score in keyword:
                fused[chunk_id] = fused.get(chunk_id, 0.0) + (1 - weight) * score / best
    return sorted(fused, key=lambda i: -fused[i])[:k]
