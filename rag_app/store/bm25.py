"""BM25 for the search side: the terms of a text, and the weight matrix over distinct texts."""

from __future__ import annotations

import re
from typing import Any, Sequence

_TERM = re.compile(r"[^\W_]+")
_HYPHENATED = re.compile(r"[^\W_]+(?:-[^\W_]+)+")


def query_terms(text: str) -> list[str]:
    """The words of a question BM25 ranks by: lower-cased, stop words dropped, each once (unstemmed)."""
    from chains.text import STOPWORDS

    seen: dict[str, None] = {}
    for word in _TERM.findall(text.lower()):
        if word not in STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)


_stemmer: Any = None


def terms(text: str) -> list[str]:
    """BM25 terms of ``text``: lower-cased words, stop words dropped, Snowball-stemmed (English)."""
    global _stemmer
    from chains.text import STOPWORDS

    if _stemmer is None:
        import Stemmer

        _stemmer = Stemmer.Stemmer("english")
    lowered = text.lower()
    words = [w for w in _TERM.findall(lowered) if w not in STOPWORDS]
    words += [w.replace("-", "") for w in _HYPHENATED.findall(lowered)]  # "e-bikes" also matches "ebike"
    return _stemmer.stemWords(words) if words else []


def bm25_weights(columns: Sequence[int], blobs: Sequence[bytes], n: int, k1: float = 1.5, b: float = 0.75) -> Any:
    """BM25 weights as a sparse (terms x texts) CSR matrix with ``n`` text columns.

    ``blobs[i]`` holds text ``columns[i]``'s ``(term id, count)`` pairs as little-endian
    uint32. Lucene's BM25 over the distinct texts: idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
    weight = idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avglen)).
    """
    import numpy as np
    from scipy.sparse import csr_matrix

    if not blobs:
        return csr_matrix((1, max(n, 1)), dtype=np.float32)
    sizes = np.fromiter((len(blob) // 8 for blob in blobs), dtype=np.int64, count=len(blobs))
    pairs = np.frombuffer(b"".join(blobs), dtype="<u4").reshape(-1, 2)
    term_ids = pairs[:, 0].astype(np.int64)
    tf = pairs[:, 1].astype(np.float32)
    doc = np.repeat(np.asarray(columns, dtype=np.int64), sizes)
    lengths = np.zeros(n, dtype=np.float32)
    np.add.at(lengths, doc, tf)
    avg = float(lengths[lengths > 0].mean()) if (lengths > 0).any() else 1.0
    vocab = int(term_ids.max()) + 1
    df = np.bincount(term_ids, minlength=vocab).astype(np.float32)
    docs = float(len(blobs))
    idf = np.log1p((docs - df + 0.5) / (df + 0.5))
    weight = idf[term_ids] * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths[doc] / avg))
    return csr_matrix((weight.astype(np.float32), (term_ids, doc)), shape=(vocab, n))
