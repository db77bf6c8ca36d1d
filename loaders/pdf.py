"""PDF pages as sections (pypdf), with pypdf's own warnings folded into the skip reason."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Iterator

from loaders.section import Section, UnreadableFile


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
