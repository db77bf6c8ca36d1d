"""Plain-text rendering of answers and reports, shared by the CLI and the REPL."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from rag_app.index import IndexReport
    from rag_app.results import Answer, Source


def sources_block(sources: Sequence["Source"], full: bool = False) -> str:
    if not sources:
        return "Sources: none"
    lines = ["Sources:"]
    for i, source in enumerate(sources, 1):
        lines.append(f"  [{i}] {source.location}  (score {source.score:.2f})")
        if full:
            if source.headings:
                lines.append(f"      § {source.headings}")
            body = textwrap.indent(textwrap.fill(" ".join(source.text.split()), 96), "      ")
            lines.append(body)
    return "\n".join(lines)


def answer_text(answer: "Answer", full_sources: bool = False) -> str:
    return f"{answer.answer}\n\n{sources_block(answer.sources, full_sources)}"


def report_text(report: "IndexReport") -> str:
    if report.dry_run:
        head = (
            f"Dry run: {report.files} files found, {report.files_read} would be read; "
            f"{report.added} chunks to add, {report.updated} to update, {report.deleted} to delete, "
            f"{report.unchanged} unchanged; {report.tokens_to_embed} tokens to embed."
        )
        files = [f"  changed: {p}" for p in report.changed_files] + [f"  deleted: {p}" for p in report.deleted_files]
        return "\n".join([head, *files])
    written = report.added + report.updated
    text = (
        f"Indexed {report.files} files ({report.files_read} read, {len(report.skipped)} skipped): "
        f"{written} chunks written ({report.added} added, {report.updated} updated), "
        f"{report.deleted} deleted, {report.unchanged} unchanged; "
        f"{report.chunks} chunks in the index [{report.duration_s:.1f} s]"
    )
    if report.interrupted:
        text += "\nInterrupted: the next reindex finishes the job."
    return text
