"""The checker: scores each sentence of an answer against the passages and decides what to show."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

from chains.support.evidence import ABSTAIN, answer_pieces
from chains.support.grounder import EmbedFn, Grounder
from chains.support.marks import PARTIAL_MARK, UNSUPPORTED_MARK, cite
from chains.support.result import ABSTAINED, NOT_IN_DOCUMENTS, PARTIAL, SUPPORTED, UNSUPPORTED, SentenceSupport, Support
from chains.text import content_words

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from chains.support.stream import StreamCiter

#: ``(claim, evidence) -> True/False``, or ``None`` when it cannot tell: an optional LLM judge.
EntailFn = Callable[[str, str], "bool | None"]

MODES = ("flag", "fallback", "drop")
#: Support below this (per sentence) is "not supported"; calibrated with bench/support_eval.py.
DEFAULT_THRESHOLD = 0.5

NOT_IN_DOCUMENTS_TEXT = "Not in the documents: nothing retrieved is close enough to the question to answer it."
DROPPED_TEXT = "The documents do not answer this: the generated answer was not supported by them."
FALLBACK_NOTE = (
    "The generated answer was not supported by the documents; "
    "these are the passages closest to the question instead."
)
#: A sentence of at least this many words found verbatim in a passage is a quote: supported.
QUOTE_WORDS = 6


class SupportChecker:
    """Checks answers against their retrieved passages; one per app, cheap to call.

    ``embed`` embeds a batch of texts (the app's loaded embedding model). ``min_relevance``:
    below this best retrieval score the question is "not in the documents" (0 turns it off).
    """

    def __init__(
        self,
        embed: EmbedFn,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        mode: str = "flag",
        min_relevance: float = 0.0,
        shortlist: int = 1,
        short_claim_words: int = 3,
        clear_words: float = 0.8,
        max_embedded: int = 8,
        entails: EntailFn | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}: expected one of {', '.join(MODES)}")
        self.embed = embed
        self.threshold = threshold
        self.mode = mode
        self.min_relevance = min_relevance
        self.shortlist = shortlist
        self.short_claim_words = short_claim_words
        #: Word coverage at or above this (or at or below 1 minus it) decides without the model.
        self.clear_words = clear_words
        #: Most texts embedded per answer (~7 ms each on two CPU cores); the rest go by words.
        self.max_embedded = max_embedded
        #: An LLM entailment judge asked about sentences the rules find supported (``RAG_SUPPORT_JUDGE=llm``).
        self.entails = entails

    # -- before generation

    def not_in_documents(self, documents: Sequence["Document"]) -> Support | None:
        """A :class:`Support` saying so when nothing retrieved is relevant enough, else ``None``."""
        best = max((float(d.metadata.get("score", 0.0)) for d in documents), default=0.0)
        if documents and best >= self.min_relevance:
            return None
        note = (
            f"The best match scores {best:.2f}, under the relevance threshold {self.min_relevance:.2f}; "
            "no answer was generated."
            if documents
            else "Nothing was retrieved; no answer was generated."
        )
        return Support(NOT_IN_DOCUMENTS, 0.0, self.threshold, action=NOT_IN_DOCUMENTS, note=note,
                       cited_text=NOT_IN_DOCUMENTS_TEXT, marked_text=NOT_IN_DOCUMENTS_TEXT)

    # -- after generation

    def grounder(self, question: str, documents: Sequence["Document"]) -> Grounder:
        """Judges one answer's sentences one by one (what :meth:`check` and :meth:`citer` use)."""
        return Grounder(question, documents, self.embed, threshold=self.threshold, clear_words=self.clear_words,
                        short_claim_words=self.short_claim_words, max_embedded=self.max_embedded,
                        entails=self.entails)

    def citer(self, question: str, documents: Sequence["Document"]) -> "StreamCiter":
        """Marks a streamed answer as it is written, exactly as :meth:`finish` marks the whole."""
        from chains.support.stream import StreamCiter

        return StreamCiter(self.grounder(question, documents))

    def check(self, question: str, answer: str, documents: Sequence["Document"],
              grounder: Grounder | None = None) -> Support:
        """Attribute every sentence of ``answer`` to the passage sentence(s) that state it
        (``grounder``: the one that already judged it while it was streamed)."""
        import time

        started = time.perf_counter()
        plain, spans = answer_pieces(answer)
        pieces = [(a, b, " ".join(plain[a:b].split())) for a, b in spans]
        if not plain or ABSTAIN.match(plain):
            support = Support(ABSTAINED, 0.0, self.threshold, cited_text=plain, marked_text=plain)
            support.check_ms = (time.perf_counter() - started) * 1000
            return support
        earlier = grounder.elapsed_ms if grounder else 0.0  # judged while streamed: that time counts too
        grounder = grounder or self.grounder(question, documents)
        results = [grounder.sentence(text) for _, _, text in pieces]
        sentences = [r for r in results if r is not None]
        weights = [max(len(content_words(r.text)), 1) for r in sentences]
        if not sentences:
            # Nothing checkable was said ("The answer to this question is:").
            sentences = [SentenceSupport(pieces[0][2] if pieces else plain, 0.0, False)]
            weights = [1]
        score = sum(s.score * w for s, w in zip(sentences, weights)) / sum(weights)
        good = sum(s.supported for s in sentences)
        some = sum(s.verdict != UNSUPPORTED for s in sentences)
        status = SUPPORTED if good == len(sentences) else UNSUPPORTED if some == 0 else PARTIAL
        support = Support(status, score, self.threshold, sentences,
                          cited_text=cite(plain, pieces, results, flags=True),
                          marked_text=cite(plain, pieces, results, flags=False))
        support.check_ms = (time.perf_counter() - started) * 1000 + earlier
        return support

    def finish(self, question: str, answer: str, documents: Sequence["Document"],
               grounder: Grounder | None = None) -> tuple[str, Support]:
        """Check ``answer``, then apply the mode: the text to show and its :class:`Support`."""
        import time

        support = self.check(question, answer, documents, grounder)
        if support.status != UNSUPPORTED:
            support.action = "flag" if support.status == PARTIAL else "none"
            return support.marked_text, support
        support.action = self.mode
        if self.mode == "flag":
            support.note = "No sentence of this answer is supported by the sources."
            return support.marked_text, support
        started = time.perf_counter()
        support.generated = answer
        quotes = ""
        if self.mode == "fallback":
            from chains.backends.extractive import ExtractiveBackend
            from chains.prompt import NOT_FOUND

            quotes = ExtractiveBackend().answer(question, documents)
            quotes = "" if quotes == NOT_FOUND else quotes
        if not quotes:
            support.action = "drop"
            support.note = "The generated answer was not supported by the sources."
            support.cited_text = support.marked_text = DROPPED_TEXT
            return DROPPED_TEXT, support
        support.note = FALLBACK_NOTE
        checked = self.check(question, quotes, documents)
        support.quotes = checked.sentences
        support.cited_text, support.marked_text = checked.cited_text, checked.marked_text
        support.check_ms += (time.perf_counter() - started) * 1000
        return checked.marked_text, support
