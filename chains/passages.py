"""Neighbouring chunks of one file become one passage.

Chunks overlap by ``RAG_CHUNK_OVERLAP`` tokens, so two retrieved chunks of one
file often share lines: shown apart they repeat text in the prompt and list the
same file and lines twice as sources. :func:`merge_overlapping` joins chunks of
the same source whose line ranges overlap, keeping the rank (and the
score) of the better one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from langchain_core.documents import Document


def _lines(document: "Document") -> tuple[int, int] | None:
    meta = document.metadata
    start, end = meta.get("start_line"), meta.get("end_line")
    if start is None or end is None or meta.get("page") is not None:
        return None
    return int(start), int(end)


#: Shorter shared text than this is a coincidence ("." or "the"), not chunk overlap.
MIN_OVERLAP = 8


def join_text(first: str, second: str) -> str:
    """``first`` followed by what ``second`` adds beyond their shared overlap."""
    if second in first:
        return first
    if first in second:
        return second
    for size in range(min(len(first), len(second)), MIN_OVERLAP - 1, -1):
        if first.endswith(second[:size]):
            return first + second[size:]
    return f"{first.rstrip()}\n{second.lstrip()}"


def merge_overlapping(documents: Sequence["Document"]) -> list["Document"]:
    """``documents`` (best first) with overlapping chunks of one source merged."""
    merged: list["Document"] = []
    for document in documents:
        span = _lines(document)
        source = document.metadata.get("source")
        for i, kept in enumerate(merged):
            kept_span = _lines(kept)
            if span is None or kept_span is None or kept.metadata.get("source") != source:
                continue
            if span[0] > kept_span[1] or kept_span[0] > span[1]:
                continue
            first, second = (kept, document) if kept_span[0] <= span[0] else (document, kept)
            text = join_text(first.page_content, second.page_content)
            metadata = dict(kept.metadata, start_line=min(span[0], kept_span[0]), end_line=max(span[1], kept_span[1]))
            ids = [str(x) for x in (kept.metadata.get("merged_ids") or [kept.metadata.get("chunk_id", kept.id)])]
            metadata["merged_ids"] = ids + [str(document.metadata.get("chunk_id", document.id))]
            merged[i] = kept.model_copy(update={"page_content": text, "metadata": metadata})
            break
        else:
            merged.append(document)
    return merged
