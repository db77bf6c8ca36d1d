"""Facts in a corpus: where a question's reference answer is written, and a different value of the same kind.

Used by the change step of ``eval --dynamic`` and ``advise --measure --dynamic``
(:mod:`rag_app.measure.dynamic`) and by the paraphrase fallback of the advisor's
seen/unseen split. Works on any corpus, with or without ``contexts`` in the QA set:

- :func:`locate` finds a question's answer in the corpus files, case- and
  whitespace-insensitively, in its gold source when the QA set names one, else
  in the sources retrieved for it, else anywhere; within the gold passage when
  known, else the paragraph (blank-line separated block) around the match;
- a long answer (a whole FAQ entry) is located as a passage, and the fact to
  change is the first date, else number, else name inside it (:func:`fact_in`);
- :class:`ValuePool` gives a replacement of the same kind taken from the corpus
  itself: another date (one of the nearest years), another number of the same size (one of the
  nearest), another name (never a value already written in the file, never one sharing a word
  with the old one).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from rag_app.measure import metrics

_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
          r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
DATE = re.compile(
    rf"\b(?:{_MONTH}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{3,4}}|\d{{1,2}}\s+{_MONTH}\.?,?\s+\d{{3,4}}"
    rf"|{_MONTH}\.?,?\s+\d{{3,4}}|(?:1[0-9]|20)\d\d(?:s)?)\b")
NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.])\d+(?:\.\d+)?(?![\w])")
_CONNECT = {"of", "de", "van", "von", "der", "da", "del", "du", "la", "le", "bin", "al"}
NAME = re.compile(r"\b[A-Z][a-z][a-z'’-]*(?:\s+(?:(?:of|de|van|von|der|da|del|du|la|le|bin|al)\s+)?"
                  r"[A-Z][a-z][a-z'’-]*)*(?![\w(])")
_FALLBACK_NAMES = ["Quillon Marsh", "Verrity Oakes", "Tamsin Vale", "Orrin Castellane"]


def kind(value: str) -> str:
    """``date``, ``number``, ``name`` or ``phrase``: what sort of value a fact is."""
    value = value.strip()
    if DATE.fullmatch(value):
        return "date"
    if any(ch.isdigit() for ch in value):
        return "number"
    words = [w for w in value.split() if w.lower() not in _CONNECT]
    if words and all(w[:1].isupper() for w in words):
        return "name"
    return "phrase"


def _pattern(text: str) -> re.Pattern[str] | None:
    tokens = text.split()
    if not tokens:
        return None
    body = r"\s+".join(re.escape(t) for t in tokens)
    head = r"(?<!\w)" if tokens[0][:1].isalnum() else ""
    tail = r"(?!\w)" if tokens[-1][-1:].isalnum() else ""
    return re.compile(head + body + tail, re.IGNORECASE)


def find_all(needle: str, text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of ``needle`` in ``text[start:end]``, case- and whitespace-insensitive, whole words."""
    pattern = _pattern(needle)
    if pattern is None:
        return []
    return [(m.start(), m.end()) for m in pattern.finditer(text, start, len(text) if end is None else end)]


def paragraph(text: str, at: int) -> tuple[int, int]:
    """The blank-line separated block of ``text`` around offset ``at``."""
    starts = [m.end() for m in re.finditer(r"\n[ \t]*\n", text[:at])]
    start = starts[-1] if starts else 0
    after = re.search(r"\n[ \t]*\n", text[at:])
    return start, at + after.start() if after else len(text)


@dataclass(frozen=True)
class Location:
    """Where a question's fact is written: ``file``, the passage span, and the fact's text in it."""

    file: str
    start: int  # the passage (gold context, or the paragraph / long answer around the fact)
    end: int
    fact: str   # the fact as written in the file
    kind: str
    found_by: str  # "sources" | "retrieved" | "search"


def _candidates(files: dict[str, str], names: Sequence[str]) -> list[str]:
    """Corpus files matching ``names`` (a path or a bare file name)."""
    out = []
    for name in names:
        base = name.replace("\\", "/").rsplit("/", 1)[-1]
        out += [f for f in files if f == name or f.rsplit("/", 1)[-1] == base]
    return list(dict.fromkeys(out))


def fact_in(text: str, start: int, end: int, file_text: str) -> tuple[int, int, str] | None:
    """The fact to change inside a long answer: the first date, else number, else rare name; ``None`` if none."""
    region = text[start:end]
    for regex, want in ((DATE, "date"), (NUMBER, "number"), (NAME, "name")):
        for m in regex.finditer(region):
            value = m.group(0)
            if want == "number" and (len(value) < 2 or _inside_date(region, m.start())):
                continue  # a lone digit is too common to tell old from new
            if want == "name":
                before = region[:m.start()].rstrip()
                if not before or before[-1] in ".!?:\n" or len(find_all(value, file_text)) > 2:
                    continue  # a sentence's first word, or a name the file keeps repeating
            return start + m.start(), start + m.end(), value
    return None


def _inside_date(text: str, at: int) -> bool:
    return any(m.start() <= at < m.end() for m in DATE.finditer(text))


def locate(answer: str, contexts: Sequence[str], sources: Sequence[str], files: dict[str, str],
           retrieved: Sequence[str] = ()) -> Location | None:
    """Where ``answer`` is written in ``files`` (relative name -> text); see the module docstring for the order."""
    if not answer or not answer.strip():
        return None
    order = [("sources", _candidates(files, sources)), ("retrieved", _candidates(files, retrieved)),
             ("search", sorted(files))]
    short = metrics.is_short(answer)
    for found_by, names in order:
        for name in names:
            text = files[name]
            spans = [s for c in contexts for s in find_all(c, text)[:1]] if contexts else []
            if short:
                for p_start, p_end in spans or [(0, len(text))]:
                    hits = find_all(answer, text, p_start, p_end)
                    if hits:
                        if not spans:
                            p_start, p_end = paragraph(text, hits[0][0])
                        fact = text[hits[0][0]:hits[0][1]]
                        return Location(name, p_start, p_end, fact, kind(fact), found_by)
                continue
            for p_start, p_end in find_all(answer, text)[:1] or spans:
                got = fact_in(text, p_start, p_end, text)
                if got:
                    return Location(name, p_start, p_end, got[2], kind(got[2]), found_by)
    return None


class ValuePool:
    """Dates, numbers and names written in a corpus, to draw replacements of the same kind from."""

    def __init__(self, texts: Iterable[str], extra_names: Sequence[str] = ()) -> None:
        dates: set[str] = set()
        numbers: set[str] = set()
        names: set[str] = set()
        lower: set[str] = set()  # words also written in lower case are plain words ("Iteration"), not names
        for text in texts:
            lower.update(re.findall(r"\b[a-z][a-z'’-]+\b", text))
            dates.update(" ".join(m.group(0).split()) for m in DATE.finditer(text))
            numbers.update(m.group(0) for m in NUMBER.finditer(text))
            for m in NAME.finditer(text):
                before = text[:m.start()].rstrip()
                if before and before[-1] not in ".!?:\n\"'":
                    names.add(" ".join(m.group(0).split()))
        names = {n for n in names if " " in n or n.lower() not in lower}
        names.update(n for n in extra_names if n and kind(n) == "name")
        self.dates, self.numbers, self.names = sorted(dates), sorted(numbers), sorted(names)

    def replacement(self, old: str, file_text: str, rng: random.Random, phrases: Sequence[str] = ()) -> str:
        """A different value of ``old``'s kind, absent from ``file_text`` and sharing no word with ``old``."""
        what = kind(old)
        norm_file = f" {metrics.normalize_answer(file_text)} "
        old_words = set(metrics.normalize_answer(old).split())

        def fresh(value: str) -> bool:
            norm = metrics.normalize_answer(value)
            return bool(norm) and f" {norm} " not in norm_file and not old_words & set(norm.split())

        if what == "date":
            shape = _shape(old)
            pool = [d for d in self.dates if _shape(d) == shape and fresh(d)]
            return rng.choice(_nearest(pool, old)) if pool else _shift(old)
        if what == "number":
            inner = NUMBER.search(old)
            if inner is None:
                return _shift(old)
            digits = inner.group(0)
            pool = [n for n in self.numbers if _size(n) == _size(digits) and fresh(n)
                    and ("," in n) == ("," in digits) and ("." in n) == ("." in digits)]
            pool = [n for n in pool if f" {metrics.normalize_answer(old[:inner.start()] + n + old[inner.end():])} "
                    not in norm_file]
            return old[:inner.start()] + rng.choice(_nearest(pool, digits)) + old[inner.end():] if pool else _shift(old)
        if what == "name":
            words = len(old.split())
            pool = [n for n in self.names if fresh(n)]
            alike = [n for n in pool if len(n.split()) == words]
            if alike or pool:
                return rng.choice(alike or pool)
        candidates = [p for p in dict.fromkeys(phrases) if p and not any(c.isdigit() for c in p)
                      and metrics.is_short(p) and fresh(p)]
        alike = [p for p in candidates if p[:1].isupper() == old[:1].isupper()]
        if alike or candidates:
            return rng.choice(alike or candidates)
        return next((n for n in _FALLBACK_NAMES if fresh(n)), _FALLBACK_NAMES[0])


#: A date or number is replaced by one of the corpus's values nearest to it: documents change by
#: plausible updates (1851 -> 1849, 412 -> 435), and a far-fetched value (a steam-engine date of 1266)
#: makes a model distrust its passage, which measures its priors rather than whether it follows the change.
NEAREST = 5


def _magnitude(value: str) -> float:
    """A date's year (its last 3-4 digit group) or a number's value, to measure how far two values lie apart."""
    years = re.findall(r"\d{3,4}", value)
    if DATE.fullmatch(value.strip()) and years:
        return float(years[-1])
    found = NUMBER.search(value)
    return float(found.group(0).replace(",", "")) if found else 0.0


def _nearest(pool: Sequence[str], old: str) -> list[str]:
    """The :data:`NEAREST` values of ``pool`` closest to ``old`` (ties in corpus order)."""
    here = _magnitude(old)
    return sorted(pool, key=lambda v: abs(_magnitude(v) - here))[:NEAREST]


def _size(number: str) -> int:
    return len(number.replace(",", "").split(".")[0])


def _shape(date: str) -> str:
    return re.sub(r"[A-Za-z]+", "M", re.sub(r"\d+", "9", date))


def _shift(old: str) -> str:
    """The digits of ``old`` changed (years moved by 17, other numbers ``3n + 7``): used when the corpus has no other."""
    def shift(match: re.Match[str]) -> str:
        raw = match.group(0).replace(",", "")
        if "." in raw:
            return f"{float(raw) * 3 + 7:g}"
        n = int(raw)
        return str(n + 17 if 1000 <= n <= 2100 else n * 3 + 7)

    return NUMBER.sub(shift, old)
