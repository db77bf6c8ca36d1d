"""Loaders: find files, read them into sections, split sections into chunks.

``loaders`` knows nothing of the index or the chain: it turns paths into
:class:`Chunk` objects that carry their text, a stable id, a content hash and
where in the source they came from.
"""

from __future__ import annotations

from pathlib import Path

from loaders.location import location, location_of
from loaders.readers import READERS, read_file
from loaders.section import Notice, ReadContext, Section, UnreadableFile
from loaders.splitter import Chunk, SplitConfig, split_sections
from loaders.walk import DEFAULT_EXCLUDE, DEFAULT_INCLUDE, FoundFile, SourceNotFound, walk

#: Bump when reading or splitting changes what a file turns into: a reindex then
#: re-reads every file (unchanged chunks keep their ids and are not re-embedded).
LOADER_VERSION = "2"

__all__ = [
    "LOADER_VERSION",
    "Chunk",
    "Notice",
    "ReadContext",
    "DEFAULT_EXCLUDE",
    "DEFAULT_INCLUDE",
    "FoundFile",
    "READERS",
    "Section",
    "SourceNotFound",
    "SplitConfig",
    "UnreadableFile",
    "load_chunks",
    "loader_version",
    "location",
    "location_of",
    "read_file",
    "split_sections",
    "walk",
]


def loader_version(config: SplitConfig) -> str:
    """What a file's recorded hash is prefixed with: a change re-reads every file."""
    return LOADER_VERSION + (f"+{config.text_encoding}" if config.text_encoding else "")


def load_chunks(
    path: Path, config: SplitConfig, data: bytes | None = None, notices: list[Notice] | None = None
) -> list[Chunk]:
    """Read and split one file; raises :class:`UnreadableFile` if it can't be used.

    What was lost or doubtful in a file that is still indexed (a ragged CSV row, a
    scanned page) is appended to ``notices``.
    """
    ctx = ReadContext(encoding=config.text_encoding or None)
    try:
        sections = read_file(path, data, ctx)
    finally:
        if notices is not None:
            notices.extend(ctx.notices)
    chunks = split_sections(str(path), sections, config)
    if not chunks:
        raise UnreadableFile("no text to index")
    return chunks
