"""Excel workbooks (openpyxl): one record per row with the header's field names, per sheet.

Each sheet is a section whose heading is the sheet's name and whose lines are
row numbers, so a chunk is cited as ``budget.xlsx Costs!14`` (or ``Costs!14:16``).
Values are the ones Excel saved (a formula's last result); a formula with no
saved result is named in a warning.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

from loaders.office import check_package
from loaders.section import ReadContext, Section, UnreadableFile
from loaders.tabular import looks_like_header, record_line


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return " ".join(str(value).split())


def _sheet(ws: Any, formulas: Any, ctx: ReadContext) -> Section | None:
    header: list[str] | None = None
    lines: list[str] = []
    rows: list[int] = []
    missing: list[str] = []
    pending: list[tuple[int, list[str]]] = []  # the first rows, until the header question is settled
    raw_rows = formulas.iter_rows(values_only=True) if formulas is not None else None
    for number, values in enumerate(ws.iter_rows(values_only=True), 1):  # iter_rows starts at row 1
        cells = [_cell_text(v) for v in values]
        raw = next(raw_rows, ()) if raw_rows is not None else ()
        for col, value in enumerate(raw):
            if isinstance(value, str) and value.startswith("=") and (col >= len(cells) or not cells[col]):
                missing.append(f"{ws.title}!{_column(col)}{number}")
        while cells and not cells[-1]:
            cells.pop()
        if not any(cells):
            continue
        if header is None and len(pending) < 5:
            pending.append((number, cells))
            continue
        if header is None:
            header = _settle(pending, lines, rows)
            _emit(pending, header, lines, rows)
            pending = []
        _emit([(number, cells)], header, lines, rows)
    if header is None and pending:
        header = _settle(pending, lines, rows)
        _emit(pending, header, lines, rows)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        ctx.warn(f"sheet {ws.title}: formulas without a saved result ({shown}): open and save the file in Excel to index their values")
    if not lines:
        return None
    return Section("\n".join(lines), line_map=tuple(rows), kind="xlsx", headings=ws.title)


def _settle(pending: list[tuple[int, list[str]]], lines: list[str], rows: list[int]) -> list[str]:
    """The header (``[]`` when there is none); the header row and what stands above it leave ``pending``.

    The header is the first of the widest rows, when the rows below it look like its data; rows
    above it (a title, a note) are emitted as they are. Columns left of the table (one drawn
    from B3) are blank in every row and do not count.
    """
    widths = [sum(1 for c in cells if c) for _, cells in pending]
    top = widths.index(max(widths))
    if top < len(pending) - 1:
        first, below = pending[top][1], pending[top + 1 :]
        lead = next((i for i, c in enumerate(first) if c), 0)
        if any(any(cells[:lead]) for _, cells in below):
            lead = 0
        if looks_like_header(first[lead:], [c[lead:] for _, c in below]):
            _emit(pending[:top], [], lines, rows)
            del pending[: top + 1]
            return [""] * lead + first[lead:]
    return []


def _emit(rows_in: list[tuple[int, list[str]]], header: list[str], lines: list[str], rows: list[int]) -> None:
    for number, cells in rows_in:
        names = header or [_column(i) for i in range(len(cells))]
        lines.append(record_line(names, cells))
        rows.append(number)


def _column(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def _has_formulas(data: bytes) -> bool:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as package:
        return any(
            b"<f>" in package.read(name) or b"<f " in package.read(name)
            for name in package.namelist()
            if name.startswith("xl/worksheets/") and name.endswith(".xml")
        )


def read_xlsx(path: Path, data: bytes, ctx: ReadContext) -> list[Section]:
    check_package(data, "Excel workbook", ".xls")
    try:
        import openpyxl
    except ImportError:  # pragma: no cover - openpyxl is a core dependency
        raise UnreadableFile("Excel files need openpyxl: pip install openpyxl") from None
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "unknown extension", "no default style": not the user's problem
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            # Only a workbook with formulas is opened twice (to name formulas Excel never computed).
            formulas = openpyxl.load_workbook(io.BytesIO(data), read_only=True) if _has_formulas(data) else None
            sections = []
            for ws in book.worksheets:
                section = _sheet(ws, formulas[ws.title] if formulas is not None else None, ctx)
                if section is not None:
                    sections.append(section)
    except UnreadableFile:
        raise
    except Exception as exc:  # openpyxl raises KeyError, ValueError, InvalidFileException ...
        raise UnreadableFile(f"corrupt Excel workbook: {type(exc).__name__}: {exc}") from None
    if not sections:
        raise UnreadableFile("no values in any sheet")
    return sections
