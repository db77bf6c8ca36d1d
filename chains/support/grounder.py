"""One answer's sentences, each judged on its own against the passages it may cite.

A :class:`Grounder` is made once per answer (question + passages). :meth:`Grounder.sentence`
judges one sentence: a passage sentence quoted verbatim is supported by exactly that sentence;
otherwise the candidates (each passage sentence, and a sentence with the one continuing it,
:func:`~chains.support.evidence.candidates`) are ranked by shared words, the best few are graded
(:func:`~chains.support.grounding.grade`), and the best grade is the sentence's citation. The
embedding model is asked only when the words leave the share in doubt, and can then only
confirm or reject a candidate that passed every rule. The result of a sentence never depends
on later sentences, so a streamed answer gets the same markers as the finished one.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Sequence

from chains.support.facts import negations, tokens
from chains.support.evidence import LIST_MARKER, PREAMBLE, Claim, Span, candidates, cosine, lexical, names, numbers, passage_spans, squash
from chains.support.grounding import PARTIAL, RANK, SUPPORTED, UNSUPPORTED, Facts, Grade, grade
from chains.support.result import SentenceSupport
from chains.text import content_words
from chains.text import stem as text_stem

if TYPE_CHECKING:
    from langchain_core.documents import Document

EmbedFn = Callable[[list[str]], list[list[float]]]
#: Candidates graded in full per sentence (the rest are ranked by shared words only).
GRADED = 4
_INNER_CAPITAL = re.compile(r"(?<=[a-z0-9,;:] )([A-Z][\w'’-]+)")


@lru_cache(maxsize=4096)
def _inner_names(text: str) -> frozenset[str]:
    """Stems of the capitalised words inside a passage's sentences (names), cached per chunk."""
    return frozenset(toks[0].stem for m in _INNER_CAPITAL.findall(text) if (toks := tokens(m)))


class Grounder:
    """Judges the sentences of one answer against one set of passages."""

    def __init__(self, question: str, documents: Sequence["Document"], embed: EmbedFn, *,
                 threshold: float, clear_words: float, short_claim_words: int, max_embedded: int,
                 entails: "Callable[[str, str], bool | None] | None" = None) -> None:
        started = time.perf_counter()
        self.question = question
        self.embed = embed
        self.threshold = threshold
        self.clear_words = clear_words
        self.short_claim_words = short_claim_words
        self.budget = max_embedded
        self.entails = entails
        self.spans = passage_spans(documents)
        self.candidates = candidates(self.spans)
        self.exact: dict[str, Span] = {}
        for span in self.spans:
            self.exact.setdefault(squash(span.text), span)
        self.question_words = set(content_words(question))
        self.question_negations = negations(tokens(question))
        self.known = set().union(*(_inner_names(d.page_content) for d in documents))
        self._facts: dict[int, Facts] = {}
        self._vectors: dict[str, list[float]] = {}
        self._seen: dict[str, SentenceSupport | None] = {}
        #: Time spent judging (and reading the passages), for ``Support.check_ms``.
        self.elapsed_ms = (time.perf_counter() - started) * 1000

    def sentence(self, text: str) -> SentenceSupport | None:
        """``None`` for a sentence that claims nothing ("Yes.", "The answer is:", "1."). A sentence
        seen before (while streaming) gets the same result without being judged again."""
        if text not in self._seen:
            started = time.perf_counter()
            self._seen[text] = self._judge(text)
            self.elapsed_ms += (time.perf_counter() - started) * 1000
        return self._seen[text]

    def _judge(self, text: str) -> SentenceSupport | None:
        core = PREAMBLE.sub("", LIST_MARKER.sub("", text, count=1)).strip()
        words = set(content_words(core))
        if not words:
            return None
        hit = self.exact.get(squash(core))
        if hit is not None and squash(core):  # a passage sentence, quoted: that sentence backs it
            return SentenceSupport(text, 1.0, True, (replace(hit.citation, score=1.0),), (), SUPPORTED)
        claim = Facts.of(core, self.known)  # (after the quote check: a quote needs no facts)
        if not self.spans:
            missing = tuple(sorted({n.value.lstrip("#") for n in claim.numbers} | claim.names))
            return SentenceSupport(text, 0.0, False, (), missing, UNSUPPORTED, ("nothing was retrieved",))
        short = len(words) < self.short_claim_words
        old = Claim(text, core, words, numbers(core) | names(core), words & self.question_words,
                    self.question_words - words if short else set())
        ranked = sorted(
            ((i, *lexical(old, s)) for i, s in enumerate(self.candidates)),
            key=lambda t: (-(t[1] * (1 - 0.5 * t[2])), self.candidates[t[0]].size, t[0]),
        )[:GRADED]
        asked = self.question_words - words if short else set()
        ranked = [r for r in ranked if self._needed(claim, self.candidates[r[0]])]
        graded: list[tuple[Grade, int]] = [
            (grade(claim, self._facts_of(i), self.question_words, asked, short, self.question_negations), i)
            for i, _, _ in ranked
        ]
        floor = round(1 - self.clear_words, 6)
        best, index = max(graded, key=lambda g: (
            RANK[g[0].verdict] if g[0].coverage > floor else 0, round(g[0].coverage, 3),
            -self.candidates[g[1]].size, -ranked_pos(ranked, g[1]),
        ))
        span = self.candidates[index]
        if best.verdict == PARTIAL and best.subject:
            other = self._subject_elsewhere(best.subject, index, claim)
            if other is not None:  # "The battery is covered for 3 years." cited to the motor's line
                best.verdict = UNSUPPORTED
                best.reasons = [f"its subject ({' '.join(best.subject)}) is another sentence's ({_where(other)})"]
        if best.verdict != UNSUPPORTED and not short:
            elsewhere = self._stitched(claim, index)
            if elsewhere is not None:
                best.verdict = PARTIAL
                best.reasons.append(f"stitched: the rest is in another sentence ({_where(elsewhere)})")
        return self._decide(text, core, best, span, short)

    def _needed(self, claim: Facts, span: Span) -> bool:
        """Two sentences are one piece of evidence only when each states something of the claim the
        other does not (else the one that states it is judged alone: its negation, its numbers)."""
        if span.size == 1:
            return True
        first, second = (self._facts_of(i) for i in span.parts)
        said = {t.stem for t in claim.content} | {n.value for n in claim.numbers}

        def has(facts: Facts) -> set[str]:
            return facts.stems | {n.value for n in facts.numbers}

        return bool((said - has(first)) & has(second)) and bool((said - has(second)) & has(first))

    def _subject_elsewhere(self, subject: tuple[str, ...], index: int, claim: Facts) -> Span | None:
        """A sentence other than the cited one that has the claim's subject words and, when the
        claim states a number, a rival figure: another value in the same unit ("3 years" beside the
        claim's "2 years"). The claim took its subject from one fact and its figure from another. A
        title or a passing mention ("every warranty period below") states no rival and is context."""
        span, wanted = self.candidates[index], {text_stem(w) for w in subject}
        claimed = {(n.value, n.unit) for n in claim.numbers}
        units = {unit for _, unit in claimed if unit}
        for other in self.spans:
            if other.passage == span.passage and span.order <= other.order < span.order + span.size:
                continue
            if not wanted <= other.words:
                continue
            if not claimed:
                return other
            if any(n.unit in units and (n.value, n.unit) not in claimed for n in Facts.of(other.text).numbers):
                return other
        return None

    def _stitched(self, claim: Facts, index: int) -> Span | None:
        """Another sentence that states most of what the cited one lacks: the claim joins two places."""
        span = self.candidates[index]
        have = self._facts_of(index).stems
        lacking = {text_stem(t.low) for t in claim.content if t.stem not in have}
        if len(lacking) < 2:
            return None
        need = max(2, -(-3 * len(lacking) // 5))
        for other in self.spans:
            if other.passage == span.passage and span.order <= other.order < span.order + span.size:
                continue
            if len(lacking & (other.words | other.critical)) >= need:
                return other
        return None

    def _decide(self, text: str, core: str, best: Grade, span: Span, short: bool) -> SentenceSupport:
        score, verdict, reasons = best.coverage, best.verdict, list(best.reasons)
        if verdict != UNSUPPORTED:
            if best.coverage <= round(1 - self.clear_words, 6):
                verdict = UNSUPPORTED
                reasons.append("the cited text shares too few of its words")
            elif best.coverage < self.clear_words and self.budget >= 2:
                # Words leave it in doubt: the embedding model may confirm or reject (never more).
                probe = f"{self.question} {core}" if short else core
                similarity = max(cosine(*self._vectors_of(probe, span.text)), 0.0)
                score = 0.5 * similarity + 0.5 * best.coverage
            if verdict != UNSUPPORTED and score < self.threshold:
                verdict = UNSUPPORTED
                reasons.append("the cited text does not say enough of it")
        elif best.missing:
            score = best.coverage * 0.5
        else:
            score = min(best.coverage, self.threshold) * 0.5
        if verdict == SUPPORTED and self.entails is not None:
            judged = self.entails(core, span.text)
            if judged is False:
                verdict = PARTIAL
                reasons.append("the LLM judge does not find it stated in the cited text")
        citation = replace(span.citation, score=round(score, 3))
        return SentenceSupport(text, score, verdict == SUPPORTED, (citation,), best.missing, verdict, tuple(reasons))

    def _facts_of(self, index: int) -> Facts:
        if index not in self._facts:
            self._facts[index] = Facts.of(self.candidates[index].text, self.known)
        return self._facts[index]

    def _vectors_of(self, probe: str, evidence: str) -> tuple[list[float], list[float]]:
        wanted = [t for t in (probe, evidence) if t not in self._vectors]
        if wanted:
            self.budget -= len(wanted)
            self._vectors.update(zip(wanted, self.embed(wanted)))
        return self._vectors[probe], self._vectors[evidence]


def ranked_pos(ranked: list[tuple[int, float, float]], index: int) -> int:
    return next(p for p, item in enumerate(ranked) if item[0] == index)


def _where(span: Span) -> str:
    """``warranty.md:22``: where a sentence is, short enough for a reason."""
    return span.citation.location(lambda source: source.replace("\\", "/").rsplit("/", 1)[-1])
