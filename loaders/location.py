"""Where a chunk came from, as people look it up.

``warranty.md:9-11``, ``manual.pdf p.2``, ``deck.pptx slide 3``, ``budget.xlsx Costs!14:16``,
``report.docx § Warranty > Frame ¶12-14``, ``book.epub ch.4``, ``analysis.ipynb cell 7``.
The kind of place follows from the file's type; ``headings`` (a heading path, or a
sheet's name) makes it precise where the type needs it.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any, Mapping

#: File types whose ``page`` is something else than a page.
_PAGE_WORD = {".pptx": "slide ", ".epub": "ch.", ".ipynb": "cell "}
_SHEETS = {".xlsx", ".xlsm"}
_PARAGRAPHS = {".docx", ".odt"}


def location(
    source: str,
    start_line: int | None = None,
    end_line: int | None = None,
    page: int | None = None,
    headings: str = "",
) -> str:
    """``source p.PAGE``, ``source:START-END``, ``source:LINE``, ``source`` alone, or the Office forms above."""
    suffix = PurePath(source).suffix.lower()
    if page is not None:
        return f"{source} {_PAGE_WORD.get(suffix, 'p.')}{page}"
    if start_line is None:
        return source
    span = str(start_line) if end_line in (None, start_line) else f"{start_line}-{end_line}"
    if suffix in _SHEETS:
        span = span.replace("-", ":")
        return f"{source} {_sheet_ref(headings)}!{span}" if headings else f"{source} row {span}"
    if suffix in _PARAGRAPHS:
        return f"{source} § {headings} ¶{span}" if headings else f"{source} ¶{span}"
    return f"{source}:{span}"


def _sheet_ref(name: str) -> str:
    """A sheet name as Excel writes it in a reference: quoted when it is not one plain word."""
    return name if name.replace("_", "").isalnum() else "'" + name.replace("'", "''") + "'"


def location_of(metadata: Mapping[str, Any], source: str | None = None) -> str:
    """:func:`location` from a chunk's metadata (``source`` replaces the recorded path)."""
    return location(
        str(metadata.get("source", "?")) if source is None else source,
        metadata.get("start_line"), metadata.get("end_line"), metadata.get("page"),
        str(metadata.get("headings", "") or ""),
    )
