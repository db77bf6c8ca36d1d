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


def _overlap(a: "Document", b: "Document") -> bool:
    sa, sb = _lines(a), _lines(b)
    if sa is None or sb is None or a.metadata.get("source") != b.metadata.get("source"):
        return False
    return not (sb[0] > sa[1] or sa[0] > sb[1])


def _join(kept: "Document", other: "Document") -> "Document":
    """``kept`` (the better-ranked) grown by ``other``: text once, line span of both, score of ``kept``."""
    ks, os_ = _lines(kept), _lines(other)
    assert ks is not None and os_ is not None
    first, second = (kept, other) if ks[0] <= os_[0] else (other, kept)
    metadata = dict(kept.metadata, start_line=min(ks[0], os_[0]), end_line=max(ks[1], os_[1]))
    ids = [str(x) for x in (kept.metadata.get("merged_ids") or [kept.metadata.get("chunk_id", kept.id)])]
    ids += [str(x) for x in (other.metadata.get("merged_ids") or [other.metadata.get("chunk_id", other.id)])]
    metadata["merged_ids"] = ids
    return kept.model_copy(update={"page_content": join_text(first.page_content, second.page_content),
                                   "metadata": metadata})


def merge_overlapping(documents: Sequence["Document"]) -> list["Document"]:
    """``documents`` (best first) with overlapping chunks of one source merged, until none overlap."""
    merged: list["Document"] = []
    for document in documents:
        current = document
        at = next((i for i, kept in enumerate(merged) if _overlap(kept, current)), None)
        if at is None:
            merged.append(current)
            continue
        merged[at] = _join(merged[at], current)
        # the grown passage may now reach a later-ranked one: absorb it too
        while True:
            other = next((j for j in range(len(merged)) if j != at and _overlap(merged[at], merged[j])), None)
            if other is None:
                break
            if other < at:  # keep the better rank's place
                merged[other] = _join(merged[other], merged[at])
                del merged[at]
                at = other
            else:
                merged[at] = _join(merged[at], merged[other])
                del merged[other]
    return merged
