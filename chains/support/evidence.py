"""The evidence a sentence has in the passages: their sentences with line spans, and word overlap."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Sequence

from chains.support.result import Citation
from chains.text import STOPWORDS, content_words, sentence_spans, stem

if TYPE_CHECKING:
    from langchain_core.documents import Document

MARKER = re.compile(r"[ \t]*\[(?:\d+(?:\s*[,;\-–]\s*\d+)*|\?|unsupported|partial)\]")
PREAMBLE = re.compile(
    r"^\s*(?:the\s+)?(?:short\s+)?answer(?:\s+to\s+(?:this|the|your)\s+question)?\s*(?:is\s*:?|:)\s*", re.I
)
#: A list marker ("1.", "2)", "-", "a.") says nothing: it is neither supported nor not.
LIST_MARKER = re.compile(r"^\s*(?:\(?\d{1,3}[.)]|[-*•]|\(?[a-zA-Z][.)])\s*")
ABSTAIN = re.compile(
    r"^\W*(?:i\s+(?:don'?t|do\s+not|cannot|can'?t)\s+(?:know|answer|find|tell)"
    r"|(?:the\s+)?(?:documents?|context|passages?|sources?)\s+(?:do|does)\s+not\s+(?:say|contain|mention|answer))",
    re.I,
)
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9'’\-]*")
NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
OPENERS = frozenset("yes no however also although according based overall thus therefore in on".split())




def strip_markers(text: str) -> str:
    """The text without ``[1]``, ``[2, 3]``, ``[?]``, ``[partial]`` or ``[unsupported]`` markers."""
    return MARKER.sub("", text)


_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s*$")


def answer_pieces(answer: str) -> tuple[str, list[tuple[int, int]]]:
    """The answer without markers (stripped) and its sentences' ``(start, end)`` in it.

    A marker the writer put after a sentence's full stop also ends that sentence, even when the
    next one starts in lower case (a quoted record such as ``model: City 3; ...``): so a quoted
    passage sentence stays one sentence of the answer."""
    parts, breaks, length, last = [], [], 0, 0
    for match in MARKER.finditer(answer):
        part = answer[last:match.start()]
        parts.append(part)
        length += len(part)
        end = _SENTENCE_END.search(part)
        if end:  # right after the full stop, as the sentence splitter ends sentences
            breaks.append(length - len(part) + end.start() + 1)
        last = match.end()
    parts.append(answer[last:])
    joined = "".join(parts)
    lead = len(joined) - len(joined.lstrip())
    plain = joined.strip()
    cuts = [b - lead for b in breaks]
    spans = []
    for start, end in sentence_spans(plain):
        for cut in [c for c in cuts if start < c < end] + [end]:
            piece = plain[start:cut]
            if piece.strip():
                spans.append((start + len(piece) - len(piece.lstrip()), start + len(piece.rstrip())))
            start = cut
    return plain, spans


def numbers(text: str) -> set[str]:
    """Numbers in ``text``, normalised (``1,000`` → ``1000``); number words up to twenty count."""
    found = {m.group(0).replace(",", "").rstrip(".") for m in NUMBER.finditer(text)}
    found.update(NUMBER_WORDS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in NUMBER_WORDS)
    return found


def names(text: str) -> set[str]:
    """Capitalised words that are not a sentence's first word, and acronyms; stemmed, lower case."""
    found = set()
    for i, match in enumerate(TOKEN.finditer(text)):
        word = re.sub(r"['’]s$", "", match.group(0)).strip("-'’")
        lower = word.lower()
        if len(word) < 2 or lower in STOPWORDS or lower in OPENERS:
            continue
        acronym = word.isupper() and len(word) >= 2
        if acronym or (word[0].isupper() and i > 0):
            found.add(stem(lower))
    return found


def word_stems(text: str) -> set[str]:
    return {stem(re.sub(r"['’]s$", "", m.group(0)).lower()) for m in TOKEN.finditer(text)}


@dataclass
class Span:
    """One sentence of a passage (or, for :func:`candidates`, two adjacent ones) and its lines."""

    passage: int
    text: str
    words: set[str]
    critical: set[str]
    citation: Citation
    #: Position of the (first) sentence in its passage.
    order: int = 0
    #: How many passage sentences it spans (2: a sentence and the one continuing it).
    size: int = 1
    #: For two sentences: their positions in :func:`passage_spans`'s list.
    parts: tuple[int, ...] = ()


@dataclass
class Claim:
    text: str  # as shown
    probe: str  # what is embedded
    words: set[str]
    critical: set[str]
    #: Words the question already had: restating them is not evidence of an answer.
    restated: set[str]
    #: A short answer ("Melbourne.") is judged with its question: these words should be near it.
    asked: set[str]


def passage_spans(documents: Sequence["Document"]) -> list[Span]:
    """Every sentence of the passages, with its own line span (chunk start line + newlines)."""
    spans = []
    for number, doc in enumerate(documents, 1):
        meta = doc.metadata
        first, last = meta.get("start_line"), meta.get("end_line")
        source, page, headings = str(meta.get("source", "")), meta.get("page"), str(meta.get("headings", "") or "")
        for order, (piece, before, inside) in enumerate(_pieces(doc.page_content, meta.get("kind"))):
            lines: tuple[int | None, int | None] = (None, None)
            if first is not None:
                a = int(first) + before
                b = a + inside
                if last is not None:
                    a, b = min(a, int(last)), min(b, int(last))
                lines = (a, b)
            citation = Citation(number, source, piece, 0.0, lines[0], lines[1], page, headings)
            words, critical = _sentence_words(piece)
            spans.append(Span(number, piece, set(words), set(critical), citation, order))
    return spans


@lru_cache(maxsize=4096)
def _pieces(text: str, kind: str | None) -> tuple[tuple[str, int, int], ...]:
    """A chunk's sentences as ``(text, newlines before it, newlines in it)``: cached per chunk."""
    out = []
    for start, end in sentence_spans(text, kind):
        piece = " ".join(text[start:end].split())
        if piece:
            out.append((piece, text.count("\n", 0, start), text.count("\n", start, end)))
    return tuple(out)


@lru_cache(maxsize=16384)
def _sentence_words(piece: str) -> tuple[frozenset[str], frozenset[str]]:
    """A passage sentence's words, and its numbers and names: the same passages come back for many questions."""
    return frozenset(content_words(piece)), frozenset(numbers(piece) | word_stems(piece))


def candidates(spans: Sequence[Span]) -> list[Span]:
    """The evidence a claim may cite: each sentence, and each sentence joined with the next one of
    its passage when that one continues it ("… in 1889. It is 330 m tall."). Two sentences about
    different subjects are never one piece of evidence: that would stitch two facts together."""
    from chains.support.facts import CONTINUES

    out = list(spans)
    for at, (first, second) in enumerate(zip(spans, spans[1:])):
        if first.passage != second.passage or second.order != first.order + 1:
            continue
        lead = second.text.split(" ", 1)[0].lower().strip("\"'(“")
        if lead not in CONTINUES:
            continue
        a, b = first.citation, second.citation
        text = f"{first.text} {second.text}"
        citation = Citation(a.passage, a.source, text, 0.0, a.start_line, b.end_line if b.end_line is not None else a.end_line,
                            a.page, a.headings)
        out.append(Span(first.passage, text, first.words | second.words, first.critical | second.critical,
                        citation, first.order, 2, (at, at + 1)))
    return out


def lexical(claim: Claim, span: Span) -> tuple[float, float]:
    """(weighted share of the claim's words in ``span``, share of its numbers/names absent from it)."""
    found = span.critical | span.words
    total = hits = 0.0
    for word in claim.words | claim.critical:
        weight = 2.0 if word in claim.critical else 0.5 if word in claim.restated else 1.0
        total += weight
        hits += weight * (word in (found if word in claim.critical else span.words))
    coverage = hits / total if total else 0.0
    if claim.asked:
        coverage = 0.5 * coverage + 0.5 * len(claim.asked & span.words) / len(claim.asked)
    absent = len(claim.critical - found) / len(claim.critical) if claim.critical else 0.0
    return coverage, absent


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


@lru_cache(maxsize=16384)
def squash(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))
