"""BM25 for the search side: the terms of a text, the weight matrix over distinct texts, and the
accumulation of a question's postings (on impact-ordered rows, each term's highest weights only)."""

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
#: Postings read per question term from an impact-ordered matrix (the writer's published arrays,
#: each term's texts by weight, highest first): the larger of this and :data:`POSTINGS_SHARE` of
#: the texts. A fixed cap loses the texts that match several mid-weight terms as the collection
#: grows: on the 1M-chunk generated corpus (``bench/scale.py``, 40 questions) recall@4 against a
#: full read was 0.781 / 0.931 / 0.981 / 1.000 at 10k / 40k / 80k / 125k postings per term (p50
#: 1.1 / 3.1 / 5.9 / 8.7 ms, p95 5.0 / 7.3 / 12.9 / 14.7 ms; a full read p95 ~140 ms). None: every posting.
POSTINGS_CAP: int | None = 10_000
POSTINGS_SHARE = 0.125


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


def _length_norm(length: Any, avg: float, k1: float, b: float) -> Any:
    """BM25's length normalisation of a text (or of each text): k1 * (1 - b + b * len / avglen)."""
    return k1 * (1 - b + b * length / avg)


def _weight(idf: Any, tf: Any, norm: Any, k1: float) -> Any:
    """Lucene's BM25 weight of a term in a text: idf * tf * (k1 + 1) / (tf + norm), float32 in, float32 out."""
    return idf * tf * (k1 + 1) / (tf + norm)


class TermCounts:
    """Texts' ``(term id, count)`` pairs gathered into three flat buffers, without a Python object per text.

    ``add(column, blob)`` appends one text's little-endian uint32 pairs; at a million texts this is
    ~8 bytes per pair plus 8 per text, where a list of ``bytes`` and ``int`` objects costs ~200 per text more.
    """

    def __init__(self) -> None:
        from array import array

        self.pairs = bytearray()
        self.columns = array("i")
        self.sizes = array("i")

    def add(self, column: int, blob: bytes) -> None:
        self.pairs += blob
        self.columns.append(column)
        self.sizes.append(len(blob) // 8)

    def __len__(self) -> int:
        return len(self.columns)


def impact_ordered_weights(counts: TermCounts, n: int, k1: float = 1.5, b: float = 0.75) -> Any:
    """:func:`bm25_weights` of ``counts``, each term's row already impact-ordered (highest weight
    first, ties by text column): built by one sort of the pairs, with int32/float32 temporaries,
    instead of a COO -> CSR conversion and a second ordering pass (~half the peak memory)."""
    import numpy as np
    from scipy.sparse import csr_matrix

    if not len(counts) or not counts.pairs:
        return bm25_weights([], [], n, k1, b)
    pairs = np.frombuffer(counts.pairs, dtype="<u4").reshape(-1, 2)
    term_ids = pairs[:, 0].astype(np.int32)
    doc = np.repeat(np.frombuffer(counts.columns, dtype=np.int32), np.frombuffer(counts.sizes, dtype=np.int32))
    tf = pairs[:, 1].astype(np.float32)
    del pairs
    lengths = np.bincount(doc, weights=tf, minlength=n).astype(np.float32)
    avg = float(lengths[lengths > 0].mean()) if (lengths > 0).any() else 1.0
    df = np.bincount(term_ids).astype(np.float32)
    vocab = len(df)
    idf = np.log1p((np.float32(len(counts)) - df + np.float32(0.5)) / (df + np.float32(0.5))).astype(np.float32)
    weight = _weight(idf[term_ids], tf, _length_norm(lengths, avg, k1, b)[doc], k1)
    del tf
    order = np.lexsort((doc, -weight, term_ids))
    data, indices = weight[order], doc[order]
    del order, weight, doc
    indptr = np.zeros(vocab + 1, dtype=np.int64)
    np.cumsum(np.bincount(term_ids, minlength=vocab), out=indptr[1:])
    matrix = csr_matrix((data, indices, indptr), shape=(vocab, n), copy=False)
    matrix.bm25_stats = np.array([float(len(counts)), avg], dtype=np.float64)
    return matrix


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
    weight = _weight(idf[term_ids], tf, _length_norm(lengths, avg, k1, b)[doc], k1)
    matrix = csr_matrix((weight.astype(np.float32), (term_ids, doc)), shape=(vocab, n))
    matrix.bm25_stats = np.array([docs, avg], dtype=np.float64)  # what :func:`rescore` needs
    return matrix


def accumulate(matrix: Any, term_ids: Sequence[int]) -> tuple[Any, Any]:
    """``(text columns, BM25 scores)`` of every text sharing a term with the question (float32):
    all of the question's rows of the CSR ``matrix`` (see :func:`top_postings` for a bounded read)."""
    touched, sums, _ = _read(matrix, term_ids, None)
    return touched, sums


def top_postings(matrix: Any, term_ids: Sequence[int]) -> tuple[Any, Any, bool]:
    """``(text columns, BM25 sums, partial)`` from the head of each term's row of an impact-ordered
    CSR ``matrix``: at most :func:`read_cap` postings per term, its highest weights. ``partial``:
    some postings stayed unread, so the sums are lower bounds and the best texts should be
    rescored exactly (:func:`rescore`)."""
    return _read(matrix, term_ids, read_cap(matrix.shape[1]))


def _read(matrix: Any, term_ids: Sequence[int], cap: int | None) -> tuple[Any, Any, bool]:
    """The first ``cap`` postings (None: all) of each term's row, summed per text; whether any were left."""
    import numpy as np

    columns, weights, partial = [], [], False
    for term in term_ids:
        start, end = int(matrix.indptr[term]), int(matrix.indptr[term + 1])
        if cap is not None and end - start > cap:
            partial, end = True, start + cap
        columns.append(np.asarray(matrix.indices[start:end]))
        weights.append(np.asarray(matrix.data[start:end], dtype=np.float32))
    touched, sums = _summed(columns, weights, matrix.shape[1])
    return touched, sums, partial


def _summed(columns: list[Any], weights: list[Any], texts: int) -> tuple[Any, Any]:
    """Per-text sums of postings: a dense bincount over the texts (one pass, no sort of the postings;
    BM25 weights are positive, so a text with a posting has a nonzero sum)."""
    import numpy as np

    if not columns:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    dense = np.bincount(np.concatenate(columns), weights=np.concatenate(weights), minlength=texts)
    touched = np.flatnonzero(dense)
    return touched, dense[touched].astype(np.float32)


def read_cap(texts: int) -> int:
    """Postings read per question term in a collection of ``texts`` distinct texts."""
    if POSTINGS_CAP is None:
        return max(texts, 1)
    return max(POSTINGS_CAP, int(texts * POSTINGS_SHARE))


def impact_order(matrix: Any) -> Any:
    """The same CSR matrix with each row's entries by weight, highest first (for a capped read)."""
    import numpy as np
    from scipy.sparse import csr_matrix

    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    order = np.lexsort((-matrix.data, rows))
    ordered = csr_matrix((matrix.data[order], matrix.indices[order], matrix.indptr), shape=matrix.shape)
    ordered.bm25_stats = getattr(matrix, "bm25_stats", None)
    return ordered


def rescore(
    blobs: Sequence[bytes], term_ids: Sequence[int], df: Any, stats: Any, k1: float = 1.5, b: float = 0.75
) -> Any:
    """Exact BM25 scores (float32) of texts given their ``(term id, count)`` blobs, as
    :func:`bm25_weights` weighs them: ``df`` per question term, ``stats`` = (texts, average length)."""
    import numpy as np

    docs, avg = float(stats[0]), float(stats[1])
    df = np.asarray(df, dtype=np.float32)
    idf = np.log1p((docs - df + 0.5) / (df + 0.5)).astype(np.float32)
    wanted = np.asarray(term_ids, dtype=np.int64)
    out = np.zeros(len(blobs), dtype=np.float32)
    for i, blob in enumerate(blobs):
        pairs = np.frombuffer(blob, dtype="<u4").reshape(-1, 2)
        if not len(pairs):
            continue
        length = np.float32(pairs[:, 1].sum())
        hit = np.isin(pairs[:, 0], wanted)
        tf = pairs[hit, 1].astype(np.float32)
        position = np.searchsorted(np.sort(wanted), pairs[hit, 0])
        weights = idf[np.argsort(wanted)][position]
        out[i] = np.sum(_weight(weights, tf, _length_norm(length, np.float32(avg), k1, b), k1), dtype=np.float32)
    return out
