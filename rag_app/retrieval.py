"""Retrieval options over the vector index: k, score threshold, metadata filter, MMR, hybrid.

- ``min_score`` drops chunks whose cosine similarity to the question is lower.
- ``where`` is ``FIELD:GLOB`` (``source:docs/*.md``, ``headings:*Battery*``).
  Chroma's ``where`` cannot glob, so the glob is resolved against the values
  the collection holds and becomes a ``$in`` filter.
- ``mmr`` fetches ``fetch_k`` candidates with their stored embeddings and picks
  ``k`` by maximal marginal relevance (relevant, but not repeating each other).
- ``hybrid`` ranks the collection with BM25 over the chunk texts and fuses that
  ranking with the vector ranking by reciprocal rank fusion (RRF, k=60).

The chunk texts, metadata and the BM25 index are cached per collection and
rebuilt when its set of chunk ids changes (ids derive from source and content,
so the id set identifies what the collection holds).
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag_app.errors import ConfigError, IndexMissing

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection
    from langchain_core.documents import Document

    from rag_app.index import VectorIndex

SEARCH_MODES = ("vector", "mmr", "hybrid")
RRF_K = 60


@dataclass(frozen=True)
class RetrievalOptions:
    """How to pick the chunks given to the model."""

    k: int = 4
    search: str = "vector"
    fetch_k: int = 20
    min_score: float = 0.0
    where: str | None = None
    mmr_lambda: float = 0.5

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ConfigError(f"k must be at least 1, got {self.k}")
        if self.search not in SEARCH_MODES:
            raise ConfigError(f"search must be one of {', '.join(SEARCH_MODES)}, got {self.search!r}")
        if not -1.0 <= self.min_score <= 1.0:
            raise ConfigError(f"min_score is a cosine similarity between -1 and 1, got {self.min_score}")


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
class _Corpus:
    fingerprint: str
    ids: list[str]
    texts: list[str]
    metadatas: list[dict[str, Any]]
    bm25: Any = None

    def bm25_index(self) -> Any:
        if self.bm25 is None:
            try:
                from rank_bm25 import BM25Okapi
            except ImportError:
                raise ConfigError("Hybrid search needs rank-bm25: pip install 'rag-app[hybrid]'") from None

            from chains.text import content_words

            tokens = [content_words(t) or ["<empty>"] for t in self.texts]
            self.bm25 = BM25Okapi(tokens)
        return self.bm25


class Searcher:
    """Runs one retrieval against a :class:`VectorIndex` with :class:`RetrievalOptions`."""

    def __init__(self, index: "VectorIndex") -> None:
        self.index = index
        self._corpus: _Corpus | None = None
        self.corpus_builds = 0  # how often the cache was (re)built

    # --- the cached corpus -------------------------------------------------------------

    def corpus(self, collection: "Collection") -> _Corpus:
        ids = sorted(collection.get(include=[])["ids"])
        fingerprint = hashlib.sha256("\n".join(ids).encode()).hexdigest()
        if self._corpus is None or self._corpus.fingerprint != fingerprint:
            got = collection.get(include=["documents", "metadatas"])
            self._corpus = _Corpus(
                fingerprint,
                list(got["ids"]),
                [t or "" for t in got["documents"] or []],
                [dict(m or {}) for m in got["metadatas"] or []],
            )
            self.corpus_builds += 1
        return self._corpus

    def _allowed(self, corpus: _Corpus, where: str) -> tuple[dict[str, Any], set[str]]:
        field, pattern = parse_where(where)
        values = sorted({str(m[field]) for m in corpus.metadatas if m.get(field) is not None})
        matching = [v for v in values if _matches(field, v, pattern)]
        if not matching:
            raise ConfigError(f"No indexed chunk has {field} matching {pattern!r}: check the --where pattern")
        chosen = set(matching)
        allowed = {i for i, m in zip(corpus.ids, corpus.metadatas) if str(m.get(field)) in chosen}
        # Chroma compares typed values; metadata of one field has one type in practice.
        typed = sorted({m[field] for m in corpus.metadatas if str(m.get(field)) in chosen}, key=str)
        return {field: {"$in": typed}}, allowed

    # --- search -------------------------------------------------------------------------

    def search(self, query: str, options: RetrievalOptions) -> list["Document"]:
        try:
            collection = self.index.collection()
        except IndexMissing:
            self.index.refresh()  # another writer may have rebuilt and switched collections
            collection = self.index.collection()
        total = collection.count()
        if total == 0:
            raise IndexMissing(f"The index '{self.index.name}' is empty: run `rag-app reindex` first.")
        where: dict[str, Any] | None = None
        allowed: set[str] | None = None
        corpus = None
        if options.where or options.search == "hybrid":
            corpus = self.corpus(collection)
        if options.where:
            assert corpus is not None
            where, allowed = self._allowed(corpus, options.where)
            total = len(allowed)
        vector = self.index.embedder.embed_query(query)
        fetch = options.k if options.search == "vector" else max(options.fetch_k, options.k)
        hits = self._vector(collection, vector, min(fetch, total), where, with_embeddings=options.search == "mmr")

        if options.search == "mmr":
            hits = self._mmr(vector, hits, options)
        elif options.search == "hybrid":
            assert corpus is not None
            hits = self._hybrid(collection, query, vector, hits, corpus, allowed, options)
        else:
            hits = hits[: options.k]
        if options.min_score:
            hits = [h for h in hits if h[3] >= options.min_score]
        return [_document(*h) for h in hits]

    def _vector(
        self, collection: "Collection", vector: list[float], n: int, where: dict[str, Any] | None, with_embeddings: bool
    ) -> list[tuple]:
        include = ["documents", "metadatas", "distances"] + (["embeddings"] if with_embeddings else [])
        result = collection.query(query_embeddings=[vector], n_results=max(n, 1), where=where, include=include)  # type: ignore[arg-type]
        embeddings = result.get("embeddings")
        rows = []
        for i, chunk_id in enumerate(result["ids"][0]):
            rows.append(
                (
                    chunk_id,
                    result["documents"][0][i] or "",  # type: ignore[index]
                    dict(result["metadatas"][0][i] or {}),  # type: ignore[index]
                    round(1.0 - float(result["distances"][0][i]), 4),  # type: ignore[index]
                    list(embeddings[0][i]) if embeddings is not None else None,
                )
            )
        return rows

    def _mmr(self, vector: list[float], hits: list[tuple], options: RetrievalOptions) -> list[tuple]:
        if not hits:
            return hits
        import numpy as np
        from langchain_core.vectorstores.utils import maximal_marginal_relevance

        picked = maximal_marginal_relevance(
            np.array(vector, dtype=np.float32), [h[4] for h in hits], lambda_mult=options.mmr_lambda, k=options.k
        )
        return [hits[i] for i in picked]

    def _hybrid(
        self,
        collection: "Collection",
        query: str,
        vector: list[float],
        hits: list[tuple],
        corpus: _Corpus,
        allowed: set[str] | None,
        options: RetrievalOptions,
    ) -> list[tuple]:
        from chains.text import content_words

        words = content_words(query)
        keyword: list[str] = []
        if words:
            scores = corpus.bm25_index().get_scores(words)
            order = sorted(range(len(corpus.ids)), key=lambda i: -scores[i])
            keyword = [
                corpus.ids[i] for i in order if scores[i] > 0 and (allowed is None or corpus.ids[i] in allowed)
            ][: max(options.fetch_k, options.k)]
        fused: dict[str, float] = {}
        for ranking in ([h[0] for h in hits], keyword):
            for rank, chunk_id in enumerate(ranking, 1):
                fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (RRF_K + rank)
        best = sorted(fused, key=lambda i: -fused[i])[: options.k]
        known = {h[0]: h for h in hits}
        missing = [i for i in best if i not in known]
        if missing:
            got = collection.get(ids=missing, include=["documents", "metadatas", "embeddings"])
            for chunk_id, text, meta, emb in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"]):  # type: ignore[arg-type]
                known[chunk_id] = (chunk_id, text or "", dict(meta or {}), round(_cosine(vector, list(emb)), 4), None)
        return [known[i] for i in best]


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def _document(chunk_id: str, text: str, metadata: dict[str, Any], score: float, _embedding: Any = None) -> "Document":
    from langchain_core.documents import Document

    metadata = dict(metadata)
    metadata["chunk_id"] = chunk_id
    metadata["score"] = score
    return Document(page_content=text, metadata=metadata, id=chunk_id)
