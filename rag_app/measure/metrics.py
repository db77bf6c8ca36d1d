"""Scoring functions for evaluation: answers (EM, F1, containment) and retrieval (hit, MRR, nDCG).

Pure functions on strings and lists, no model and no I/O, so they are easy to
check by hand. Answer normalisation follows the SQuAD evaluation script:
lower case, no punctuation, no articles, single spaces.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from typing import Iterable, Sequence

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)
_WORD = re.compile(r"[a-z0-9]+")

#: References with at most this many tokens are scored by EM/F1; longer ones by key-token containment.
SHORT_ANSWER_TOKENS = 12


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower, drop punctuation and articles, squeeze spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, references: Sequence[str]) -> float:
    """1.0 if the normalised prediction equals any normalised reference."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(r) for r in references))


def _f1(prediction: str, reference: str) -> float:
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, references: Sequence[str]) -> float:
    """SQuAD token F1, the best over the references."""
    return max((_f1(prediction, r) for r in references), default=0.0)


def contains_answer(prediction: str, references: Sequence[str]) -> float:
    """1.0 if a normalised reference occurs, as whole words, in the normalised prediction."""
    pred = f" {normalize_answer(prediction)} "
    return float(any(ref and f" {ref} " in pred for ref in (normalize_answer(r) for r in references)))


def key_tokens(text: str) -> set[str]:
    """Distinct content words (stopwords dropped, tiny stemmer): what a long answer must mention."""
    from chains.text import content_words

    return {w for w in content_words(text) if len(w) > 2 or w.isdigit()}


def key_token_recall(prediction: str, reference: str) -> float:
    """Share of the reference's key tokens that the prediction mentions."""
    wanted = key_tokens(reference)
    if not wanted:
        return 0.0
    return len(wanted & key_tokens(prediction)) / len(wanted)


def key_token_precision(prediction: str, reference: str) -> float:
    """Share of the prediction's key tokens that the reference uses: is the answer drawn from it?"""
    said = key_tokens(prediction)
    return len(said & key_tokens(reference)) / len(said) if said else 0.0


#: A long reference counts as answered when this share of the answer's key tokens comes from it ...
LONG_PRECISION = 0.6
#: ... and the answer names at least this many of the reference's key tokens.
LONG_MIN_SHARED = 3


def is_short(reference: str) -> bool:
    return len(normalize_answer(reference).split()) <= SHORT_ANSWER_TOKENS


# --- passage overlap --------------------------------------------------------------------

def words(text: str) -> list[str]:
    """Lower-case alphanumeric tokens: markup and punctuation do not matter for overlap."""
    return _WORD.findall(text.lower())


def shingles(tokens: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(max(len(tokens) - n + 1, 0))}


def passage_overlap(chunk: str, passage: str, n: int = 5) -> float:
    """How much of the shorter of the two texts the other contains, by shared word ``n``-grams.

    1.0 when the chunk lies inside the passage or the passage inside the chunk;
    about 0.15 when a 200-token chunk only shares its 30-token overlap with the
    passage; 0 for a different paragraph of the same file.
    """
    a, b = words(chunk), words(passage)
    if not a or not b:
        return 0.0
    n = min(n, len(a), len(b))
    sa, sb = shingles(a, n), shingles(b, n)
    return len(sa & sb) / min(len(sa), len(sb))


#: A chunk counts as retrieving a gold passage when at least this share of the shorter text overlaps.
OVERLAP_THRESHOLD = 0.3


# --- ranking ------------------------------------------------------------------------------

def hit_at_k(relevant: Sequence[bool], k: int) -> float:
    return float(any(relevant[:k]))


def reciprocal_rank(relevant: Sequence[bool], k: int) -> float:
    for rank, rel in enumerate(relevant[:k], 1):
        if rel:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(relevant: Sequence[bool], k: int, total_relevant: int | None = None) -> float:
    """Binary-relevance nDCG@k; the ideal ranking puts ``total_relevant`` hits first.

    ``total_relevant`` defaults to the hits found, which overrates a system that
    misses relevant chunks it never retrieved; pass the true count when known.
    """
    dcg = sum(1.0 / math.log2(rank + 1) for rank, rel in enumerate(relevant[:k], 1) if rel)
    ideal_hits = min(k, max(total_relevant if total_relevant is not None else sum(relevant[:k]), 0))
    if ideal_hits == 0:
        return 0.0
    idcg = sum(1.0 / math.log2(rank + 1) for rank in range(1, ideal_hits + 1))
    return min(dcg / idcg, 1.0)


def percentile(values: Iterable[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100); NaN for no values."""
    data = sorted(values)
    if not data:
        return float("nan")
    pos = (len(data) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return data[low] + (data[high] - data[low]) * (pos - low)


def mean(values: Iterable[float | None]) -> float | None:
    data = [v for v in values if v is not None]
    return sum(data) / len(data) if data else None
