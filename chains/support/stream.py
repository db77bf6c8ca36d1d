"""Citation markers for an answer while it is streamed.

:class:`StreamCiter` takes the model's pieces as they come and returns what to show: the
model's own ``[n]`` markers removed, and the check's marker appended as soon as a sentence is
complete (when the next one starts). What it returns, joined, is exactly the text
:meth:`SupportChecker.finish` returns for the whole answer (``Answer.answer``), because each
sentence is judged on its own by the same :class:`~chains.support.grounder.Grounder` rules.
"""

from __future__ import annotations

import re

from chains.support.evidence import ABSTAIN, MARKER, strip_markers
from chains.support.grounder import Grounder
from chains.text import sentence_spans

#: The start of something that may still become a marker ("[", "[1", "[unsupp").
_OPEN_MARKER = re.compile(r"[ \t]*\[(?:[\d\s,;\-–]*|\?|[a-z]{0,11})$")
#: Text that may still turn out to be the gap between two sentences.
_TAIL = re.compile(r"[\s\"')\]]*$")


class StreamCiter:
    """``feed(piece) -> text to show``; ``close() -> the rest``."""

    def __init__(self, grounder: Grounder) -> None:
        self.grounder = grounder
        self.raw = ""
        self.plain = ""  # the marker-free text known so far (never changes once known)
        self.shown = 0  # characters of ``plain`` already shown
        self.done = 0  # where the next unfinished sentence starts in ``plain``
        self.abstained: bool | None = None

    def feed(self, piece: str) -> str:
        self.raw += piece
        cut = len(self.raw)
        opened = _OPEN_MARKER.search(self.raw)
        if opened and "]" not in self.raw[opened.start():]:
            cut = opened.start()
        else:
            trailing = re.search(r"[ \t]*$", self.raw)
            cut = trailing.start() if trailing else cut
        self.plain = strip_markers(self.raw[:cut]).lstrip()
        return self._advance(final=False)

    def close(self) -> str:
        self.plain = strip_markers(self.raw).strip()
        return self._advance(final=True)

    def _advance(self, final: bool) -> str:
        out = []
        spans = [(self.done + a, self.done + b) for a, b in sentence_spans(self.plain[self.done:])]
        complete = spans if final else spans[:-1]
        if self.abstained is None and (complete or final):
            self.abstained = not self.plain or bool(ABSTAIN.match(self.plain))
        for start, end in complete:
            out.append(self.plain[self.shown:end])
            self.shown = end
            if not self.abstained:
                result = self.grounder.sentence(" ".join(self.plain[start:end].split()))
                from chains.support.checker import sentence_marks

                out.append(sentence_marks(result, flags=False))
        if complete:
            following = spans[len(complete)] if len(complete) < len(spans) else None
            self.done = following[0] if following else len(self.plain) if final else self.done
        # Show the unfinished sentence too, but not what may still be a sentence gap.
        visible = len(self.plain) if final else _TAIL.search(self.plain).start()
        if visible > self.shown and not (final and not complete and not self.plain):
            out.append(self.plain[self.shown:visible])
            self.shown = visible
        return "".join(out)
