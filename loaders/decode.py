"""Text from a file's bytes: BOMs, UTF-8, else a charset-normalizer guess (cp1252 for Western text)."""

from __future__ import annotations

import codecs

from loaders.section import UnreadableFile

_BINARY_SNIFF_BYTES = 8192

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


def decode(data: bytes) -> tuple[str, str]:
    """``(text, encoding)``: the file's bytes as text, or :class:`UnreadableFile` saying why not."""
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
