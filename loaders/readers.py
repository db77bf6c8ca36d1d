"""Turn one file into text sections that remember where they came from: one reader per type.

Every reader returns a list of :class:`Section`. A section carries the text to
index plus what a citation needs: the line in the original file that each line
of the text came from (text formats) or the page number (PDF). A file that
cannot be read raises :class:`UnreadableFile` with a reason a user can act on.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable

from loaders.decode import decode
from loaders.section import ReadContext, Section, UnreadableFile

def read_plain(path: Path, data: bytes, ctx: ReadContext) -> list[Section]:
    text, encoding = decode(data, ctx.encoding)
    return [Section(text, kind="text", encoding=encoding)]


def read_markdown(path: Path, data: bytes, ctx: ReadContext) -> list[Section]:
    text, encoding = decode(data, ctx.encoding)
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


def html_lines(text: str) -> list[tuple[int, str]]:
    """``(source line, visible text)`` for each block of an HTML document."""
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    return parser.lines


def read_html(path: Path, data: bytes, ctx: ReadContext) -> list[Section]:
    text, encoding = decode(data, ctx.encoding)
    lines = html_lines(text)
    if not lines:
        raise UnreadableFile("no visible text in the HTML")
    return [
        Section(
            "\n".join(text for _, text in lines),
            line_map=tuple(line for line, _ in lines),
            kind="html",
            encoding=encoding,
        )
    ]


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


def read_jsonl(path: Path, data: bytes, ctx: ReadContext) -> list[Section]:
    text, encoding = decode(data, ctx.encoding)
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


def read_json(path: Path, data: bytes, ctx: ReadContext) -> list[Section]:
    text, encoding = decode(data, ctx.encoding)
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


Reader = Callable[[Path, bytes, ReadContext], "list[Section]"]


def _lazy(module: str, name: str) -> Reader:
    """A reader from a module imported on first use (a cold query never loads Office or PDF readers)."""

    def read(path: Path, data: bytes, ctx: ReadContext) -> list[Section]:
        import importlib

        return getattr(importlib.import_module(module), name)(path, data, ctx)

    read.__name__ = name
    return read


def read_legacy_office(path: Path, data: bytes, ctx: ReadContext) -> list[Section]:
    """.doc/.xls/.ppt are walked only to say what to do with them (no maintained pure-Python reader)."""
    modern = {".doc": "Word document (.doc): save it as .docx", ".xls": "Excel workbook (.xls): save it as .xlsx",
              ".ppt": "PowerPoint file (.ppt): save it as .pptx"}[path.suffix.lower()]
    raise UnreadableFile(f"old binary {modern} to index it")


READERS: dict[str, Reader] = {
    ".txt": read_plain,
    ".text": read_plain,
    ".rst": read_plain,
    ".md": read_markdown,
    ".markdown": read_markdown,
    ".html": read_html,
    ".htm": read_html,
    ".csv": _lazy("loaders.tabular", "read_csv"),
    ".tsv": _lazy("loaders.tabular", "read_csv"),
    ".json": read_json,
    ".jsonl": read_jsonl,
    ".pdf": _lazy("loaders.pdf", "read_pdf"),
    ".docx": _lazy("loaders.office", "read_docx"),
    ".pptx": _lazy("loaders.office", "read_pptx"),
    ".xlsx": _lazy("loaders.sheets", "read_xlsx"),
    ".xlsm": _lazy("loaders.sheets", "read_xlsx"),
    ".odt": _lazy("loaders.opendoc", "read_odt"),
    ".epub": _lazy("loaders.opendoc", "read_epub"),
    ".ipynb": _lazy("loaders.messages", "read_ipynb"),
    ".eml": _lazy("loaders.messages", "read_eml"),
    ".doc": read_legacy_office,
    ".xls": read_legacy_office,
    ".ppt": read_legacy_office,
}


def read_file(path: Path, data: bytes | None = None, ctx: ReadContext | None = None) -> list[Section]:
    """Read ``path`` into sections, or raise :class:`UnreadableFile`; warnings go to ``ctx.notices``."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UnreadableFile(f"unsupported file type '{path.suffix or path.name}'")
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UnreadableFile(f"cannot read: {exc.strerror}") from None
    return reader(path, data, ctx if ctx is not None else ReadContext())
