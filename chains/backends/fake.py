"""``fake``: a deterministic backend for tests and for checking the wiring."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Sequence

from chains.backend import AnswerBackend
from chains.prompt import citation_label
from chains.registry import BackendOptions, register_llm

if TYPE_CHECKING:
    from langchain_core.documents import Document


class FakeBackend(AnswerBackend):
    """Answers with the question and the label of the first passage, word by word."""

    name = "fake"

    def __init__(self, model: str | None = None, context_window: int | None = None, max_tokens: int = 0) -> None:
        self.model = model or "echo"
        self.context_window = context_window
        self.max_tokens = max_tokens
        self.calls: list[tuple[str, int]] = []

    def answer(self, question: str, documents: Sequence["Document"]) -> str:
        return "".join(self.stream(question, documents))

    def stream(self, question: str, documents: Sequence["Document"]) -> Iterator[str]:
        self.calls.append((question, len(documents)))
        first = citation_label(documents[0].metadata) if documents else "nothing"
        words = f"Fake answer to '{question}' from {len(documents)} passages, first {first}.".split(" ")
        for i, word in enumerate(words):
            yield word if i == 0 else " " + word

    def count_tokens(self, text: str) -> int:
        """One token per whitespace-separated word: easy to reason about in tests."""
        return len(text.split())


@register_llm("fake", description="Deterministic echo backend for tests.")
def _fake(options: BackendOptions) -> AnswerBackend:
    return FakeBackend(options.model, options.context_window, options.max_tokens)
