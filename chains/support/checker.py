"""The checker: scores each sentence of an answer against the passages and decides what to show."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Sequence

from chains.support.evidence import (
    ABSTAIN, LIST_MARKER, PREAMBLE, Claim, Span, cosine, lexical, names, numbers, passage_spans, squash,
    strip_markers,
)
from chains.support.result import ABSTAINED, NOT_IN_DOCUMENTS, PARTIAL, SUPPORTED, UNSUPPORTED, SentenceSupport, Support
from chains.text import content_words, sentence_spans

if TYPE_CHECKING:
    from langchain_core.documents import Document

EmbedFn = Callable[[list[str]], list[list[float]]]

MODES = ("flag", "fallback", "drop")
#: Support below this (per sentence) is "not supported"; calibrated with bench/support_eval.py.
DEFAULT_THRESHOLD = 0.5

NOT_IN_DOCUMENTS_TEXT = "Not in the documents: nothing retrieved is close enough to the question to answer it."
DROPPED_TEXT = "The documents do not answer this: the generated answer was not supported by them."
FALLBACK_NOTE = (
    "The generated answer was not supported by the documents; "
    "these are the passages closest to the question instead."
)
UNSUPPORTED_MARK = "[unsupported]"
#: A sentence of at least this many words found verbatim in a passage is a quote: supported.
QUOTE_WORDS = 6


class SupportChecker:
    """Checks answers against their retrieved passages; one per app, cheap to call.

    ``embed`` embeds a batch of texts (the app's loaded embedding model). ``min_relevance``:
    below this best retrieval score the question is "not in the documents" (0 turns it off).
    """

    def __init__(
        self,
        embed: EmbedFn,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        mode: str = "flag",
        min_relevance: float = 0.0,
        shortlist: int = 1,
        short_claim_words: int = 4,
        clear_words: float = 0.8,
        max_embedded: int = 8,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
        self.embed = embed
        self.threshold = threshold
        self.mode = mode
        self.min_relevance = min_relevance
        self.shortlist = shortlist
        self.short_claim_words = short_claim_words
        #: Word coverage at or above this (or at or below 1 minus it) decides without the model.
        self.clear_words = clear_words
        #: Most texts embedded per answer (~7 ms each on two CPU cores); the rest go by words.
        self.max_embedded = max_embedded

    # -- before generation

    def not_in_documents(self, documents: Sequence["Document"]) -> Support | None:
        """A :class:`Support` saying so when nothing retrieved is relevant enough, else ``None``."""
        best = max((float(d.metadata.get("score", 0.0)) for d in documents), default=0.0)
        if documents and best >= self.min_relevance:
            return None
        note = (
            f"The best match scores {best:.2f}, under the relevance threshold {self.min_relevance:.2f}; "
            "no answer was generated."
            if documents
            else "Nothing was retrieved; no answer was generated."
        )
        return Support(NOT_IN_DOCUMENTS, 0.0, self.threshold, action=NOT_IN_DOCUMENTS, note=note,
                       cited_text=NOT_IN_DOCUMENTS_TEXT)

    # -- after generation

    def check(self, question: str, answer: str, documents: Sequence["Document"]) -> Support:
        """Match every sentence of ``answer`` to its best supporting span."""
        import time

        started = time.perf_counter()
        plain = strip_markers(answer).strip()
        pieces = [(a, b, " ".join(plain[a:b].split())) for a, b in sentence_spans(plain)]
        if not plain or ABSTAIN.match(plain):
            support = Support(ABSTAINED, 0.0, self.threshold, cited_text=plain)
            support.check_ms = (time.perf_counter() - started) * 1000
            return support
        spans = passage_spans(documents)
        everywhere: set[str] = set().union(*(s.critical | s.words for s in spans)) if spans else set()
        question_words = set(content_words(question))
        claims: list[Claim | None] = []
        for _, _, text in pieces:
            core = PREAMBLE.sub("", LIST_MARKER.sub("", text, count=1))
            words = set(content_words(core))
            if not words:
                claims.append(None)  # "Yes." or "The answer is:" claims nothing
                continue
            critical = numbers(core) | names(core)
            short = len(words) < self.short_claim_words
            claims.append(Claim(
                text, f"{question} {core}" if short else core, words, critical,
                restated=words & question_words, asked=question_words - words if short else set(),
            ))
        results = self._score(claims, spans, everywhere)
        sentences = [r for r in results if r is not None]
        weights = [max(len(c.words), 1) for c in claims if c is not None]
        if not sentences:
            # Nothing checkable was said ("The answer to this question is:").
            sentences = [SentenceSupport(pieces[0][2] if pieces else plain, 0.0, False)]
            weights = [1]
        score = sum(s.score * w for s, w in zip(sentences, weights)) / sum(weights)
        good = sum(s.supported for s in sentences)
        status = SUPPORTED if good == len(sentences) else UNSUPPORTED if good == 0 else PARTIAL
        support = Support(status, score, self.threshold, sentences,
                          cited_text=_cite(plain, pieces, results))
        support.check_ms = (time.perf_counter() - started) * 1000
        return support

    def _score(
        self, claims: list[Claim | None], spans: list[Span], everywhere: set[str]
    ) -> list[SentenceSupport | None]:
        """Decide what the words decide; embed only the claims still in doubt, in one call."""
        results: list[SentenceSupport | None] = []
        doubtful: list[tuple[int, Claim, list[tuple[int, float, float]], tuple[str, ...]]] = []
        for claim in claims:
            if claim is None:
                results.append(None)
                continue
            missing = tuple(sorted(w for w in claim.critical if w not in everywhere))
            if not spans:
                results.append(SentenceSupport(claim.text, 0.0, False, (), missing))
                continue
            squashed = squash(PREAMBLE.sub("", claim.text))
            if squashed.count(" ") + 1 >= QUOTE_WORDS:
                hit = next((s for s in spans if squashed in squash(s.text)), None)
                if hit is not None:  # quoted verbatim
                    results.append(SentenceSupport(claim.text, 1.0, True, (replace(hit.citation, score=1.0),)))
                    continue
            ranked = sorted(
                ((i, *lexical(claim, s)) for i, s in enumerate(spans)),
                key=lambda t: (-(t[1] * (1 - 0.5 * t[2])), t[0]),
            )
            i, coverage, absent = ranked[0]
            clear = coverage >= self.clear_words and not absent or coverage <= 1 - self.clear_words
            if missing or clear or len(doubtful) * (1 + self.shortlist) >= self.max_embedded:
                # A number or name no passage has, or the words settle it: no model needed.
                score = coverage * (1 - len(missing) / len(claim.critical)) if missing else coverage
                supported = not missing and score >= self.threshold
                results.append(SentenceSupport(claim.text, score, supported,
                                               (replace(spans[i].citation, score=round(score, 3)),), missing))
                continue
            doubtful.append((len(results), claim, ranked[: self.shortlist], missing))
            results.append(None)
        if not doubtful:
            return results
        wanted = sorted({i for _, _, short, _ in doubtful for i, _, _ in short})
        vectors = self.embed([c.probe for _, c, _, _ in doubtful] + [spans[i].text for i in wanted])
        span_vectors = dict(zip(wanted, vectors[len(doubtful):]))
        for (slot, claim, short, missing), vector in zip(doubtful, vectors):
            scored = sorted(
                (
                    ((0.5 * max(cosine(vector, span_vectors[i]), 0.0) + 0.5 * coverage) * (1 - 0.5 * absent), i)
                    for i, coverage, absent in short
                ),
                key=lambda t: (-t[0], t[1]),
            )
            best = scored[0][0]
            supported = best >= self.threshold
            floor = max(self.threshold, best - 0.05)
            cited = [scored[0]] + [
                t for t in scored[1:] if supported and t[0] >= floor and spans[t[1]].passage != spans[scored[0][1]].passage
            ][:1]
            citations = tuple(replace(spans[i].citation, score=round(s, 3)) for s, i in cited)
            results[slot] = SentenceSupport(claim.text, best, supported, citations, missing)
        return results

    def finish(self, question: str, answer: str, documents: Sequence["Document"]) -> tuple[str, Support]:
        """Check ``answer``, then apply the mode: the text to show and its :class:`Support`."""
        import time

        support = self.check(question, answer, documents)
        if support.status != UNSUPPORTED:
            support.action = "flag" if support.status == PARTIAL else "none"
            return answer, support
        support.action = self.mode
        if self.mode == "flag":
            support.note = "No sentence of this answer is supported by the sources."
            return answer, support
        started = time.perf_counter()
        support.generated = answer
        quotes = ""
        if self.mode == "fallback":
            from chains.backends.extractive import ExtractiveBackend
            from chains.prompt import NOT_FOUND

            quotes = ExtractiveBackend().answer(question, documents)
            quotes = "" if quotes == NOT_FOUND else quotes
        if not quotes:
            support.action = "drop"
            support.note = "The generated answer was not supported by the sources."
            support.cited_text = DROPPED_TEXT
            return DROPPED_TEXT, support
        support.note = FALLBACK_NOTE
        support.quotes = self.check(question, quotes, documents).sentences
        support.cited_text = quotes
        support.check_ms += (time.perf_counter() - started) * 1000
        return quotes, support


def _cite(plain: str, pieces: list[tuple[int, int, str]], results: list[SentenceSupport | None]) -> str:
    """``plain`` with ``[n]`` after each supported sentence and a flag after unsupported ones."""
    out, last = [], 0
    for (_, end, _), result in zip(pieces, results):
        out.append(plain[last:end])
        last = end
        if result is None:
            continue
        if result.supported:
            out.append(" " + "".join(f"[{n}]" for n in dict.fromkeys(c.passage for c in result.citations)))
        else:
            out.append(" " + UNSUPPORTED_MARK)
    out.append(plain[last:])
    return "".join(out)
