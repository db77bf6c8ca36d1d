"""``extractive``: no generation; the answer is the best-matching sentences, cited."""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Sequence

from chains.backend import AnswerBackend
from chains.prompt import NOT_FOUND
from chains.registry import BackendOptions, register_llm
from chains.text import content_words, sentences

if TYPE_CHECKING:
    from langchain_core.documents import Document


class ExtractiveBackend(AnswerBackend):
    """Scores every sentence of the retrieved passages against the question."""

    name = "extractive"
    generative = False

    def __init__(self, max_sentences: int = 2) -> None:
        self.max_sentences = max_sentences

    def ranked_sentences(
        self, question: str, documents: Sequence["Document"]
    ) -> list[tuple[float, int, int, str]]:
        """``(score, passage_number, order, sentence)``, best first."""
        query = set(content_words(question))
        candidates: list[tuple[int, int, str, list[str]]] = []
        for number, doc in enumerate(documents, 1):
            for sentence in sentences(doc.page_content):
                if sentence.startswith("#") or sentence.endswith("?") or len(sentence.split()) < 4:
                    continue  # headings, questions and fragments are context, not answers
                candidates.append((number, len(candidates), sentence, content_words(sentence)))
        if not candidates or not query:
            return []
        df = Counter(w for *_, words in candidates for w in set(words))
        n = len(candidates)
        ranked = []
        for number, order, sentence, words in candidates:
            hits = query.intersection(words)
            if not hits:
                continue
            weight = sum(math.log(1 + n / df[w]) for w in hits)
            score = weight / math.sqrt(1 + len(set(words))) / (1 + 0.15 * (number - 1))
            ranked.append((score, number, order, sentence))
        ranked.sort(key=lambda r: (-r[0], r[2]))
        return ranked

    def answer(self, question: str, documents: Sequence["Document"]) -> str:
        ranked = self.ranked_sentences(question, documents)
        if not ranked:
            return NOT_FOUND
        best = ranked[0][0]
        chosen = [r for r in ranked[: self.max_sentences] if r[0] >= 0.6 * best]
        chosen.sort(key=lambda r: r[2])
        return " ".join(f"{sentence} [{number}]" for _, number, _, sentence in chosen)


@register_llm("extractive", description="Quotes the best-matching sentences; no model, no network.")
def _extractive(options: BackendOptions) -> AnswerBackend:
    return ExtractiveBackend(max_sentences=int(options.extra.get("max_sentences", 2)))
