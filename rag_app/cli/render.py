"""Plain-text rendering of answers and reports, shared by the CLI and the REPL."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from chains.support import Support
    from rag_app.store.report import IndexReport
    from rag_app.results import Answer, Source


def sources_block(sources: Sequence["Source"], full: bool = False, support: "Support | None" = None) -> str:
    """The numbered sources; a cited one shows the lines of its supporting text and a quote."""
    if not sources:
        return "Sources: none"
    from rag_app.cli.support_view import supporting

    cited = supporting(support)
    lines = ["Sources:"]
    for i, source in enumerate(sources, 1):
        where = cited[i][0] if i in cited else source.location
        lines.append(f"  [{i}] {where}  (score {source.score:.2f})")
        if i in cited and not full:
            lines.append(f"      “{_clip(cited[i][1])}”")
        if full:
            if source.headings:
                lines.append(f"      § {source.headings}")
            body = textwrap.indent(textwrap.fill(" ".join(source.text.split()), 96), "      ")
            lines.append(body)
    return "\n".join(lines)


def _clip(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def answer_text(answer: "Answer", full_sources: bool = False) -> str:
    """The answer with ``[n]`` markers, what is not supported, then the sources."""
    from rag_app.cli.support_view import body_text

    return f"{body_text(answer)}\n\n{sources_block(answer.sources, full_sources, answer.support)}"


def report_text(report: "IndexReport") -> str:
    if report.dry_run:
        head = (
            f"Dry run: {_n(report.files, 'file')} found, {report.files_read} would be read; "
            f"{_n(report.added, 'chunk')} to add, {report.updated} to update, {report.deleted} to delete, "
            f"{report.unchanged} unchanged; {_n(report.tokens_to_embed, 'token')} to embed."
        )
        files = [f"  changed: {p}" for p in report.changed_files] + [f"  deleted: {p}" for p in report.deleted_files]
        return "\n".join([head, *files])
    written = report.added + report.updated
    warned = len({w.source for w in report.warnings})
    fresh = report.files_indexed - report.files_unchanged
    text = (
        f"Indexed {_n(report.files_indexed, 'file')} ({fresh} new or changed, {report.files_unchanged} unchanged; "
        f"{len(report.skipped)} skipped{f', {warned} with warnings' if warned else ''}): "
        f"{_n(written, 'chunk')} written ({report.added} added, {report.updated} updated), "
        f"{report.deleted} deleted, {report.unchanged} unchanged; "
        f"{_n(report.chunks, 'chunk')} in the index [{report.duration_s:.1f} s]"
    )
    if report.interrupted:
        text += "\nInterrupted: the next reindex finishes the job."
    return text


def _n(count: int, noun: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def warning_lines(report: "IndexReport") -> list[str]:
    """One ``warning:`` line per skipped entry and per warning, then links left outside, summed up."""
    lines = []
    outside = [s for s in report.skipped if s.reason.startswith("link outside")]
    for skipped in report.skipped:
        if skipped not in outside:
            lines.append(f"warning: skipped {skipped.source}: {skipped.reason}")
    for w in report.warnings:
        where = f" line {w.line}" if w.line is not None else f" page {w.page}" if w.page is not None else ""
        lines.append(f"warning: {w.source}{where}: {w.reason}")
    if outside:
        names = ", ".join(s.source for s in outside[:10]) + (f" and {len(outside) - 10} more" if len(outside) > 10 else "")
        lines.append(
            f"warning: links outside DATA (the folders being indexed) skipped: {names}"
            " (--follow-links or RAG_FOLLOW_LINKS=true indexes them)"
        )
    return lines
