"""OpenDocument text and EPUB, read with the standard library (both are zip packages of XML).

``.odt``: paragraphs, list items and table rows in order under their heading path,
cited like Word files (``notes.odt § Intro ¶4``). ``.epub``: one section per
chapter (spine document) in reading order, cited as ``book.epub ch.3``.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
from pathlib import Path
from typing import Iterator
from xml.etree import ElementTree as ET

from loaders.office import heading_sections
from loaders.section import ReadContext, Section, UnreadableFile
from loaders.tabular import looks_like_header, record_line

_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"


def _package(data: bytes, kind: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UnreadableFile(f"corrupt {kind}: not a zip package") from None


def _text(element: ET.Element) -> str:
    return " ".join("".join(element.itertext()).split())


def _odt_blocks(element: ET.Element) -> Iterator[tuple[int | None, str]]:
    for child in element:
        if child.tag == f"{_TEXT}h":
            text = _text(child)
            if text:
                yield int(child.get(f"{_TEXT}outline-level", "1")), text
        elif child.tag == f"{_TEXT}p":
            text = _text(child)
            if text:
                yield None, text
        elif child.tag == f"{_TABLE}table":
            rows = [[_text(cell) for cell in row.iter(f"{_TABLE}table-cell")] for row in child.iter(f"{_TABLE}table-row")]
            rows = [r for r in rows if any(r)]
            if len(rows) > 1 and looks_like_header(rows[0], rows[1:]):
                yield None, " | ".join(rows[0])
                for row in rows[1:]:
                    yield None, record_line(rows[0], row)
            else:
                for row in rows:
                    yield None, " | ".join(c for c in row if c)
        else:  # lists, sections, frames: their paragraphs in order
            yield from _odt_blocks(child)


def read_odt(path: Path, data: bytes, ctx: ReadContext) -> list[Section]:
    package = _package(data, "OpenDocument text")
    try:
        manifest = package.read("META-INF/manifest.xml") if "META-INF/manifest.xml" in package.namelist() else b""
        if b"encryption-data" in manifest:
            raise UnreadableFile("password-protected OpenDocument text: save a copy without a password to index it")
        root = ET.fromstring(package.read("content.xml"))
    except UnreadableFile:
        raise
    except (KeyError, ET.ParseError, zipfile.BadZipFile) as exc:
        raise UnreadableFile(f"corrupt OpenDocument text: {type(exc).__name__}: {exc}") from None
    body = root.find(f"{_OFFICE}body/{_OFFICE}text")
    sections = heading_sections(list(_odt_blocks(body if body is not None else root)), "odt")
    if not sections:
        raise UnreadableFile("no text in the document")
    return sections


def _spine(package: zipfile.ZipFile) -> list[str]:
    """The chapter files of an EPUB in reading order."""
    container = ET.fromstring(package.read("META-INF/container.xml"))
    rootfile = next(e for e in container.iter() if e.tag.endswith("rootfile")).get("full-path", "")
    opf = ET.fromstring(package.read(rootfile))
    base = posixpath.dirname(rootfile)
    items = {e.get("id"): e.get("href", "") for e in opf.iter() if e.tag.endswith("}item")}
    return [
        posixpath.normpath(posixpath.join(base, items[ref.get("idref")]))
        for ref in opf.iter()
        if ref.tag.endswith("}itemref") and ref.get("idref") in items
    ]


def read_epub(path: Path, data: bytes, ctx: ReadContext) -> list[Section]:
    from loaders.readers import html_lines

    package = _package(data, "EPUB")
    names = set(package.namelist())
    if "META-INF/encryption.xml" in names and b"EncryptedData" in package.read("META-INF/encryption.xml"):
        raise UnreadableFile("DRM-protected EPUB: only books without DRM can be read")
    try:
        chapters = _spine(package)
    except (KeyError, StopIteration, ET.ParseError) as exc:
        raise UnreadableFile(f"corrupt EPUB (no readable package file): {type(exc).__name__}: {exc}") from None
    sections = []
    for number, name in enumerate(chapters, 1):
        if name not in names:
            ctx.warn(f"chapter file {name} is missing from the package", page=number)
            continue
        lines = html_lines(package.read(name).decode("utf-8", errors="replace"))
        if len(lines) > 1 and lines[0][1] == lines[1][1]:
            del lines[0]  # the <title> repeated by the first heading
        if lines:
            sections.append(Section("\n".join(t for _, t in lines), page=number, kind="epub", headings=lines[0][1][:80]))
    if not sections:
        raise UnreadableFile("no text in any chapter")
    return sections
