"""Search answered by Chroma alone, read-only: when this process has no search side for the collection.

That is an index written by another machine (a ``CHROMA_HOST`` reader that keeps no
local copy), an index built before the search side existed, or one whose search side
has an older layout; the next ``rag-app reindex`` (the writer) builds it. Chroma's
HNSW graph ranks by cosine; keyword search needs the search side, so ``hybrid`` and
``bm25`` are answered by the vector ranking here (logged once per process).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from rag_app.errors import ConfigError, IndexMissing

if TYPE_CHECKING:
    from chromadb.api.models.Collection import Collection
    from langchain_core.documents import Document

    from rag_app.retrieval.options import RetrievalOptions
    from rag_app.store.index import VectorIndex

log = logging.getLogger("rag_app.retrieval")
_warned = threading.Event()


def open_collection(index: "VectorIndex", physical: str) -> "Collection":
    """``physical``, checked against the current settings (IndexMissing when it is not there)."""
    try:
        collection = index.client.get_collection(physical, embedding_function=None)
    except IndexMissing:
        raise
    except Exception:  # chromadb raises NotFoundError / ValueError depending on version
        raise IndexMissing(
            f"No index named '{index.name}' yet: run `rag-app reindex` (default: data/) first."
        ) from None
    index.check_setup(dict(collection.metadata or {}))
    return collection


def search_chroma(
    index: "VectorIndex", physical: str, query: str, options: "RetrievalOptions", remote: bool = False
) -> list["Document"]:
    """The chunks for ``query`` from Chroma's own index of ``physical`` (no local state).

    ``remote``: a server's reader, for which this is the normal path (no warning).
    """
    from rag_app.retrieval.options import glob_matches, make_document, parse_where

    collection = open_collection(index, physical)
    total = collection.count()
    if total == 0:
        raise IndexMissing(f"The index '{index.name}' is empty: run `rag-app reindex` first.")
    if options.search in ("hybrid", "bm25") and not _warned.is_set():
        _warned.set()
        (log.info if remote else log.warning)("keyword search needs the search side, which `rag-app reindex` builds; "
                    "answering with vector search from Chroma")
    where = None
    if options.where:
        field, pattern = parse_where(options.where)
        values = sorted({str(v) for v in _field_values(collection, field)})
        matching = [v for v in values if glob_matches(field, v, pattern)]
        if not matching:
            raise ConfigError(f"No indexed chunk has {field} matching {pattern!r}: check the --where pattern")
        where = {field: {"$in": matching}}
    mmr = options.search == "mmr"
    n = min(max(options.fetch_k, options.k) if mmr else options.k, total)
    q = index.embedder.embed_query(query)
    include: list[Any] = ["documents", "metadatas", "distances"] + (["embeddings"] if mmr else [])
    got = collection.query(query_embeddings=[q], n_results=n, where=where, include=include)
    ids = got["ids"][0]
    texts = (got.get("documents") or [[]])[0]
    metas = (got.get("metadatas") or [[]])[0]
    scores = [1.0 - float(d) for d in (got.get("distances") or [[]])[0]]  # cosine space
    order = list(range(len(ids)))
    if mmr and ids:
        from langchain_core.vectorstores.utils import maximal_marginal_relevance

        embeddings = (got.get("embeddings") or [[]])[0]
        order = maximal_marginal_relevance(q, list(embeddings), lambda_mult=options.mmr_lambda, k=options.k)
    documents = []
    for i in order[: options.k]:
        score = round(scores[i], 4)
        if options.min_score and score < options.min_score:
            continue
        documents.append(make_document(ids[i], texts[i] or "", dict(metas[i] or {}), score))
    return documents


def _field_values(collection: "Collection", field: str, page: int = 5000) -> set[Any]:
    values: set[Any] = set()
    offset = 0
    while True:
        got = collection.get(include=["metadatas"], limit=page, offset=offset)
        values.update(m[field] for m in got["metadatas"] or [] if m and m.get(field) is not None)
        if len(got["ids"]) < page:
            return values
        offset += page
