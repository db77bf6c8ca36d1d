"""``extractive``: no generation; the answer is the passage sentence (or record) that answers.

Candidates are the units of :func:`chains.text.sentence_spans` (the support check's own
segmentation, so a quote is cited at exactly the line it came from). Each is scored by

- stemmed word overlap with the question (Snowball; rarer words weigh more), the words of the
  heading above it counting half (headings and titles are context, never answers);
- the loaded embedding model's similarity (question vs sentence), which re-orders the best three
  when the app passes its ``embed`` function (it does for the shipped MiniLM); vectors are cached
  per sentence text;
- the question's form (:mod:`chains.cues`): "how long" wants a duration, "when" a date, ...;
- its passage's retrieval score against the best passage's (retrieval is good: the first passage
  usually holds the answer).

The answer is the best unit, plus a second one when it holds what the first lacks (the number a
"how often" question wants); never more than :data:`MAX_WORDS` words. Records (CSV rows, JSON
objects, table rows) answer one at a time as ``field: value`` text; a "which ...s" question lists
the matching records, one per line.
"""

from __future__ import annotations

import math
import re
import threading
from array import array
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

from chains.backend import AnswerBackend
from chains.cues import Form, cue_score, question_form
from chains.prompt import NOT_FOUND
from chains.records import WHOLE_RECORD_WORDS, parse_record, render, table_row, truthy
from chains.registry import BackendOptions, register_llm
from chains.text import RECORD_KINDS, sentence_spans, terms

if TYPE_CHECKING:
    from langchain_core.documents import Document

EmbedFn = Callable[[list[str]], list[list[float]]]

#: Aim for answers this short; a single unit longer than this is cut to its best window.
TARGET_WORDS = 60
#: Two units are quoted together only when they hold at most this many words.
PAIR_WORDS = 80
#: No answer is longer than this.
MAX_WORDS = 80
#: Records listed for a "which ...?" question.
MAX_RECORDS = 8
_REFERS_BACK = re.compile(r"(?:he|she|it|they|this|these|those|its|his|her|their|there|such|the latter|the former)\b", re.I)
_END = re.compile(r"[.!?:;)\]\"'”’]$")


@dataclass
class Unit:
    passage: int
    position: int  # index among its passage's units
    text: str
    terms: list[str]
    context: set[str] = field(default_factory=set)
    heading: bool = False
    fields: list[tuple[str, str]] | None = None
    source: str = ""
    #: What a record is a record of: its file's name ("service_centres.csv" → service, centre).
    kind_terms: set[str] = field(default_factory=set)


def units(documents: Sequence["Document"]) -> list[Unit]:
    """Every unit of the passages, headings marked and carried as context of what follows."""
    out: list[Unit] = []
    for number, doc in enumerate(documents, 1):
        text, meta = doc.page_content, doc.metadata
        kind = str(meta.get("kind") or "")
        base = set(terms(str(meta.get("headings") or "")))
        kind_terms = set(terms(re.split(r"[\\/]", str(meta.get("source", "")))[-1].rsplit(".", 1)[0]))
        if kind in RECORD_KINDS:  # a record's type is its file's name: service_centres.csv holds service centres
            base |= kind_terms
        context, header = set(base), None
        for position, (start, end) in enumerate(sentence_spans(text, kind)):
            piece = " ".join(text[start:end].split())
            cells = table_row(piece)
            fields = parse_record(piece) if kind in RECORD_KINDS else None
            if cells is not None:
                if header is None or len(cells) != len(header):
                    header = cells
                    context = base | set(terms(piece))
                    continue
                fields = list(zip(header, cells))
            unit = Unit(number, position, piece, terms(piece), set(context), source=str(meta.get("source", "")))
            unit.fields = fields
            unit.kind_terms = kind_terms
            whole_line = (start == 0 or text[start - 1] == "\n") and (end == len(text) or text[end] == "\n")
            unit.heading = fields is None and (
                piece.startswith("#") or piece.endswith("?")
                or (whole_line and not _END.search(piece) and len(piece.split()) <= 12)
            )
            if unit.heading:
                context = base | set(unit.terms)
            elif out and out[-1].passage == number and _REFERS_BACK.match(piece):
                unit.context |= set(out[-1].terms)  # "He ..." is about who the sentence before names
            out.append(unit)
    return out


class ExtractiveBackend(AnswerBackend):
    """Quotes the passage sentence (or record) that answers the question."""

    name = "extractive"
    generative = False
    #: Score weights (tuned with bench/answer_quality.py on the shared sets): question-form cue,
    #: and the penalty per unit of retrieval score below the best passage's (passages are listed
    #: by score; a gap says more than a rank).
    cue_weight = 0.4
    score_gap_weight = 2.0
    rank_penalty = 0.0
    #: Weight of the embedding model's question–sentence similarity when it re-orders the
    #: lexically best :attr:`shortlist` units (only when the app passes an ``embed`` function).
    embed_weight = 0.8
    #: A second unit is added when it scores at least this share of the best (or is its neighbour).
    close_ratio = 0.55
    #: ... and, when the best already holds what was asked, at least this share (a near tie).
    tie_ratio = 0.8
    #: Sentence vectors kept between questions.
    vector_cache = 4096

    def __init__(self, max_sentences: int = 2, embed: EmbedFn | None = None, shortlist: int = 3,
                 embed_weight: float | None = None, embed_query: Callable[[str], list[float]] | None = None) -> None:
        self.max_sentences = max(1, max_sentences)
        self.embed = embed
        #: The question's vector; the retriever's embedder keeps recent ones, so no second embedding.
        self.embed_query = embed_query
        if embed_weight is not None:
            self.embed_weight = embed_weight
        #: How many of the lexically best units the embedding model re-orders.
        self.shortlist = shortlist
        self._vectors: OrderedDict[str, array] = OrderedDict()
        self._lock = threading.Lock()

    # -- scoring

    def ranked(self, question: str, documents: Sequence["Document"]) -> list[tuple[float, Unit]]:
        """``(score, unit)`` for every answerable unit, best first."""
        question = " ".join(question.split()[:200])
        wanted = list(dict.fromkeys(terms(question)))
        candidates = [u for u in units(documents) if not u.heading and (u.fields or len(u.terms) >= 2)]
        if not candidates or not wanted:
            return []
        form = question_form(question)
        df = Counter(t for u in candidates for t in set(u.terms) | u.context)
        n = len(candidates)
        idf = {t: math.log(1 + n / df[t]) for t in wanted if df[t]}
        total = sum(idf.values())
        if not total:
            return []
        relevance = {n: float(d.metadata.get("score") or 0.0) for n, d in enumerate(documents, 1)}
        top = max(relevance.values(), default=0.0)
        gaps = {n: top - r for n, r in relevance.items()}
        scored = []
        for unit in candidates:
            own = set(unit.terms)
            lexical = sum(w for t, w in idf.items() if t in own)
            lexical += 0.5 * sum(w for t, w in idf.items() if t not in own and t in unit.context)
            length = len(unit.text.split())
            lexical = lexical / total / (1 + 0.15 * max(0.0, length / 30 - 1))
            score = (lexical + self.cue_weight * cue_score(form, unit.text, question)
                     - self.rank_penalty * (unit.passage - 1) - self.score_gap_weight * gaps.get(unit.passage, 0.0))
            scored.append([score, unit, lexical])
        scored.sort(key=lambda s: -s[0])
        if self.embed is not None and self.embed_weight:
            self._reorder(question, scored)
        return [(s, u) for s, u, lexical in scored if lexical > 0]

    def _reorder(self, question: str, scored: list[list]) -> None:
        """Re-order the best :attr:`shortlist` by words plus question–sentence similarity. Only the
        order changes: the word scores still decide whether a second unit is close enough."""
        shortlist = scored[: self.shortlist]
        with self._lock:
            missing = list(dict.fromkeys(u.text for _, u, _ in shortlist if u.text not in self._vectors))
        try:
            query = self.embed_query(question) if self.embed_query else self.embed([question])[0]  # type: ignore[misc]
            vectors = self.embed(missing) if missing else []  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - words alone still answer
            return
        with self._lock:  # server threads share one answerer
            self._vectors.update((text, array("f", v)) for text, v in zip(missing, vectors))
            mine = {u.text: self._vectors[u.text] for _, u, _ in shortlist}
            for text in mine:
                self._vectors.move_to_end(text)
            while len(self._vectors) > self.vector_cache:
                self._vectors.popitem(last=False)
        similarity = {text: max(0.0, _cosine(query, vector)) for text, vector in mine.items()}
        order = sorted(shortlist, key=lambda row: -(row[0] + self.embed_weight * similarity[row[1].text]))
        scored[: len(order)] = order

    # -- answering

    def answer(self, question: str, documents: Sequence["Document"]) -> str:
        return _cap(self._answer(question, documents))

    def _answer(self, question: str, documents: Sequence["Document"]) -> str:
        ranked = self.ranked(question, documents)
        if not ranked:
            return NOT_FOUND
        form = question_form(question)
        best_score, best = ranked[0]
        if form.listing and best.fields is None:  # "which ...s?": records of that type answer, when there are any
            subject = set(terms(form.subject))
            record = next(((s, u) for s, u in ranked if u.fields is not None and subject and subject <= u.kind_terms), None)
            record = record or next(((s, u) for s, u in ranked if u.fields is not None), None)
            if record is not None and (record[0] >= 0.5 * best_score or subject and subject <= record[1].kind_terms):
                best_score, best = record
        if best.fields is not None:
            listed = self._listing(question, form, ranked) if form.listing else None
            if listed:
                return listed
            return f"{_record_text(best, question, form)} [{best.passage}]"
        chosen = [best]
        text = _window(best.text, question)
        if self.max_sentences > 1:
            extra = self._second(question, form, best, best_score, ranked)
            if extra is not None and len(text.split()) + len(extra.text.split()) <= PAIR_WORDS:
                chosen.append(extra)
        chosen.sort(key=lambda u: (u.passage, u.position))
        parts = [text if u is best else u.text for u in chosen]
        return " ".join(f"{p} [{u.passage}]" for p, u in zip(parts, chosen))

    def _second(self, question: str, form: Form, best: Unit, best_score: float,
                ranked: list[tuple[float, Unit]]) -> Unit | None:
        """A second prose unit, when ``best`` alone may not hold the answer:

        - ``best`` refers back ("It has been characterized as ...") → the sentence it refers to;
        - the sentence after ``best`` refers back to it ("This was crushed by British troops") → it;
        - ``best`` lacks the kind of thing asked for (a duration for "how long") → its neighbour, or
          a close runner-up (scoring at least :attr:`close_ratio` of the best);
        - even when ``best`` has it, a runner-up scoring :attr:`tie_ratio` of the best (a near tie).
        """
        if _REFERS_BACK.match(best.text):
            before = next((u for _, u in ranked if u.passage == best.passage and u.position == best.position - 1), None)
            if before is not None and before.fields is None:
                return before
        satisfied = bool(form.wants) and cue_score(form, best.text, question) >= 1.0
        ratio = self.tie_ratio if satisfied else self.close_ratio
        for score, unit in ranked[1:4]:
            if unit.fields is not None or unit.text == best.text:
                continue
            same = unit.passage == best.passage
            follows = same and unit.position == best.position + 1 and _REFERS_BACK.match(unit.text)
            near = same and abs(unit.position - best.position) == 1 and not satisfied
            if follows or near or (best_score > 0 and score >= ratio * best_score):
                return unit
        return None

    def _listing(self, question: str, form: Form, ranked: list[tuple[float, Unit]]) -> str | None:
        """Every record of the best record's file that fits a "which ...s" question, one per line.

        A question word naming a field ("repair" → ``ebike_repairs``) keeps the records whose value
        says yes; one found among the values ("aluminium") keeps the records holding it. Words every
        record has ("bike" in every ``type``) decide nothing."""
        wanted = set(terms(question))
        source = next(u.source for _, u in ranked if u.fields is not None)
        records = list({u.text: u for _, u in ranked if u.fields is not None and u.source == source}.values())
        records.sort(key=lambda u: (u.passage, u.position))  # in the order the file lists them
        names = [{i: set(terms(n)) for i, (n, _) in enumerate(u.fields or [])} for u in records]
        values = [{i: set(terms(v)) for i, (_, v) in enumerate(u.fields or [])} for u in records]
        everywhere = set.intersection(*(set().union(*v.values()) for v in values)) if len(values) > 1 else set()
        asked = wanted - everywhere
        by_value = {t for t in asked if any(t in ws for v in values for ws in v.values())}
        by_name = {t for t in asked - by_value if any(t in ws for n in names for i, ws in n.items() if i)}
        if not by_value and not by_name:
            return None
        lines, whole = [], []
        for unit, name_terms, value_terms in zip(records, names, values):
            fields = unit.fields or []
            flags = [i for i, ws in name_terms.items() if i and ws & by_name]
            held = set().union(*value_terms.values())
            if not by_value <= held or not all(truthy(fields[i][1]) for i in flags):
                continue
            shown = flags + [i for i, ws in value_terms.items() if i and ws & by_value]
            lines.append(f"- {render(fields, [0, *shown])} [{unit.passage}]")
            whole.append(f"- {unit.text} [{unit.passage}]" if unit.text == render(fields) else lines[-1])
        lines, whole = lines[:MAX_RECORDS], whole[:MAX_RECORDS]
        # whole records are quotes the support check cites as they are: shown when they fit
        fits = sum(len(w.split()) - 1 for w in whole) <= MAX_WORDS
        return "\n".join(whole if fits else lines) or None

    def stream(self, question: str, documents: Sequence["Document"]):
        yield self.answer(question, documents)


def _record_text(unit: Unit, question: str, form: Form) -> str:
    """The record as ``field: value`` text: all of it when short (a quote the support check cites as
    is), else its name and the fields asked for (cut to size)."""
    fields = unit.fields or []
    if unit.text == render(fields) and len(unit.text.split()) <= WHOLE_RECORD_WORDS:
        return unit.text
    wanted = set(terms(question))
    keep = [
        i for i, (name, value) in enumerate(fields)
        if i and (wanted & set(terms(name)) or cue_score(form, f"{name}: {value}", question) >= 1.0)
    ]
    if keep:
        return render(fields, [0, *keep[:7]])
    whole = render(fields)
    return whole if len(whole.split()) <= WHOLE_RECORD_WORDS else _window(render(fields[:12]), question)


def _cap(answer: str) -> str:
    """At most :data:`MAX_WORDS` words (markers not counted), whole lines first."""
    out, used = [], 0
    for line in answer.splitlines():
        size = len(re.sub(r"\[\d+\]", "", line).split())
        if used + size > MAX_WORDS:
            if not out:
                out.append(" ".join(line.split()[:MAX_WORDS]))
            break
        out.append(line)
        used += size
    return "\n".join(out)


def _window(text: str, question: str, size: int = 50) -> str:
    """``text`` when short enough, else its ``size``-word window with most question words."""
    words = text.split()
    if len(words) <= TARGET_WORDS:
        return text
    wanted = set(terms(question))
    seen: dict[str, int] = {}
    hits = [seen[w] if w in seen else seen.setdefault(w, 1 if set(terms(w)) & wanted else 0) for w in words]
    best, start, running = -1, 0, sum(hits[:size])
    for i in range(0, len(words) - size + 1):
        if i:
            running += hits[i + size - 1] - hits[i - 1]
        if running > best:
            best, start = running, i
    found = [i for i in range(start, min(start + size, len(words))) if hits[i]]
    if found:  # the words around what matched, not the window's edge: the answer follows them
        start = max(0, min((found[0] + found[-1]) // 2 - size // 2, len(words) - size))
    return " ".join(words[start : start + size])


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


@register_llm("extractive", description="Quotes the sentence or record that answers; no model, no network.")
def _extractive(options: BackendOptions) -> AnswerBackend:
    weight = options.extra.get("embed_weight")
    return ExtractiveBackend(max_sentences=int(options.extra.get("max_sentences", 2)), embed=options.extra.get("embed"),
                             embed_query=options.extra.get("embed_query"),
                             embed_weight=None if weight is None else float(weight))
