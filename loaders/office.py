"""Word and PowerPoint files (python-docx, python-pptx), cited as a person would look them up.

``.docx``: paragraphs and table rows in document order, one text line each, under
their heading path; a chunk's lines are the numbers of those paragraphs and rows
(``report.docx § Warranty > Frame ¶12-14``). ``.pptx``: one section per slide
(title, text, tables, speaker notes), cited as ``deck.pptx slide 3``.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any, Iterator

from loaders.section import ReadContext, Section, UnreadableFile
from loaders.tabular import looks_like_header, record_line

OFFICE_HINT = "pip install 'rag-app[office]'"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADING = re.compile(r"^(?:Heading|Überschrift|Titre|Título|Titolo|Kop)\s*(\d)$", re.IGNORECASE)


def check_package(data: bytes, kind: str, old: str) -> None:
    """Raise :class:`UnreadableFile` unless ``data`` is an Office Open XML (zip) package."""
    if data.startswith(_OLE):
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise UnreadableFile(f"password-protected {kind}: save a copy without a password to index it")
        raise UnreadableFile(f"old binary {kind} format ({old}) under a new name: save it as {kind} from the app")
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise UnreadableFile(f"corrupt {kind}: not a zip package")


def _needs(module: str, package: str, what: str) -> Any:
    """``import module``, or :class:`UnreadableFile` naming the one-line install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UnreadableFile(f"{what} need {package}: {OFFICE_HINT}") from None


def _row_cells(row: Any) -> list[str]:
    cells: list[str] = []
    last = None
    for cell in row.cells:
        if cell is last:  # a merged (spanning) cell is yielded once per grid column
            continue
        last = cell
        cells.append(" ".join(cell.text.split()))
    return cells


def _table_lines(rows: list[list[str]]) -> list[str]:
    rows = [r for r in rows if any(r)]
    if not rows:
        return []
    if len(rows) > 1 and looks_like_header(rows[0], rows[1:]):
        header, body = rows[0], rows[1:]
        return [" | ".join(header)] + [record_line(header, r) for r in body]
    return [" | ".join(c for c in r if c) for r in rows]


def _docx_blocks(document: Any) -> Iterator[tuple[int | None, str]]:
    """``(heading level or None, text)`` per paragraph and table row, in document order."""
    from docx.table import Table

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for line in _table_lines([_row_cells(row) for row in block.rows]):
                yield None, line
            continue
        text = " ".join(block.text.split())
        if not text:
            continue
        style = (block.style.name if block.style is not None else "") or ""
        match = _HEADING.match(style)
        level = 0 if style == "Title" else int(match.group(1)) if match else None
        yield level, text


def read_docx(path: Path, data: bytes, ctx: ReadContext) -> list[Section]:
    check_package(data, "Word document", ".doc")
    docx = _needs("docx", "python-docx", "Word files")
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = list(_docx_blocks(document))
    except UnreadableFile:
        raise
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors on broken parts
        raise UnreadableFile(f"corrupt Word document: {type(exc).__name__}: {exc}") from None
    sections = heading_sections(blocks, "docx")
    if not sections:
        raise UnreadableFile("no text in the Word document")
    return sections


def heading_sections(blocks: list[tuple[int | None, str]], kind: str) -> list[Section]:
    """Numbered blocks (``(heading level or None, text)``) as one section per heading path."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    lines: list[str] = []
    numbers: list[int] = []

    def flush() -> None:
        if lines:
            path = " > ".join(t for _, t in stack)
            sections.append(Section("\n".join(lines), line_map=tuple(numbers), kind=kind, headings=path))
        lines.clear()
        numbers.clear()

    for number, (level, text) in enumerate(blocks, 1):
        if level is not None:
            flush()
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, text))
        lines.append(text)
        numbers.append(number)
    flush()
    return sections


def _shape_lines(shape: Any) -> Iterator[str]:
    if getattr(shape, "shapes", None) is not None:  # a group
        for inner in shape.shapes:
            yield from _shape_lines(inner)
        return
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [[" ".join(c.text.split()) for c in row.cells] for row in shape.table.rows]
        yield from _table_lines(rows)
    elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        for paragraph in shape.text_frame.paragraphs:
            text = " ".join("".join(run.text for run in paragraph.runs).split())
            if text:
                yield text


def read_pptx(path: Path, data: bytes, ctx: ReadContext) -> list[Section]:
    check_package(data, "PowerPoint file", ".ppt")
    pptx = _needs("pptx", "python-pptx", "PowerPoint files")
    try:
        deck = pptx.Presentation(io.BytesIO(data))
        sections = []
        for number, slide in enumerate(deck.slides, 1):
            title_shape = slide.shapes.title
            title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
            lines = [title] if title else []
            for shape in slide.shapes:
                if title_shape is not None and shape.shape_id == title_shape.shape_id:
                    continue
                lines.extend(_shape_lines(shape))
            if slide.has_notes_slide:
                notes = " ".join(slide.notes_slide.notes_text_frame.text.split())
                if notes:
                    lines.append(f"Notes: {notes}")
            if lines:
                sections.append(Section("\n".join(lines), page=number, kind="pptx", headings=title))
    except Exception as exc:
        raise UnreadableFile(f"corrupt PowerPoint file: {type(exc).__name__}: {exc}") from None
    if not sections:
        raise UnreadableFile("no text on any slide")
    return sections
