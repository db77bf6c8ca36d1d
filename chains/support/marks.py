"""The markers an answer is shown with: ``[n]`` after each attributed sentence, and flags."""

from __future__ import annotations

from chains.support.result import PARTIAL, UNSUPPORTED, SentenceSupport

UNSUPPORTED_MARK = "[unsupported]"
PARTIAL_MARK = "[partial]"


def cite(plain: str, pieces: list[tuple[int, int, str]], results: list[SentenceSupport | None], flags: bool) -> str:
    """``plain`` with ``[n]`` after each sentence the check attributes (supported or partial) and,
    with ``flags``, ``[partial]``/``[unsupported]`` after those not wholly supported."""
    out, last = [], 0
    for (_, end, _), result in zip(pieces, results):
        out.append(plain[last:end])
        last = end
        out.append(sentence_marks(result, flags))
    out.append(plain[last:])
    return "".join(out)


def sentence_marks(result: SentenceSupport | None, flags: bool) -> str:
    """What follows one sentence: `` [1]``, `` [1] [partial]``, `` [unsupported]`` or nothing."""
    if result is None:
        return ""
    marks = ""
    if result.verdict != UNSUPPORTED and result.citations:
        marks = " " + "".join(f"[{n}]" for n in dict.fromkeys(c.passage for c in result.citations))
    if flags and result.verdict == PARTIAL:
        marks += " " + PARTIAL_MARK
    elif flags and result.verdict == UNSUPPORTED:
        marks += " " + UNSUPPORTED_MARK
    return marks
