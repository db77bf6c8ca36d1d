"""LLM as judge: two yes/no questions about an answer, correctness and faithfulness."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag_app.measure.qa_sets import QAItem
    from rag_app.results import Answer

JUDGE_CORRECT = (
    "Passage [1] is a question, [2] the reference answer, [3] a candidate answer. "
    "Does the candidate answer say the same as the reference answer? Reply with one word: yes or no."
)
JUDGE_FAITHFUL = (
    "The last passage is an answer; the passages before it are the context it was written from. "
    "Is everything the answer states supported by that context? Reply with one word: yes or no."
)


def _verdict(text: str) -> float | None:
    match = re.search(r"\b(yes|no)\b", text.lower())
    return None if match is None else float(match.group(1) == "yes")


def judge(backend: Any, item: QAItem, answer: "Answer") -> dict[str, float | None]:
    """Two yes/no questions to a judge backend: correctness and faithfulness."""
    from langchain_core.documents import Document

    result: dict[str, float | None] = {"judge_correct": None, "judge_faithful": None}
    if item.references:
        docs = [Document(page_content=item.question, metadata={"source": "question"}),
                Document(page_content=item.references[0], metadata={"source": "reference"}),
                Document(page_content=answer.answer, metadata={"source": "candidate"})]
        result["judge_correct"] = _verdict(backend.answer(JUDGE_CORRECT, docs))
    docs = list(answer.documents) + [Document(page_content=answer.answer, metadata={"source": "answer"})]
    result["judge_faithful"] = _verdict(backend.answer(JUDGE_FAITHFUL, docs))
    return result
