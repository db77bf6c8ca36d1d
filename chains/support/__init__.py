"""Which retrieved text supports each sentence of an answer, and what to do when none does.

After generation the answer is split into sentences (citation markers the backend wrote are
removed first: they are re-added from what is found here). Each sentence is matched against the
sentences of the retrieved passages with two kinds of evidence:

- **lexical**: the share of its content words found in the span, numbers and names counting
  double. A number or a name that appears in *no* passage makes the sentence unsupported,
  however similar it sounds: that is how small models invent.
- **semantic**: for the sentences the words leave in doubt (coverage between 0.2 and 0.8),
  cosine similarity under the app's embedding model. One batched call embeds those sentences and
  their best lexical span (embedding every passage sentence would cost ~7 ms each on two CPU
  cores); at most ``max_embedded`` texts per answer.

A sentence's support is its word coverage when the words settle it, else
``(similarity + coverage) / 2``; a short answer ("Melbourne.") is judged together with the
question it answers. The answer's score is the mean
over its sentences, weighted by their content words.

:class:`SupportChecker` also makes the two answer-level decisions: *not in the documents*
(retrieval found nothing close enough: the LLM is not called) and what to show when the whole
answer is unsupported (``flag`` it, ``fallback`` to extractive quotes, or ``drop`` it).
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
from chains.support.evidence import names, numbers, passage_spans, strip_markers
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
    "names", "numbers", "passage_spans", "strip_markers",
]
