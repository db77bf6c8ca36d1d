"""Typed results of :class:`rag_app.RagApp` calls."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from chains.support import Support


def display_path(source: str) -> str:
    """A path relative to the working directory when it lies below it."""
    try:
        rel = os.path.relpath(source)
    except ValueError:
        return source
    return source if rel.startswith("..") else rel


@dataclass(frozen=True)
class Source:
    """One retrieved chunk an answer drew on, with where to find it."""

    source: str
    score: float
    chunk_id: str
    text: str
    start_line: int | None = None
    end_line: int | None = None
    page: int | None = None
    headings: str = ""

    @classmethod
    def from_document(cls, doc: "Document") -> "Source":
        meta = doc.metadata
        return cls(
            source=display_path(str(meta.get("source", ""))),
            score=float(meta.get("score", 0.0)),
            chunk_id=str(meta.get("chunk_id", doc.id or "")),
            text=doc.page_content,
            start_line=meta.get("start_line"),
            end_line=meta.get("end_line"),
            page=meta.get("page"),
            headings=str(meta.get("headings", "")),
        )

    @property
    def location(self) -> str:
        """``data/warranty.md:9-11``, ``manual.pdf p.2``, ``deck.pptx slide 3``, ``book.xlsx Parts!4``."""
        from loaders.location import location

        return location(self.source, self.start_line, self.end_line, self.page, self.headings)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"source": self.source}
        if self.page is not None:
            data["page"] = self.page
        else:
            data["start_line"] = self.start_line
            data["end_line"] = self.end_line
        data.update(location=self.location, score=self.score, chunk_id=self.chunk_id, text=self.text)
        if self.headings:
            data["headings"] = self.headings
        return data


@dataclass
class Answer:
    """An answer, the sources it came from and how long each stage took.

    ``result`` and ``source_documents`` mirror LangChain's ``RetrievalQA``
    output, for code written against it.
    """

    question: str
    answer: str
    sources: list[Source]
    timings_ms: dict[str, float]
    llm: str
    documents: list["Document"] = field(default_factory=list, repr=False)
    #: Tokens and cost (``rag_app.measure.usage.Usage.to_dict()``), filled in by the runner.
    usage: dict[str, Any] = field(default_factory=dict, repr=False)
    #: Per-sentence citations and support scores (``None`` only for answers built by hand).
    support: "Support | None" = None

    @property
    def result(self) -> str:
        return self.answer

    @property
    def source_documents(self) -> list["Document"]:
        return self.documents

    def to_retrievalqa(self) -> dict[str, Any]:
        """``{"query", "result", "source_documents"}`` exactly as RetrievalQA returned."""
        return {"query": self.question, "result": self.answer, "source_documents": self.documents}

    def to_dict(self) -> dict[str, Any]:
        data = {
            "question": self.question,
            "answer": self.answer,
            "sources": [s.to_dict() for s in self.sources],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "llm": self.llm,
            **(
                {"cited_answer": self.support.cited_text, "support": self.support.to_dict(display_path)}
                if self.support
                else {}
            ),
        }
        if self.usage:
            data["usage"] = self.usage
        return data
