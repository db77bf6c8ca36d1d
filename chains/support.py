"""Which retrieved text supports each sentence of an answer, and what to do when none does.

After generation the answer is split into sentences (citation markers the backend wrote are
removed first: they are re-added from what is found here). Each sentence is matched against the
sentences of the retrieved passages with two kinds of evidence:

- **lexical**: the share of its content words found in the span, numbers and names counting
  double. A number or a name that appears in *no* passage makes the sentence unsupported,
  however similar it sounds: that is how small models invent.
- **semantic**: for the sentences the words leave in doubt (coverage between 0.2 and 0.8),
  cosine similarity under the app's embedding model. One batched call embeds those sentences and
  their best lexical span (embedding every passage sentence would cost ~7 ms each on two CPU
  cores); at most ``max_embedded`` texts per answer.

A sentence's support is its word coverage when the words settle it, else
``(similarity + coverage) / 2``; a short answer ("Melbourne.") is judged together with the
question it answers. The answer's score is the mean
over its sentences, weighted by their content words.

:class:`SupportChecker` also makes the two answer-level decisions: *not in the documents*
(retrieval found nothing close enough: the LLM is not called) and what to show when the whole
answer is unsupported (``flag`` it, ``fallback`` to extractive quotes, or ``drop`` it).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Sequence

from chains.text import STOPWORDS, content_words, sentence_spans, stem

if TYPE_CHECKING:
    from langchain_core.documents import Document

EmbedFn = Callable[[list[str]], list[list[float]]]

MODES = ("flag", "fallback", "drop")
#: Support below this (per sentence) is "not supported"; calibrated with bench/support_eval.py.
DEFAULT_THRESHOLD = 0.5

SUPPORTED, PARTIAL, UNSUPPORTED, ABSTAINED, NOT_IN_DOCUMENTS = (
    "supported", "partial", "unsupported", "abstained", "not_in_documents",
)
NOT_IN_DOCUMENTS_TEXT = "Not in the documents: nothing retrieved is close enough to the question to answer it."
DROPPED_TEXT = "The documents do not answer this: the generated answer was not supported by them."
FALLBACK_NOTE = (
    "The generated answer was not supported by the documents; "
    "these are the passages closest to the question instead."
)
UNSUPPORTED_MARK = "[unsupported]"
#: A sentence of at least this many words found verbatim in a passage is a quote: supported.
QUOTE_WORDS = 6

_MARKER = re.compile(r"[ \t]*\[(?:\d+(?:\s*[,;\-–]\s*\d+)*|\?|unsupported)\]")
_PREAMBLE = re.compile(
    r"^\s*(?:the\s+)?(?:short\s+)?answer(?:\s+to\s+(?:this|the|your)\s+question)?\s*(?:is\s*:?|:)\s*", re.I
)
#: A list marker ("1.", "2)", "-", "a.") says nothing: it is neither supported nor not.
_LIST_MARKER = re.compile(r"^\s*(?:\(?\d{1,3}[.)]|[-*•]|\(?[a-zA-Z][.)])\s*")
_ABSTAIN = re.compile(
    r"^\W*(?:i\s+(?:don'?t|do\s+not|cannot|can'?t)\s+(?:know|answer|find|tell)"
    r"|(?:the\s+)?(?:documents?|context|passages?|sources?)\s+(?:do|does)\s+not\s+(?:say|contain|mention|answer))",
    re.I,
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9'’\-]*")
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
_OPENERS = frozenset("yes no however also although according based overall thus therefore in on".split())


@dataclass(frozen=True)
class Citation:
    """A span of a retrieved passage that supports (or comes closest to) a sentence."""

    passage: int  # 1-based, as the prompt and the sources list number them
    source: str
    text: str
    score: float
    start_line: int | None = None
    end_line: int | None = None
    page: int | None = None

    def location(self, display: Callable[[str], str] = str) -> str:
        """``data/warranty.md:9-10`` or ``manual.pdf p.2`` (``display`` shortens the path)."""
        source = display(self.source)
        if self.page is not None:
            return f"{source} p.{self.page}"
        if self.start_line is None:
            return source
        if self.end_line in (None, self.start_line):
            return f"{source}:{self.start_line}"
        return f"{source}:{self.start_line}-{self.end_line}"

    def to_dict(self, display: Callable[[str], str] = str) -> dict[str, Any]:
        data: dict[str, Any] = {"passage": self.passage, "source": display(self.source)}
        if self.page is not None:
            data["page"] = self.page
        else:
            data.update(start_line=self.start_line, end_line=self.end_line)
        data.update(score=round(self.score, 3), text=self.text)
        return data


@dataclass(frozen=True)
class SentenceSupport:
    """One sentence of the answer and the spans that support it."""

    text: str
    score: float
    supported: bool
    #: Best span first; for an unsupported sentence, the closest span (never shown as a marker).
    citations: tuple[Citation, ...] = ()
    #: Numbers and names of the sentence that appear in no retrieved passage.
    missing: tuple[str, ...] = ()

    def to_dict(self, display: Callable[[str], str] = str) -> dict[str, Any]:
        return {
            "text": self.text,
            "score": round(self.score, 3),
            "supported": self.supported,
            "citations": [c.to_dict(display) for c in self.citations],
            "missing": list(self.missing),
        }


@dataclass
class Support:
    """How well the retrieved passages back an answer, sentence by sentence.

    ``status`` describes the generated answer (``supported``, ``partial``, ``unsupported``,
    ``abstained``, or ``not_in_documents`` when no answer was generated); ``action`` what was
    done about it (``none``, ``flag``, ``fallback``, ``drop``, ``not_in_documents``).
    """

    status: str
    score: float
    threshold: float
    sentences: list[SentenceSupport] = field(default_factory=list)
    action: str = "none"
    note: str = ""
    #: The generated answer when something else is shown (``fallback``, ``drop``).
    generated: str | None = None
    #: ``fallback``: the quotes shown instead, with where they are.
    quotes: list[SentenceSupport] = field(default_factory=list)
    #: The answer with canonical ``[n]`` markers and ``[unsupported]`` flags.
    cited_text: str = ""
    check_ms: float = 0.0

    @property
    def unsupported(self) -> list[SentenceSupport]:
        return [s for s in self.sentences if not s.supported]

    @property
    def shown(self) -> list[SentenceSupport]:
        """The sentences of the text the user sees (the quotes, after a fallback)."""
        return self.quotes if self.action == "fallback" else self.sentences

    def to_dict(self, display: Callable[[str], str] = str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.status,
            "score": round(self.score, 3),
            "threshold": self.threshold,
            "action": self.action,
            "sentences": [s.to_dict(display) for s in self.sentences],
            "check_ms": round(self.check_ms, 1),
        }
        if self.note:
            data["note"] = self.note
        if self.generated is not None:
            data["generated"] = self.generated
        if self.quotes:
            data["quotes"] = [s.to_dict(display) for s in self.quotes]
        return data


# --- text features ------------------------------------------------------------------------


def strip_markers(text: str) -> str:
    """The text without ``[1]``, ``[2, 3]``, ``[?]`` or ``[unsupported]`` markers."""
    return _MARKER.sub("", text)


def numbers(text: str) -> set[str]:
    """Numbers in ``text``, normalised (``1,000`` → ``1000``); number words up to twenty count."""
    found = {m.group(0).replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)}
    found.update(_NUMBER_WORDS[w] for w in re.findall(r"[a-z]+", text.lower()) if w in _NUMBER_WORDS)
    return found


def names(text: str) -> set[str]:
    """Capitalised words that are not a sentence's first word, and acronyms; stemmed, lower case."""
    found = set()
    for i, match in enumerate(_TOKEN.finditer(text)):
        word = re.sub(r"['’]s$", "", match.group(0)).strip("-'’")
        lower = word.lower()
        if len(word) < 2 or lower in STOPWORDS or lower in _OPENERS:
            continue
        acronym = word.isupper() and len(word) >= 2
        if acronym or (word[0].isupper() and i > 0):
            found.add(stem(lower))
    return found


def _word_stems(text: str) -> set[str]:
    return {stem(re.sub(r"['’]s$", "", m.group(0)).lower()) for m in _TOKEN.finditer(text)}


@dataclass
class _Span:
    passage: int
    text: str
    words: set[str]
    critical: set[str]
    citation: Citation


@dataclass
class _Claim:
    text: str  # as shown
    probe: str  # what is embedded
    words: set[str]
    critical: set[str]
    #: Words the question already had: restating them is not evidence of an answer.
    restated: set[str]
    #: A short answer ("Melbourne.") is judged with its question: these words should be near it.
    asked: set[str]


def passage_spans(documents: Sequence["Document"]) -> list[_Span]:
    """Every sentence of the passages, with its own line span (chunk start line + newlines)."""
    spans = []
    for number, doc in enumerate(documents, 1):
        text, meta = doc.page_content, doc.metadata
        first, last = meta.get("start_line"), meta.get("end_line")
        for start, end in sentence_spans(text):
            piece = " ".join(text[start:end].split())
            if not piece:
                continue
            lines: tuple[int | None, int | None] = (None, None)
            if first is not None:
                a = int(first) + text.count("\n", 0, start)
                b = a + text.count("\n", start, end)
                if last is not None:
                    a, b = min(a, int(last)), min(b, int(last))
                lines = (a, b)
            citation = Citation(
                number, str(meta.get("source", "")), piece, 0.0, lines[0], lines[1], meta.get("page")
            )
            spans.append(_Span(number, piece, set(content_words(piece)), numbers(piece) | _word_stems(piece), citation))
    return spans


def _lexical(claim: _Claim, span: _Span) -> tuple[float, float]:
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


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def _squash(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


# --- the checker ----------------------------------------------------------------------------


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
        if not plain or _ABSTAIN.match(plain):
            support = Support(ABSTAINED, 0.0, self.threshold, cited_text=plain)
            support.check_ms = (time.perf_counter() - started) * 1000
            return support
        spans = passage_spans(documents)
        everywhere: set[str] = set().union(*(s.critical | s.words for s in spans)) if spans else set()
        question_words = set(content_words(question))
        claims: list[_Claim | None] = []
        for _, _, text in pieces:
            core = _PREAMBLE.sub("", _LIST_MARKER.sub("", text, count=1))
            words = set(content_words(core))
            if not words:
                claims.append(None)  # "Yes." or "The answer is:" claims nothing
                continue
            critical = numbers(core) | names(core)
            short = len(words) < self.short_claim_words
            claims.append(_Claim(
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
        self, claims: list[_Claim | None], spans: list[_Span], everywhere: set[str]
    ) -> list[SentenceSupport | None]:
        """Decide what the words decide; embed only the claims still in doubt, in one call."""
        results: list[SentenceSupport | None] = []
        doubtful: list[tuple[int, _Claim, list[tuple[int, float, float]], tuple[str, ...]]] = []
        for claim in claims:
            if claim is None:
                results.append(None)
                continue
            missing = tuple(sorted(w for w in claim.critical if w not in everywhere))
            if not spans:
                results.append(SentenceSupport(claim.text, 0.0, False, (), missing))
                continue
            squashed = _squash(_PREAMBLE.sub("", claim.text))
            if squashed.count(" ") + 1 >= QUOTE_WORDS:
                hit = next((s for s in spans if squashed in _squash(s.text)), None)
                if hit is not None:  # quoted verbatim
                    results.append(SentenceSupport(claim.text, 1.0, True, (replace(hit.citation, score=1.0),)))
                    continue
            ranked = sorted(
                ((i, *_lexical(claim, s)) for i, s in enumerate(spans)),
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
                    ((0.5 * max(_cosine(vector, span_vectors[i]), 0.0) + 0.5 * coverage) * (1 - 0.5 * absent), i)
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
