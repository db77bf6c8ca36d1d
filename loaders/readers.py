"""Turn one file into text sections that remember where they came from.

Every reader returns a list of :class:`Section`. A section carries the text to
index plus what a citation needs: the line in the original file that each line
of the text came from (text formats) or the page number (PDF). A file that
cannot be read raises :class:`UnreadableFile` with a reason a user can act on.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
import logging
import warnings
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable, Iterator

_BINARY_SNIFF_BYTES = 8192


class UnreadableFile(Exception):
    """The file was skipped; ``str(exc)`` says why."""


@dataclass(frozen=True)
class Section:
    """A piece of a file's text and its position in the file.

    ``line_map[i]`` is the 1-based line of the source file that line ``i`` of
    ``text`` came from; ``page`` is the 1-based PDF page, else ``None``.
    """

    text: str
    line_map: tuple[int, ...] | None = None
    page: int | None = None
    kind: str = "text"
    encoding: str = "utf-8"  # how the file's bytes were decoded (recorded when not UTF-8)

    def source_line(self, text_line: int) -> int:
        """Source line (1-based) of 0-based line ``text_line`` of this section."""
        if self.line_map is None:
            return text_line + 1
        if not self.line_map:
            return 1
        return self.line_map[min(text_line, len(self.line_map) - 1)]


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def detect_encoding(data: bytes) -> str:
    """The encoding of ``data``: a BOM, else UTF-8 if it decodes, else charset-normalizer's guess.

    Raises :class:`UnreadableFile` for binary data or bytes no text encoding fits.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    if b"\x00" in data[:_BINARY_SNIFF_BYTES]:
        raise UnreadableFile("binary file (contains NUL bytes)")
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    # Without a BOM and without NUL bytes, a UTF-16/32 guess is noise.
    matches = [m for m in from_bytes(data) if not m.encoding.startswith(("utf_16", "utf_32"))]
    if not matches:
        raise UnreadableFile("unknown text encoding; convert it to UTF-8 with e.g. `iconv -t UTF-8`")
    best = matches[0]
    # Western text fits several code pages equally well; Windows-1252 (a superset of the
    # printable Latin-1) is what such files almost always are.
    for match in matches:
        if "cp1252" in match.could_be_from_charset and match.chaos <= best.chaos + 0.01:
            return "cp1252"
    return str(best.encoding)


def _decode_with(data: bytes) -> tuple[str, str]:
    """``(text, encoding)``."""
    if not data.strip():
        raise UnreadableFile("empty file")
    encoding = detect_encoding(data)
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        raise UnreadableFile(f"not valid {encoding}; convert it to UTF-8 with e.g. `iconv -t UTF-8`") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise UnreadableFile("empty file")
    return text, _canonical(encoding)


def _canonical(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    return "utf-8" if name in {"utf-8", "utf-8-sig", "ascii"} else name


def read_plain(path: Path, data: bytes) -> list[Section]:
    text, encoding = _decode_with(data)
    return [Section(text, kind="text", encoding=encoding)]


def read_markdown(path: Path, data: bytes) -> list[Section]:
    text, encoding = _decode_with(data)
    return [Section(text, kind="markdown", encoding=encoding)]


class _HTMLText(HTMLParser):
    """Collects visible text with the source line of each piece."""

    _SKIP = {"script", "style", "noscript", "template", "head"}
    _BLOCK = {
        "p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article",
        "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "title", "dt", "dd",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []
        self._current: list[str] = []
        self._current_line = 1
        self._skip_depth = 0

    def _flush(self) -> None:
        text = " ".join(" ".join(self._current).split())
        if text:
            self.lines.append((self._current_line, text))
        self._current = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in self._SKIP and tag != "head":
            self._skip_depth += 1
        if tag in self._BLOCK:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and tag != "head" and self._skip_depth:
            self._skip_depth -= 1
        if tag in self._BLOCK:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._skip_depth or not data.strip():
            return
        if not self._current:
            # getpos() is where this data starts; skip leading newlines.
            line, _ = self.getpos()
            leading = data[: len(data) - len(data.lstrip())]
            self._current_line = line + leading.count("\n")
        self._current.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def read_html(path: Path, data: bytes) -> list[Section]:
    parser = _HTMLText()
    text, encoding = _decode_with(data)
    parser.feed(text)
    parser.close()
    if not parser.lines:
        raise UnreadableFile("no visible text in the HTML")
    return [
        Section(
            "\n".join(text for _, text in parser.lines),
            line_map=tuple(line for line, _ in parser.lines),
            kind="html",
            encoding=encoding,
        )
    ]


def read_csv(path: Path, data: bytes) -> list[Section]:
    text, encoding = _decode_with(data)
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise UnreadableFile(f"malformed CSV: {exc}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise UnreadableFile("CSV has no data rows")
    header = rows[0]
    lines: list[str] = []
    line_map: list[int] = []
    # Map each data row to its physical line; rows may span lines when quoted.
    reader = csv.reader(io.StringIO(text))
    next(reader, None)
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        pairs = [f"{h.strip()}: {v.strip()}" for h, v in zip(header, row) if v.strip()]
        lines.append("; ".join(pairs))
        line_map.append(reader.line_num)
    return [Section("\n".join(lines), line_map=tuple(line_map), kind="csv", encoding=encoding)]


def _flatten(value: object, prefix: str = "") -> list[str]:
    if isinstance(value, dict):
        out: list[str] = []
        for key, item in value.items():
            out.extend(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        out = []
        for i, item in enumerate(value):
            out.extend(_flatten(item, f"{prefix}[{i}]"))
        return out
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return [f"{prefix}: {value}" if prefix else str(value)]


def read_jsonl(path: Path, data: bytes) -> list[Section]:
    text, encoding = _decode_with(data)
    lines: list[str] = []
    line_map: list[int] = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise UnreadableFile(f"invalid JSON on line {number}: {exc.msg}") from None
        lines.append("; ".join(_flatten(record)))
        line_map.append(number)
    return [Section("\n".join(lines), line_map=tuple(line_map), kind="jsonl", encoding=encoding)]


def _item_start_lines(text: str) -> list[int]:
    """1-based line where each element of a top-level JSON array starts."""
    starts: list[int] = []
    depth, line, in_string, escaped, expecting = 0, 1, False, False, False
    for ch in text:
        if ch == "\n":
            line += 1
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if expecting and not ch.isspace():
            starts.append(line)
            expecting = False
        if ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth == 1 and ch == "[":
                expecting = True
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 1:
            expecting = True
    return starts


def read_json(path: Path, data: bytes) -> list[Section]:
    text, encoding = _decode_with(data)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableFile(f"invalid JSON at line {exc.lineno}: {exc.msg}") from None
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        starts = _item_start_lines(text)
        if len(starts) == len(value):
            # One line of "key: value; ..." per record, cited at the record's line.
            lines = ["; ".join(_flatten(item)) for item in value]
            return [Section("\n".join(lines), line_map=tuple(starts), kind="json", encoding=encoding)]
    # Anything else: the file's own lines are the best citation target.
    return [Section(text, kind="json", encoding=encoding)]


class _Collected(logging.Handler):
    """Keeps a library's log lines instead of letting them reach stderr."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(" ".join(record.getMessage().split()))


@contextlib.contextmanager
def _quiet_pypdf() -> Iterator[list[str]]:
    """pypdf's warnings and log lines, collected (for the skip reason) instead of printed."""
    logger = logging.getLogger("pypdf")
    handler = _Collected()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
        handler.lines.extend(" ".join(str(w.message).split()) for w in caught)


def read_pdf(path: Path, data: bytes) -> list[Section]:
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:  # pragma: no cover - pypdf is a core dependency
        raise UnreadableFile("PDF support needs pypdf: pip install pypdf") from None
    if not data.startswith(b"%PDF"):
        raise UnreadableFile("not a PDF (no %PDF header)")
    with _quiet_pypdf() as notes:
        try:
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise UnreadableFile("encrypted PDF")
            sections = []
            for number, page in enumerate(reader.pages, 1):
                text = (page.extract_text() or "").strip()
                if text:
                    sections.append(Section(text, page=number, kind="pdf"))
        except UnreadableFile:
            raise
        except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            problem = f"corrupt PDF: {exc}"
        else:
            problem = "" if sections else "PDF has no extractable text (scanned images need OCR)"
    if problem:
        said = [n for n in dict.fromkeys(notes) if n and n not in problem]
        raise UnreadableFile(problem + (f" (pypdf: {'; '.join(said[:3])})" if said else ""))
    return sections


READERS: dict[str, Callable[[Path, bytes], list[Section]]] = {
    ".txt": read_plain,
    ".text": read_plain,
    ".rst": read_plain,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".html": read_html,
    ".htm": read_html,
    ".csv": read_csv,
    ".json": read_json,
    ".jsonl": read_jsonl,
    ".pdf": read_pdf,
}


def read_file(path: Path, data: bytes | None = None) -> list[Section]:
    """Read ``path`` into sections, or raise :class:`UnreadableFile`."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UnreadableFile(f"unsupported file type '{path.suffix or path.name}'")
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UnreadableFile(f"cannot read: {exc.strerror}") from None
    return reader(path, data)
