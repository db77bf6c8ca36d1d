"""PDF pages as sections (pypdf), with pypdf's own warnings folded into the skip reason."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path
from typing import Iterator

from loaders.section import ReadContext, Section, UnreadableFile


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


OCR_HINT = "install tesseract-ocr to read it"


def _ocr_engine() -> tuple[object | None, str]:
    """``(pytesseract, "")`` when OCR can run, else ``(None, what to install)``."""
    import shutil

    if shutil.which("tesseract") is None:
        return None, OCR_HINT
    try:
        import pytesseract
    except ImportError:
        return None, "install pytesseract to read it: pip install 'rag-app[ocr]'"
    return pytesseract, ""


def _ocr_page(page: object, engine: object) -> str:
    """The text Tesseract reads in the page's images (a scanned page is one image)."""
    texts = []
    for image in page.images:  # type: ignore[attr-defined]
        texts.append(engine.image_to_string(image.image).strip())  # type: ignore[attr-defined]
    return "\n".join(t for t in texts if t)


def read_pdf(path: Path, data: bytes, ctx: ReadContext) -> list[Section]:
    """One section per page with text; a page without a text layer is read by OCR or named."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError
    except ImportError:  # pragma: no cover - pypdf is a core dependency
        raise UnreadableFile("PDF support needs pypdf: pip install pypdf") from None
    if not data.startswith(b"%PDF"):
        raise UnreadableFile("not a PDF (no %PDF header)")
    blank: list[int] = []
    ocr_failed: list[tuple[int, str]] = []
    engine: object | None = None
    missing = ""
    with _quiet_pypdf() as notes:
        try:
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise UnreadableFile("encrypted PDF: save a copy without a password to index it")
            sections = []
            for number, page in enumerate(reader.pages, 1):
                text = (page.extract_text() or "").strip()
                if not text and page.images:
                    if engine is None and not missing:
                        engine, missing = _ocr_engine()
                    if engine is not None:
                        try:
                            text = _ocr_page(page, engine)
                        except Exception as exc:  # a Tesseract error or an image Pillow cannot decode
                            ocr_failed.append((number, f"OCR failed: {' '.join(str(exc).split())[:200]}"))
                            continue
                if text:
                    sections.append(Section(text, page=number, kind="pdf"))
                else:
                    blank.append(number)
        except UnreadableFile:
            raise
        except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            problem = f"corrupt PDF: {exc}"
        else:
            problem = ""
            if not sections:
                problem = f"no text layer on any page (scanned?) — {missing}" if missing else "PDF has no text on any page"
                if ocr_failed:
                    problem = ocr_failed[0][1]
    if problem:
        said = [n for n in dict.fromkeys(notes) if n and n not in problem]
        raise UnreadableFile(problem + (f" (pypdf: {'; '.join(said[:3])})" if said else ""))
    for number, reason in ocr_failed:
        ctx.warn(reason, page=number)
    for number in blank:
        why = f"no text layer (scanned?) — {missing}" if missing else "no text on this page (OCR found none either)" if engine else "no text on this page"
        ctx.warn(why, page=number)
    return sections
