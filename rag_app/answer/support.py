"""Settings → :class:`chains.support.SupportChecker`: citations per sentence, unsupported answers,
"not in the documents".

The relevance threshold is a cosine similarity, so it only means something for the embedding
model it was calibrated on (``bench/calibrate_relevance.py``); for other models it is off unless
``RAG_MIN_RELEVANCE`` sets it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chains.llm import LLM
    from chains.support import SupportChecker
    from rag_app.settings import Settings
    from rag_app.embeddings import Embedder

#: Best-hit score under which a question is "not in the documents", per embedding model;
#: measured with bench/calibrate_relevance.py on the shared SQuAD and Python FAQ sets (keeps
#: 99.7% of answerable questions; catches 30% of answer-removed and 94% of off-topic ones).
CALIBRATED_MIN_RELEVANCE = {"minilm:all-MiniLM-L6-v2": 0.3}


def min_relevance(settings: "Settings", embedder: "Embedder") -> float:
    if settings.min_relevance == "auto":
        return CALIBRATED_MIN_RELEVANCE.get(embedder.identity, 0.0)
    return float(settings.min_relevance)


def unsupported_mode(settings: "Settings", llm: "LLM") -> str:
    """``auto``: quotes instead of a wholly unsupported answer for models known to invent."""
    if settings.unsupported != "auto":
        return settings.unsupported
    return "fallback" if llm.quotes_when_unsupported else "flag"


def make_checker(settings: "Settings", embedder: "Embedder", llm: "LLM") -> "SupportChecker":
    from chains.support import SupportChecker

    return SupportChecker(
        embedder.embed_documents,
        threshold=settings.support_threshold,
        mode=unsupported_mode(settings, llm),
        min_relevance=min_relevance(settings, embedder),
    )
