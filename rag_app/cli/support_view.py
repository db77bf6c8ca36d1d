"""How support shows up in text: cited answers, unsupported sentences, ``:why``."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from loaders.location import location
from rag_app.results import display_path

if TYPE_CHECKING:
    from chains.support import Citation, SentenceSupport, Support
    from rag_app.results import Answer


def supporting(support: "Support | None") -> dict[int, tuple[str, str]]:
    """Passage number → (location of the supporting lines, the supporting text)."""
    found: dict[int, list["Citation"]] = {}
    for sentence in support.shown if support else []:
        if sentence.verdict != "unsupported":  # the sentences that carry an [n]
            for citation in sentence.citations:
                found.setdefault(citation.passage, []).append(citation)
    result = {}
    for passage, citations in found.items():
        first = citations[0]
        lines = [c for c in citations if c.start_line is not None]
        if lines and first.page is None:
            start = min(c.start_line for c in lines)  # type: ignore[type-var]
            end = max(c.end_line or c.start_line for c in lines)  # type: ignore[type-var]
            where = location(display_path(first.source), start, end, headings=first.headings)
        else:
            where = first.location(display_path)
        texts = list(dict.fromkeys(c.text for c in citations))
        result[passage] = (where, " … ".join(texts))
    return result


def unsupported_block(support: "Support") -> str:
    """``Not supported by the sources:`` and the sentences, or ``""``."""
    bad = support.unsupported
    if not bad or support.action in {"fallback", "drop", "not_in_documents"}:
        return ""
    lines = ["Not supported by the sources:"]
    for sentence in bad:
        why = "; ".join(sentence.reasons) or (f"not in the cited text: {', '.join(sentence.missing)}" if sentence.missing else "")
        lead = "partly: " if sentence.verdict == "partial" else ""
        lines.append(f"  - {sentence.text}" + (f"  ({lead}{why})" if why or lead else ""))
    return "\n".join(lines)


def body_text(answer: "Answer") -> str:
    """What a user reads above the sources."""
    support = answer.support
    if support is None:
        return answer.answer
    if support.action == "not_in_documents":
        return f"{support.cited_text}\n({support.note})"
    if support.action == "fallback":
        return f"{support.note}\n\n{support.cited_text}\n\n{_generated(support)}"
    if support.action == "drop":
        return f"{support.cited_text}\n\n{_generated(support)}"
    return "\n\n".join(part for part in (support.cited_text, unsupported_block(support)) if part)


def after_stream(answer: "Answer") -> str:
    """What follows an answer that was printed as it was generated (no markers possible)."""
    support = answer.support
    if support is None or support.action == "none":
        return ""
    if support.action == "not_in_documents":
        return f"({support.note})"
    if support.action == "fallback":
        return f"{support.note}\n\n{support.cited_text}"
    if support.action == "drop":
        return support.cited_text
    return unsupported_block(support) or support.note


def _generated(support: "Support") -> str:
    body = textwrap.indent(textwrap.fill(" ".join((support.generated or "").split()), 96), "  ")
    return f"Generated answer, not supported by the sources:\n{body}"


def why_text(answer: "Answer | None") -> str:
    """Each sentence of the last answer with its supporting spans (the REPL's ``:why``)."""
    if answer is None:
        return "No answer yet."
    support = answer.support
    if support is None:
        return "No support check for this answer."
    if support.action == "not_in_documents":
        return f"{support.cited_text}\n({support.note})"
    if support.status == "abstained":
        return "The answer says the documents do not answer the question; nothing to check."
    lines = []
    if support.action == "fallback":
        lines += [support.note, "", "Quotes shown:"]
        lines += _sentences(support.quotes)
        lines += ["", "Generated answer:"]
    lines += _sentences(support.sentences)
    lines.append(
        f"Support {support.score:.2f} (a sentence needs {support.threshold:.2f}): {support.status.replace('_', ' ')}."
    )
    return "\n".join(lines)


def _sentences(sentences: "list[SentenceSupport]") -> list[str]:
    lines = []
    for n, sentence in enumerate(sentences, 1):
        lines.append(f"{n}. {sentence.text}")
        verdict = {"supported": "supported", "partial": "partly supported"}.get(sentence.verdict, "NOT supported")
        if not sentence.citations:
            lines.append(f"   {verdict} ({sentence.score:.2f}): no passage comes close")
        for i, citation in enumerate(sentence.citations):
            how = f"{verdict} ({sentence.score:.2f}) by" if sentence.verdict != "unsupported" else f"{verdict} ({sentence.score:.2f}); closest is"
            lead = how if i == 0 else "   and by"
            lines.append(f"   {lead} [{citation.passage}] {citation.location(display_path)}")
            lines.append(textwrap.indent(textwrap.fill(f"“{citation.text}”", 92), "     "))
        for reason in sentence.reasons:
            lines.append(f"   {reason}")
    return lines
