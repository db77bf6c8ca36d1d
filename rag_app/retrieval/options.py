"""What a retrieval asks for (k, mode, filters) and the Document it returns, shared by both search paths."""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rag_app.errors import ConfigError

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from rag_app.settings import Settings


@dataclass(frozen=True)
class RetrievalOptions:
    """How to pick the chunks given to the model (values checked by :class:`Settings`)."""

    k: int = 4
    search: str = "hybrid"
    fetch_k: int = 20
    min_score: float = 0.0
    where: str | None = None
    mmr_lambda: float = 0.5

    @classmethod
    def from_settings(cls, settings: "Settings", where: str | None = None) -> "RetrievalOptions":
        return cls(k=settings.k, search=settings.search, fetch_k=settings.fetch_k,
                   min_score=settings.min_score, where=where or None)


def parse_where(text: str) -> tuple[str, str]:
    """``'source:docs/*.md'`` → ``("source", "docs/*.md")``."""
    field, sep, pattern = text.partition(":")
    if not sep or not field.strip() or not pattern.strip():
        raise ConfigError(f"--where must look like FIELD:GLOB, e.g. 'source:docs/*.md', got {text!r}")
    return field.strip(), pattern.strip()


def glob_matches(field: str, value: str, pattern: str) -> bool:
    """Whether metadata ``field``'s ``value`` matches ``pattern`` (sources also relative to the cwd)."""
    if fnmatch.fnmatchcase(value, pattern):
        return True
    if field == "source":
        # Sources are absolute paths; let 'docs/*.md' and '*.md' match them too.
        rel = os.path.relpath(value) if os.path.isabs(value) else value
        return fnmatch.fnmatchcase(rel, pattern) or fnmatch.fnmatchcase(value, "*/" + pattern.lstrip("/"))
    return False


def make_document(chunk_id: str, text: str, metadata: dict[str, Any], score: float) -> "Document":
    """A retrieved chunk: its text, its metadata plus ``chunk_id`` and ``score`` (cosine similarity)."""
    from langchain_core.documents import Document

    metadata = dict(metadata)
    metadata["chunk_id"] = chunk_id
    metadata["score"] = score
    return Document(page_content=text, metadata=metadata, id=chunk_id)
