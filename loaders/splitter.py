"""Split sections into token-sized chunks that keep their place in the file.

Sizes are counted in tiktoken ``cl100k_base`` tokens (never the splitter's
``gpt2`` default). Markdown is first cut at its headings, and each chunk keeps
the heading path (``"Warranty > Frame and fork"``) in its metadata.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from loaders.section import Section
from loaders.tokens import DEFAULT_ENCODING, install_offline_encodings

if TYPE_CHECKING:
    from langchain_text_splitters import TextSplitter

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class SplitConfig:
    """How documents are cut into chunks; recorded with the index."""

    chunk_size: int = 200
    chunk_overlap: int = 30
    encoding: str = DEFAULT_ENCODING
    #: RAG_ENCODING: decode text files with this instead of detecting (empty: detect)
    text_encoding: str = ""

    def __post_init__(self) -> None:
        if self.chunk_size < 16:
            raise ValueError(f"chunk size {self.chunk_size} is too small: use at least 16 tokens")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ValueError(
                f"chunk overlap {self.chunk_overlap} must be at least 0 and below the chunk size {self.chunk_size}"
            )


@dataclass(frozen=True)
class Chunk:
    """A piece of a source file, ready to embed, with what a citation needs."""

    id: str
    text: str
    source: str
    content_hash: str
    position: int
    start_line: int | None = None
    end_line: int | None = None
    page: int | None = None
    headings: str = ""
    kind: str = "text"
    extra: dict[str, str | int | float] = field(default_factory=dict)

    def metadata(self) -> dict[str, str | int | float]:
        """Flat metadata for the vector store (no ``None`` values)."""
        meta: dict[str, str | int | float] = {
            "source": self.source,
            "content_hash": self.content_hash,
            "position": self.position,
            "kind": self.kind,
        }
        for key in ("start_line", "end_line", "page"):
            value = getattr(self, key)
            if value is not None:
                meta[key] = value
        if self.headings:
            meta["headings"] = self.headings
        meta.update(self.extra)
        return meta


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def chunk_id(source: str, text_hash: str, occurrence: int) -> str:
    """Stable id from the source, the content, and which repeat of it this is."""
    key = f"{source}\x00{text_hash}\x00{occurrence}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@functools.lru_cache(maxsize=8)
def _text_splitter(config: SplitConfig) -> "TextSplitter":
    install_offline_encodings()
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter.from_tiktoken_encoder(
        encoding_name=config.encoding,
        chunk_size=config.chunk_size,
        chunk_overlap=config.chunk_overlap,
        separators=["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""],
        keep_separator="end",
        add_start_index=True,
        strip_whitespace=True,
    )


def markdown_sections(text: str) -> list[tuple[int, str, str]]:
    """Cut markdown at headings: ``(first_line_index, heading_path, text)``."""
    lines = text.splitlines(keepends=True)
    sections: list[tuple[int, str, str]] = []
    stack: list[tuple[int, str]] = []
    start, in_fence = 0, False
    path = ""
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else _HEADING.match(line.rstrip("\n"))
        if match is None:
            continue
        if i > start:
            sections.append((start, path, "".join(lines[start:i])))
        level, title = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, title))
        path = " > ".join(t for _, t in stack)
        start = i
    sections.append((start, path, "".join(lines[start:])))
    return [s for s in sections if s[2].strip()]


def split_sections(source: str, sections: list[Section], config: SplitConfig) -> list[Chunk]:
    """Split a file's sections into chunks with stable ids and line spans."""
    splitter = _text_splitter(config)
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for section in sections:
        parts = (
            markdown_sections(section.text)
            if section.kind == "markdown"
            else [(0, section.headings, section.text)]
        )
        for first_line, headings, text in parts:
            for doc in splitter.create_documents([text]):
                piece = doc.page_content
                if not piece.strip():
                    continue
                start = doc.metadata.get("start_index", -1)
                if start < 0:
                    start = max(text.find(piece), 0)
                first = first_line + text.count("\n", 0, start)
                last = first + piece.count("\n")
                digest = content_hash(piece)
                occurrence = seen.get(digest, 0)
                seen[digest] = occurrence + 1
                chunks.append(
                    Chunk(
                        id=chunk_id(source, digest, occurrence),
                        text=piece,
                        source=source,
                        content_hash=digest,
                        position=len(chunks),
                        start_line=None if section.page else section.source_line(first),
                        end_line=None if section.page else section.source_line(last),
                        page=section.page,
                        headings=headings,
                        kind=section.kind,
                        extra={"encoding": section.encoding} if section.encoding != "utf-8" else {},
                    )
                )
    return chunks
