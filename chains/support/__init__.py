"""Which passage sentence states each sentence of an answer, and what to do when none does.

After generation the answer is cut into sentences (:func:`answer_pieces`; the writer's own
``[n]`` markers are removed: they are re-added from what is found here). Each sentence (a
*claim*) is attributed to one piece of evidence: a passage sentence, or a sentence and the next
one of the same passage when that one continues it ("It ..."). A claim is **supported** only
when that evidence states it (:mod:`chains.support.grounding`):

- every number with its unit ("10 years" = "ten years" = "10-year" = "10 yrs"), date and
  proper name of the claim is in the evidence, else **unsupported**;
- a negation or an antonym on one side only makes it **unsupported**;
- a quantity or hedge word added or left out, a subject or leading qualifier left out or
  changed, or the rest of the claim found in another sentence (stitched), makes it **partial**;
- the share of its words in the evidence decides the rest; for the doubtful middle the app's
  embedding model is asked (claim and evidence, one batch), and can only confirm or reject.

A passage sentence quoted verbatim is supported by exactly that sentence. The attribution is
the only source of ``[n]`` markers (:mod:`chains.support.marks`), also while streaming
(:mod:`chains.support.stream`). :class:`SupportChecker` also makes the answer-level decisions:
*not in the documents* (retrieval found nothing close enough: the LLM is not called) and what
to show when the whole answer is unsupported (``flag``, ``fallback`` to quotes, or ``drop``).
"""

from chains.support.checker import (
    DEFAULT_THRESHOLD,
    DROPPED_TEXT,
    FALLBACK_NOTE,
    MODES,
    NOT_IN_DOCUMENTS_TEXT,
    QUOTE_WORDS,
    UNSUPPORTED_MARK,
    EmbedFn,
    SupportChecker,
)
from chains.support.evidence import answer_pieces, names, numbers, passage_spans, strip_markers
from chains.support.marks import PARTIAL_MARK
from chains.support.result import (
    ABSTAINED,
    NOT_IN_DOCUMENTS,
    PARTIAL,
    SUPPORTED,
    UNSUPPORTED,
    Citation,
    SentenceSupport,
    Support,
)

__all__ = [
    "ABSTAINED", "DEFAULT_THRESHOLD", "DROPPED_TEXT", "FALLBACK_NOTE", "MODES", "NOT_IN_DOCUMENTS",
    "NOT_IN_DOCUMENTS_TEXT", "PARTIAL", "QUOTE_WORDS", "SUPPORTED", "UNSUPPORTED", "UNSUPPORTED_MARK",
    "Citation", "EmbedFn", "SentenceSupport", "Support", "SupportChecker",
    "PARTIAL_MARK", "answer_pieces", "names", "numbers", "passage_spans", "strip_markers",
]
