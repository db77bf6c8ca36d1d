"""Text from a file's bytes, right even on short files.

Order: a forced encoding (``RAG_ENCODING``); a BOM; UTF-16/32 without a BOM when
NUL bytes sit in alternate positions; UTF-8; then Windows-1252 when the text is
mostly ASCII with a few Western accented letters or typographic marks; else
charset-normalizer's guess. Short texts are where detectors guess wrong ("crème"
read as cp1257 "crčme"), so the Western check runs first and gives way only when
the bytes do not look like Western text at all.
"""

from __future__ import annotations

import codecs
import re

from loaders.section import UnreadableFile

_SNIFF_BYTES = 8192

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

#: Non-ASCII characters that Western European text in cp1252 is made of.
_WESTERN = set(
    "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßœšž"
    "ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝŸŒŠŽ"
    "€‘’“”„–—…•°£¥§©®«»¿¡™·×÷±µ¢¤¹²³¼½¾ªº\u00a0"
)
#: Four accented letters in a row: no Western language writes that; Cyrillic, Greek... in a code page do.
_FOREIGN_RUN = re.compile(r"[^\x00-\x7f]{4,}")
#: Control characters no text file holds (a NUL pattern that decodes to these was binary).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")


def _nul_pattern(data: bytes) -> str | None:
    """``utf-32-le/be`` or ``utf-16-le/be`` when NULs sit where those encodings put them."""
    sample = data[:_SNIFF_BYTES]
    if len(sample) < 4 or b"\x00" not in sample:
        return None

    def zero_share(width: int, offset: int) -> float:
        column = sample[offset : len(sample) - len(sample) % width : width]
        return column.count(0) / max(len(column), 1)

    if zero_share(4, 2) > 0.9 and zero_share(4, 3) > 0.9 and zero_share(4, 0) < 0.1:
        return "utf-32-le"
    if zero_share(4, 0) > 0.9 and zero_share(4, 1) > 0.9 and zero_share(4, 3) < 0.1:
        return "utf-32-be"
    if zero_share(2, 1) > 0.6 and zero_share(2, 0) < 0.05:
        return "utf-16-le"
    if zero_share(2, 0) > 0.6 and zero_share(2, 1) < 0.05:
        return "utf-16-be"
    return None


def _looks_western(data: bytes) -> bool:
    """Mostly ASCII with a few cp1252 accented letters or marks, none of them out of place."""
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return False  # a byte cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D)
    foreign = [ch for ch in text if ord(ch) > 0x7F]
    ascii_letters = sum(ch.isascii() and ch.isalpha() for ch in text)
    if not foreign or ascii_letters < len(foreign):
        return False
    return all(ch in _WESTERN for ch in foreign) and not _FOREIGN_RUN.search(text)


def detect_encoding(data: bytes) -> str:
    """The encoding of ``data`` (see the module docstring for the order).

    Raises :class:`UnreadableFile` for binary data or bytes no text encoding fits.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    wide = _nul_pattern(data)
    if wide is not None:
        try:
            text = data[: len(data) - len(data) % (4 if "32" in wide else 2)].decode(wide)
            if not _CONTROL.search(text):
                return wide
        except UnicodeDecodeError:
            pass
    if b"\x00" in data[:_SNIFF_BYTES]:
        raise UnreadableFile("binary file (contains NUL bytes)")
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if _looks_western(data):
        return "cp1252"
    from charset_normalizer import from_bytes

    # Without a BOM or a NUL pattern, a UTF-16/32 guess is noise.
    matches = [m for m in from_bytes(data) if not m.encoding.startswith(("utf_16", "utf_32"))]
    if not matches:
        raise UnreadableFile("unknown text encoding; set RAG_ENCODING or convert it to UTF-8 with e.g. `iconv -t UTF-8`")
    return str(matches[0].encoding)


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """``(text, encoding)``: the file's bytes as text, or :class:`UnreadableFile` saying why not.

    ``encoding`` (``RAG_ENCODING``) forces one instead of detecting it.
    """
    if not data.strip():
        raise UnreadableFile("empty file")
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise UnreadableFile(f"unknown encoding {encoding!r} in RAG_ENCODING") from None
    chosen = encoding or detect_encoding(data)
    try:
        text = data.decode(chosen)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        why = "RAG_ENCODING" if encoding else "detected"
        raise UnreadableFile(
            f"not valid {chosen} ({why}) at line {line}; set RAG_ENCODING or convert it to UTF-8 with e.g. `iconv -t UTF-8`"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise UnreadableFile("empty file")
    return text, _canonical(chosen)


def _canonical(encoding: str) -> str:
    name = codecs.lookup(encoding).name
    return "utf-8" if name in {"utf-8", "utf-8-sig", "ascii"} else name
