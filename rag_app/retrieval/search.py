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
Chroma is only asked when the search side does not know the collection yet
(an index built before it existed, or one written by another machine).
"""

from __future__ import annotations

import fnmatch
import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag_app.errors import ConfigError, IndexMissing

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection
    from langchain_core.documents import Document

    from rag_app.settings import Settings
    from rag_app.store.index import VectorIndex

#: Hybrid fusion: weight of the (min-max normalised) cosine; BM25 gets the rest.
HYBRID_ALPHA = 0.2
#: Fusion method: "weighted" (normalised scores) or "rrf" (reciprocal ranks, k=RRF_K).
HYBRID_METHOD = "weighted"
RRF_K = 60


@dataclass(frozen=True)
class RetrievalOptions:
    """How to pick the chunks given to the model (values checked by :class:`Settings`)."""

    k: int = 4
    search: str = "hybrid"
    fetch_k: int = 20
    min_score: float = 0.0
    where: str | None = None
    mmr_lambda: float = 0.5

    @classmethod
    def from_settings(cls, settings: "Settings", where: str | None = None) -> "RetrievalOptions":
        return cls(k=settings.k, search=settings.search, fetch_k=settings.fetch_k,
                   min_score=settings.min_score, where=where or None)


def parse_where(text: str) -> tuple[str, str]:
    """``'source:docs/*.md'`` → ``("source", "docs/*.md")``."""
    field, sep, pattern = text.partition(":")
    if not sep or not field.strip() or not pattern.strip():
        raise ConfigError(f"--where must look like FIELD:GLOB, e.g. 'source:docs/*.md', got {text!r}")
    return field.strip(), pattern.strip()


def _matches(field: str, value: str, pattern: str) -> bool:
    if fnmatch.fnmatchcase(value, pattern):
        return True
    if field == "source":
        # Sources are absolute paths; let 'docs/*.md' and '*.md' match them too.
        import os

        rel = os.path.relpath(value) if os.path.isabs(value) else value
        return fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(value, "*/" + pattern.lstrip("/"))
    return False


@dataclass
class _View:
    """One collection's distinct-text vectors, loaded once per generation."""

    collection: str
    generation: int
    hashes: list[str]
    matrix: Any  # float32 (n, dim)
    row: dict[str, int]
    bm25: Any = None  # sparse (terms x n) BM25 weights, loaded on first keyword search


class Searcher:
    """Runs one retrieval against a :class:`VectorIndex` with :class:`RetrievalOptions`."""

    def __init__(self, index: "VectorIndex", remote: bool = False) -> None:
        self.index = index
        self.remote = remote  # a Chroma server others may write to: check it per query
        self._view: _View | None = None
        self._fingerprint: str | None = None
        self.corpus_builds = 0  # how often the vectors were (re)loaded into this process

    # --- what the search reads ----------------------------------------------------------

    def collection_name(self) -> str:
        index = self.index
        store = index.records.chunks
        index.refresh()  # another process may have rebuilt and switched collections
        physical = index.physical_name()
        setup = store.setup(physical)
        if self.remote or setup is None or store.generation(physical) == 0:
            collection = self._chroma_collection()
            physical = collection.name
            if self.remote:
                ids = sorted(collection.get(include=[])["ids"])
                fingerprint = hashlib.sha256("\n".join(ids).encode()).hexdigest()
                if fingerprint != self._fingerprint:
                    index.sync_search_side(collection, force=True)
                    self._fingerprint = fingerprint
            else:
                index.sync_search_side(collection, force=store.generation(physical) == 0)
            store.set_setup(physical, dict(collection.metadata or {}))
        else:
            index.check_setup(setup)
        return physical

    def _chroma_collection(self) -> "Collection":
        try:
            return self.index.collection()
        except IndexMissing:
            self.index.refresh()
            return self.index.collection()

    def view(self, physical: str) -> _View:
        store = self.index.records.chunks
        generation = store.generation(physical)
        if self._view is None or (self._view.collection, self._view.generation) != (physical, generation):
            hashes, matrix = store.matrix(physical)
            self._view = _View(physical, generation, hashes, matrix, {h: i for i, h in enumerate(hashes)})
            self.corpus_builds += 1
        return self._view

    def _allowed(self, physical: str, where: str) -> set[str]:
        field, pattern = parse_where(where)
        store = self.index.records.chunks
        values = sorted({str(v) for v in store.field_values(physical, field)})
        matching = [v for v in values if _matches(field, v, pattern)]
        if not matching:
            raise ConfigError(f"No indexed chunk has {field} matching {pattern!r}: check the --where pattern")
        return store.ids_where(physical, field, matching)

    # --- search -------------------------------------------------------------------------

    def search(self, query: str, options: RetrievalOptions) -> list["Document"]:
        import numpy as np

        physical = self.collection_name()
        view = self.view(physical)
        if not view.hashes:
            raise IndexMissing(f"The index '{self.index.name}' is empty: run `rag-app reindex` first.")
        allowed = self._allowed(physical, options.where) if options.where else None
        fetch = options.k if options.search == "vector" else max(options.fetch_k, options.k)
        q = np.asarray(self.index.embedder.embed_query(query), dtype=np.float32)
        scores = view.matrix @ q  # the cosine of every distinct text (vectors are normalised)
        if options.search == "bm25":
            ranked = [i for i, _ in self.keyword(physical, query, options.k, allowed)]
        else:
            vector = self.exact(physical, view, scores, fetch, allowed)
            if options.search == "mmr":
                ranked = self._mmr(q, view, vector, physical, options)
            elif options.search == "hybrid":
                keyword = self.keyword(physical, query, fetch, allowed)
                seen = {i for i, _ in vector}
                extra = self.index.records.chunks.rows(physical, [i for i, _ in keyword if i not in seen])
                cosines = {i: float(scores[view.row[r[2]]]) for i, r in extra.items() if r[2] in view.row}
                ranked = fuse(vector, keyword, options.k, cosines=cosines)
            else:
                ranked = [i for i, _ in vector[: options.k]]
        rows = self.index.records.chunks.rows(physical, ranked)
        documents = []
        for chunk_id in ranked:
            if chunk_id not in rows:
                continue
            text, metadata, content_hash = rows[chunk_id]
            score = round(float(scores[view.row[content_hash]]) if content_hash in view.row else 0.0, 4)
            if options.min_score and score < options.min_score:
                continue
            documents.append(_document(chunk_id, text, metadata, score))
        return documents

    def exact(
        self, physical: str, view: _View, scores: Any, n: int, allowed: set[str] | None, positive: bool = False
    ) -> list[tuple[str, float]]:
        """The ``n`` chunks of the best-scoring distinct texts, exactly: ``(chunk_id, score)``.

        ``positive``: only texts scoring above 0 (BM25: sharing a term with the question).
        """
        import numpy as np

        store = self.index.records.chunks
        out: list[tuple[str, float]] = []
        limit = int((scores > 0).sum()) if positive else len(scores)
        width = min(limit, max(n, 8))
        done = 0
        while len(out) < n and done < limit:
            if width >= len(scores):
                order = np.argsort(-scores, kind="stable")
            else:
                top = np.argpartition(-scores, width - 1)[:width]
                order = top[np.argsort(-scores[top], kind="stable")]
            batch = [view.hashes[int(i)] for i in order[done:width]]
            by_hash = store.chunks_of(physical, batch)
            for content_hash in batch:
                for chunk_id in by_hash.get(content_hash, []):
                    if allowed is None or chunk_id in allowed:
                        out.append((chunk_id, float(scores[view.row[content_hash]])))
            done = width
            width = min(limit, width * 4)
        return out[:n]

    def keyword(self, physical: str, query: str, n: int, allowed: set[str] | None) -> list[tuple[str, float]]:
        """BM25 over the distinct texts (sparse weights built once per generation), expanded to chunks."""
        import numpy as np

        from rag_app.store.bm25 import terms

        view = self.view(physical)
        store = self.index.records.chunks
        if view.bm25 is None:
            view.bm25 = store.term_matrix(physical, view.row)
        ids = [i for i in store.term_ids(terms(query)) if i < view.bm25.shape[0]]
        if not ids:
            return []
        scores = np.asarray(view.bm25[ids].sum(axis=0)).ravel()
        return self.exact(physical, view, scores, n, allowed, positive=True)

    def _mmr(
        self, q: Any, view: _View, hits: list[tuple[str, float]], physical: str, options: RetrievalOptions
    ) -> list[str]:
        if not hits:
            return []
        from langchain_core.vectorstores.utils import maximal_marginal_relevance

        hashes = self.index.records.chunks.rows(physical, [i for i, _ in hits])
        embeddings = [view.matrix[view.row[hashes[i][2]]] for i, _ in hits]
        picked = maximal_marginal_relevance(q, embeddings, lambda_mult=options.mmr_lambda, k=options.k)
        return [hits[i][0] for i in picked]


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


def _document(chunk_id: str, text: str, metadata: dict[str, Any], score: float, _embedding: Any = None) -> "Document":
    from langchain_core.documents import Document

    metadata = dict(metadata)
    metadata["chunk_id"] = chunk_id
    metadata["score"] = score
    return Document(page_content=text, metadata=metadata, id=chunk_id)
