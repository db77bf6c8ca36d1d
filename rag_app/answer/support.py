"""Settings → :class:`chains.support.SupportChecker`: citations per sentence, unsupported answers,
"not in the documents".

The relevance threshold is a cosine similarity, so it only means something for the embedding
model it was calibrated on (``bench/calibrate_relevance.py``); for other models it is off unless
``RAG_MIN_RELEVANCE`` sets it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

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
        entails=llm_judge(llm) if settings.support_judge == "llm" else None,
    )


JUDGE_PROMPT = (
    "Evidence: {evidence}\n\nClaim: {claim}\n\n"
    "Does the evidence state the claim, with the same numbers, names, quantities and polarity? "
    "Answer with one word: yes or no."
)


def llm_judge(llm: "LLM") -> "Callable[[str, str], bool | None]":
    """``RAG_SUPPORT_JUDGE=llm``: the chat model says whether the evidence states the claim
    (``None`` when it cannot be asked or its reply is neither yes nor no)."""
    from rag_app.errors import ConfigError

    model = llm.chat_model
    if model is None:
        raise ConfigError(f"RAG_SUPPORT_JUDGE=llm needs a chat model; {llm.label} is not one: choose another RAG_LLM or set RAG_SUPPORT_JUDGE=off")

    def entails(claim: str, evidence: str) -> bool | None:
        try:
            reply = model.invoke(JUDGE_PROMPT.format(evidence=evidence, claim=claim)).text.strip().lower()
        except Exception:  # noqa: BLE001 - the rules have decided already; the judge only adds
            return None
        word = reply.split()[0].strip(".,!:") if reply.split() else ""
        return True if word == "yes" else False if word == "no" else None

    return entails
