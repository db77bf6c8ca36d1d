"""Small text helpers shared by the extractive answerer and the answer checks.

:func:`sentence_spans` is the one segmentation of passages into answerable units: the support
check cites the unit an answer sentence came from, and the extractive answerer quotes units,
so both must cut text the same way. Prose is cut into sentences (and list items); a heading, a
table row, an RST title underline or a line of HTML text never runs into the next line; in
structured records (``csv``, ``json``, ``jsonl`` chunks: one record per line) every line is a unit.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]*[A-Z0-9])|\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)")
_WORD = re.compile(r"[A-Za-z0-9]+(?:[.,'][A-Za-z0-9]+)*")
#: Chunk kinds whose text is one record per line (the readers render "field: value; ...").
RECORD_KINDS = frozenset({"csv", "json", "jsonl", "xlsx"})
#: Chunk kinds in which every line is a block of its own (records, HTML's text blocks, and the
#: paragraphs, table rows and slide lines the Office/EPUB readers put one to a line).
LINE_KINDS = RECORD_KINDS | {"html", "docx", "odt", "pptx", "epub"}
#: A line that is a unit of its own: a markdown heading or a table row.
_OWN_LINE = re.compile(r"[ \t]*(?:#{1,6}[ \t]+\S.*|\|.*\|[ \t]*)$")
#: A line that only underlines (or overlines) a title, or a rule: a border, never text.
_RULE = re.compile(r"[ \t]*([-=~^*+#_`:.'\"])\1{2,}[ \t]*$")
_CLOSED = re.compile(r"[.!?:;,)\]\"'”’|-]$")
_TABLE_DIVIDER = re.compile(r"[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$")

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves many much long""".split()
)


def sentences(text: str, kind: str | None = None) -> list[str]:
    """The units of :func:`sentence_spans`, whitespace squeezed."""
    return [" ".join(text[a:b].split()) for a, b in sentence_spans(text, kind)]


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A deliberately tiny stemmer: enough to match 'charges' with 'charge'."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> list[str]:
    """Lower-cased, stemmed words without stopwords (numbers kept)."""
    return list(_content_words(text))


@lru_cache(maxsize=16384)
def _content_words(text: str) -> tuple[str, ...]:
    # The same passages come back for many questions: their words are worked out once.
    return tuple(stem(w) for w in (m.group(0).lower() for m in _WORD.finditer(text)) if w not in STOPWORDS)


@lru_cache(maxsize=1)
def _snowball() -> Any:
    import Stemmer  # PyStemmer: Snowball, as BM25 search uses

    return Stemmer.Stemmer("english")


_TERM = re.compile(r"[A-Za-z0-9]+(?:[-'.,][A-Za-z0-9]+)*")
_LIST_NUMBER = re.compile(r"\(?\d{1,3}[.)]")
#: A period after these is not a sentence end: initials ("James E. Webb") and common abbreviations.
_ABBREVIATION = re.compile(
    r"(?:\b[A-Z]|\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Gen|Col|Lt|Capt|Gov|Sen|Rep|Rev|Mt|Ft|vs|etc|approx|No|Vol|Fig|Inc|Ltd|Co|Corp)"
    r"|\b(?:[A-Za-z]\.){1,3}[A-Za-z])\.$"
)


def terms(text: str) -> list[str]:
    """Snowball-stemmed content words ('frames' → 'frame'); ``e-bikes`` also gives ``ebik``,
    ``range_km`` gives ``range`` and ``km``; numbers kept (``3,000`` → ``3000``)."""
    return list(_terms(text))


@lru_cache(maxsize=16384)
def _terms(text: str) -> tuple[str, ...]:
    # The same passage sentences come back for many questions: their terms are worked out once.
    words: list[str] = []
    for word in _TERM.findall(text.replace("_", " ").lower()):
        if word[-1] == ".":
            word = word.rstrip(".")
        if word.isalnum():  # the common case, quickly
            if word.isdigit() or (len(word) > 1 and word not in STOPWORDS):
                words.append(word)
            continue
        if "," in word:
            if word.replace(",", "").replace(".", "").isdigit():
                words.append(word.replace(",", ""))
            else:
                words.extend(_plain(word.replace(",", " ")))  # "frames,and": a missing space
            continue
        if "-" in word:
            parts = word.split("-")
            words.extend(p for p in parts if p and p not in STOPWORDS)
            word = "".join(parts)
        word = word.replace("'", "")
        if word.replace(".", "").isdigit():
            words.append(word)
        elif word not in STOPWORDS and len(word) > 1:
            words.append(word)
    return tuple(_snowball().stemWords(words)) if words else ()


def _plain(text: str) -> list[str]:
    return [w for w in text.split() if w not in STOPWORDS and len(w) > 1]


def _blocks(text: str, kind: str | None) -> list[tuple[int, int]]:
    """``(start, end)`` of the pieces a sentence never crosses: lines of records and HTML,
    headings, table rows; title underlines and table dividers are dropped."""
    blocks: list[tuple[int, int]] = []
    start = pos = 0
    every_line = kind in LINE_KINDS
    lines = text.splitlines(keepends=True)
    for number, line in enumerate(lines):
        end = pos + len(line)
        body = line.rstrip("\r\n")
        title = _is_title(body, lines[number + 1] if number + 1 < len(lines) else "")
        if every_line or title or _OWN_LINE.match(body) or _RULE.match(body) or _TABLE_DIVIDER.match(body):
            if start < pos:
                blocks.append((start, pos))
            if not (_RULE.match(body) or _TABLE_DIVIDER.match(body)) or (every_line and kind in RECORD_KINDS):
                blocks.append((pos, pos + len(body)))
            start = end
        pos = end
    if start < len(text):
        blocks.append((start, len(text)))
    return blocks


def _is_title(line: str, following: str) -> bool:
    """A short line without closing punctuation above a capitalised one: a title ("Error codes")."""
    words = line.split()
    return (
        0 < len(words) <= 8 and not _CLOSED.search(line.rstrip()) and line.strip()[:1].isupper()
        and following.strip()[:1].isupper() and words[-1].lower() not in STOPWORDS
    )


def sentence_spans(text: str, kind: str | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` character offsets of the units of ``text`` (a chunk of ``kind``)."""
    spans: list[tuple[int, int]] = []
    for first, last in _blocks(text, kind):
        if kind in RECORD_KINDS:
            _add(spans, text, first, last)
            continue
        start = first
        for match in [*_SENTENCE_END.finditer(text, first, last), None]:
            end = match.start() if match else last
            if match and (_LIST_NUMBER.fullmatch(text[start:end].strip()) or _ABBREVIATION.search(text[start:end])):
                continue  # "1." starts the item that follows it; "James E. Webb" is one name
            _add(spans, text, start, end)
            if match:
                start = match.end()
    return spans


def _add(spans: list[tuple[int, int]], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    if piece.strip():
        lead = len(piece) - len(piece.lstrip())
        spans.append((start + lead, start + len(piece.rstrip())))
