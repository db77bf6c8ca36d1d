"""Citation markers for an answer while it is streamed.

:class:`StreamCiter` takes the model's pieces as they come and returns what to show: the
model's own ``[n]`` markers removed, and the check's marker appended as soon as a sentence is
complete (when the next one starts). What it returns, joined, is exactly the text
:meth:`SupportChecker.finish` returns for the whole answer (``Answer.answer``), because the
answer is cut into sentences the same way (:func:`~chains.support.evidence.answer_pieces`) and
each sentence is judged on its own by the same :class:`~chains.support.grounder.Grounder`.
"""

from __future__ import annotations

import re

from chains.support.evidence import ABSTAIN, answer_pieces
from chains.support.grounder import Grounder
from chains.support.marks import sentence_marks

#: The start of something that may still become a marker ("[", "[1", "[unsupp").
_OPEN_MARKER = re.compile(r"[ \t]*\[(?:[\d\s,;\-–]*|\?|[a-z]{0,11})$")
#: Text that may still turn out to be the gap between two sentences.
_TAIL = re.compile(r"[\s\"')\]]*$")


class StreamCiter:
    """``feed(piece) -> text to show``; ``close() -> the rest``. The answer's length is bounded
    by the model's output limit: each piece re-reads the answer so far."""

    def __init__(self, grounder: Grounder) -> None:
        self.grounder = grounder
        self.raw = ""
        self.shown = 0  # characters of the marker-free text already shown
        self.judged = 0  # sentences already judged (and marked)
        self.abstained: bool | None = None

    def feed(self, piece: str) -> str:
        self.raw += piece
        opened = _OPEN_MARKER.search(self.raw)
        cut = opened.start() if opened else len(self.raw.rstrip(" \t"))
        return self._advance(self.raw[:cut], final=False)

    def close(self) -> str:
        return self._advance(self.raw, final=True)

    def _advance(self, raw: str, final: bool) -> str:
        plain, spans = answer_pieces(raw)
        complete = spans if final else spans[:-1]
        out = []
        if self.abstained is None and (complete or final):
            self.abstained = not plain or bool(ABSTAIN.match(plain))
        for start, end in complete[self.judged:]:
            out.append(plain[self.shown:end])
            self.shown = end
            if not self.abstained:
                result = self.grounder.sentence(" ".join(plain[start:end].split()))
                out.append(sentence_marks(result, flags=False))
        self.judged = max(self.judged, len(complete))
        # Show the unfinished sentence too, but not what may still be a sentence gap.
        visible = len(plain) if final else _TAIL.search(plain).start()  # type: ignore[union-attr]
        if visible > self.shown:
            out.append(plain[self.shown:visible])
            self.shown = visible
        return "".join(out)
