"""CSV/TSV as people export them: one record per row, cited at the row's line; every oddity named.

The delimiter (``,`` ``;`` tab ``|``) and quote character are sniffed, a header row
is detected, and rows are read one at a time. A row with too many or too few
fields is still indexed, with a warning naming its line; a quote that never
closes (or swallows whole rows before it closes) is named with its line and the
rows it would have eaten are read on their own.
"""

from __future__ import annotations

import csv
import io
from collections import deque
from itertools import islice
from pathlib import Path
from typing import Iterator, Sequence

from loaders.decode import decode
from loaders.section import ReadContext, Section, UnreadableFile

_SAMPLE_CHARS = 64 * 1024
_DELIMITERS = ",;\t|"
#: Ragged rows named one by one per file; the rest are summed up in one warning.
_MAX_ROW_WARNINGS = 20


def record_line(header: Sequence[str], values: Sequence[str]) -> str:
    """``"name: value; name: value"`` for the non-empty values (extra values get ``column N``)."""
    pairs = []
    for i, value in enumerate(values):
        value = " ".join(str(value).split())
        if not value:
            continue
        name = header[i] if i < len(header) and header[i] else f"column {i + 1}"
        pairs.append(f"{name}: {value}")
    return "; ".join(pairs)


def _is_number(cell: str) -> bool:
    try:
        float(cell.strip().replace(",", ".").rstrip("%").lstrip("€$£"))
        return True
    except ValueError:
        return False


def looks_like_header(first: Sequence[str], later: Sequence[Sequence[str]]) -> bool:
    """Every cell of ``first`` a distinct non-numeric label, and the rows below differ in kind or value."""
    cells = [c.strip() for c in first]
    if not cells or not all(cells) or len(set(cells)) != len(cells) or any(_is_number(c) for c in cells):
        return False
    if not later:
        return True
    # A number under a label says "header"; so does a first row whose labels appear nowhere below.
    for i, _label in enumerate(cells):
        column = [row[i].strip() for row in later if i < len(row) and row[i].strip()]
        if column and any(_is_number(v) for v in column):
            return True
    return len(later) > 0 and all(c not in {r[i].strip() for r in later if i < len(r)} for i, c in enumerate(cells))


def _dialect(sample: str, suffix: str) -> tuple[str, str]:
    """``(delimiter, quotechar)`` for the sample."""
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=_DELIMITERS)
        return sniffed.delimiter, sniffed.quotechar or '"'
    except csv.Error:
        pass
    lines = [line for line in sample.splitlines()[:20] if line.strip()]
    best, best_score = ("\t" if suffix == ".tsv" else ","), 0.0
    for delim in _DELIMITERS:
        counts = [line.count(delim) for line in lines]
        if not counts or not counts[0]:
            continue
        score = sum(c == counts[0] for c in counts) / len(counts) + counts[0] / 1000
        if score > best_score:
            best, best_score = delim, score
    return best, '"'


def _outside_quotes(line: str, delim: str, quote: str) -> int:
    """How many delimiters ``line`` has outside quotes (read on its own)."""
    count, inside = 0, False
    for ch in line:
        if ch == quote:
            inside = not inside
        elif ch == delim and not inside:
            count += 1
    return count


def _still_open(text: str, delim: str, quote: str) -> bool:
    """Whether a quoted field is still open at the end of ``text`` (as the csv module reads it)."""
    inside, at_field_start, i = False, True, 0
    while i < len(text):
        ch = text[i]
        if inside:
            if ch == quote:
                if text[i + 1 : i + 2] == quote:
                    i += 1  # "" inside quotes
                else:
                    inside = False
        elif ch == quote and at_field_start:
            inside = True
        at_field_start = not inside and ch in (delim, "\n", "\r")
        i += 1
    return inside


def _records(text: str, delim: str, quote: str, width: int | None, ctx: ReadContext) -> Iterator[tuple[int, list[str]]]:
    """``(first line, fields)`` per record; one ``csv.reader`` pass, lines pulled one at a time.

    A record spanning lines whose quote never closes, or whose middle lines are whole rows of
    their own, is named; its first line is read with the quote as a plain character and the
    lines after it are read again as rows.
    """
    stream = io.StringIO(text)
    pushback: deque[str] = deque()
    block: list[str] = []

    def feed() -> Iterator[str]:
        while True:
            line = pushback.popleft() if pushback else stream.readline()
            if not line:
                return
            block.append(line)
            yield line

    number = 0  # lines consumed before the current record
    while True:
        for fields in csv.reader(feed(), delimiter=delim, quotechar=quote, strict=False):
            lines = block[:]
            block.clear()
            start = number + 1
            number += len(lines)
            if quote not in lines[0]:
                yield start, fields
                continue
            joined = "".join(lines) if len(lines) > 1 else lines[0]
            unbalanced = joined.count(quote) % 2 == 1 and _still_open(joined, delim, quote)
            swallowed = width is not None and width > 1 and any(
                _outside_quotes(line, delim, quote) == width - 1 for line in (lines[1:] if unbalanced else lines[1:-1])
            )
            if len(lines) > 1 and (unbalanced or swallowed):
                where = "never closes" if unbalanced else f"runs on to line {start + len(lines) - 1}"
                ctx.warn(f"unclosed quote ({where}); its lines were read one by one", line=start)
                pushback.extendleft(reversed(lines[1:]))
                number = start
                yield start, next(csv.reader([lines[0].rstrip("\r\n")], delimiter=delim, quoting=csv.QUOTE_NONE), [])
                continue
            if unbalanced:
                ctx.warn("unclosed quote (never closes); read up to the end of the file", line=start)
            yield start, fields
        if not pushback:
            return


def read_csv(path: Path, data: bytes, ctx: ReadContext) -> list[Section]:
    text, encoding = decode(data, ctx.encoding)
    delim, quote = _dialect(text[:_SAMPLE_CHARS], path.suffix.lower())
    sample = (fields for _, fields in _records(text[:_SAMPLE_CHARS], delim, quote, None, ReadContext()))
    sample_rows = list(islice((f for f in sample if any(c.strip() for c in f)), 21))
    if not sample_rows:
        raise UnreadableFile("CSV has no rows")
    has_header = looks_like_header(sample_rows[0], sample_rows[1:])
    header: list[str] = [c.strip() for c in sample_rows[0]] if has_header else []
    width = len(header) if has_header else len(sample_rows[0])
    lines: list[str] = []
    line_map: list[int] = []
    records = _records(text, delim, quote, width, ctx)
    if has_header:
        next(r for r in records if any(f.strip() for f in r[1]))
    ragged: list[int] = []
    for line, fields in records:
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != width:
            ragged.append(line)
            if len(ragged) <= _MAX_ROW_WARNINGS:
                more = "too many" if len(fields) > width else "too few"
                first = "the header" if has_header else "the first row"
                ctx.warn(f"{len(fields)} fields where {first} has {width} ({more}); indexed as they are", line=line)
        lines.append(record_line(header, fields))
        line_map.append(line)
    if len(ragged) > _MAX_ROW_WARNINGS:
        rest = ragged[_MAX_ROW_WARNINGS:]
        ctx.warn(f"{len(rest)} more rows with a different number of fields (lines {rest[0]}-{rest[-1]}); indexed as they are", line=rest[0])
    if not lines:
        raise UnreadableFile("CSV has no data rows")
    return [Section("\n".join(lines), line_map=tuple(line_map), kind="csv", encoding=encoding)]
