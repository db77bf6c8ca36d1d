"""Where a chunk came from, as people write it: ``warranty.md:9-11`` or ``manual.pdf p.2``."""

from __future__ import annotations

from typing import Any, Mapping


def location(source: str, start_line: int | None = None, end_line: int | None = None, page: int | None = None) -> str:
    """``source p.PAGE``, ``source:START-END``, ``source:LINE``, or ``source`` alone."""
    if page is not None:
        return f"{source} p.{page}"
    if start_line is None:
        return source
    if end_line in (None, start_line):
        return f"{source}:{start_line}"
    return f"{source}:{start_line}-{end_line}"


def location_of(metadata: Mapping[str, Any], source: str | None = None) -> str:
    """:func:`location` from a chunk's metadata (``source`` replaces the recorded path)."""
    return location(
        str(metadata.get("source", "?")) if source is None else source,
        metadata.get("start_line"), metadata.get("end_line"), metadata.get("page"),
    )
