"""Scoring one answered question: which retrieved chunks are relevant, and whether the answer is right.

A retrieved chunk is *relevant* when it comes from a gold source file and, where
the set gives reference passages, overlaps one of them
(:func:`rag_app.measure.metrics.passage_overlap` ≥ 0.3). Short references
(≤ 12 tokens) get SQuAD exact match, token F1 and containment; long ones
key-token recall and precision.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from rag_app.measure import metrics

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from rag_app.results import Answer

    from rag_app.measure.qa_sets import QAItem


def _name(source: str) -> str:
    return Path(source).name


def relevance(item: QAItem, documents: Sequence["Document"]) -> list[dict[str, Any]]:
    """Per retrieved chunk: its source, whether the source is gold, the passage overlap, relevance."""
    gold = {_name(s) for s in item.sources}
    out = []
    for doc in documents:
        source = str(doc.metadata.get("source", ""))
        from_gold = _name(source) in gold if gold else None
        overlap = max((metrics.passage_overlap(doc.page_content, c) for c in item.contexts), default=None)
        if from_gold is None:
            relevant = overlap is not None and overlap >= metrics.OVERLAP_THRESHOLD
        else:
            relevant = from_gold and (overlap is None or overlap >= metrics.OVERLAP_THRESHOLD)
        out.append(
            {
                "source": _name(source),
                "score": doc.metadata.get("score"),
                "gold_source": from_gold,
                "overlap": None if overlap is None else round(overlap, 3),
                "relevant": relevant,
            }
        )
    return out


def score_answer(prediction: str, item: QAItem) -> dict[str, Any]:
    """EM/F1/containment for short references, key-token recall for long ones, and ``correct``."""
    from chains.prompt import NOT_FOUND

    refs = item.references
    if not refs:
        return {"kind": None, "correct": None}
    if prediction.strip() == NOT_FOUND:
        prediction = ""
    if metrics.is_short(refs[0]):
        em = metrics.exact_match(prediction, refs)
        contains = metrics.contains_answer(prediction, refs)
        return {
            "kind": "short",
            "em": em,
            "f1": round(metrics.token_f1(prediction, refs), 4),
            "contains": contains,
            "correct": bool(em or contains),
        }
    recall = max(metrics.key_token_recall(prediction, r) for r in refs)
    precision = max(metrics.key_token_precision(prediction, r) for r in refs)
    shared = max(len(metrics.key_tokens(prediction) & metrics.key_tokens(r)) for r in refs)
    correct = precision >= metrics.LONG_PRECISION and shared >= metrics.LONG_MIN_SHARED
    return {"kind": "long", "key_recall": round(recall, 4), "key_precision": round(precision, 4), "correct": correct}


def support_fields(answer: "Answer", item: QAItem, correct: bool | None) -> dict[str, Any]:
    """How the support check labelled the answer, against the reference.

    ``shown_supported``: the user saw it as supported (status ``supported``, nothing replaced);
    ``flagged``: it was marked partial/unsupported, replaced by quotes or dropped, or not
    generated; ``cited``/``cited_hits``: citations of attributed sentences, and how many of the
    cited sentences contain a (short) reference answer (citation precision).
    """
    support = answer.support
    if support is None:
        return {}
    shown = support.status == "supported" and support.action == "none"
    fields: dict[str, Any] = {"support": support.status, "support_action": support.action,
                              "shown_supported": shown, "flagged": not shown}
    refs = item.references
    if refs and metrics.is_short(refs[0]):
        cited = [c.text for s in support.shown if s.verdict != "unsupported" for c in s.citations]
        fields["cited"] = len(cited)
        fields["cited_hits"] = sum(int(metrics.contains_answer(text, refs)) for text in cited)
    return fields
