"""What every LLM backend offers the chain: answer, or stream, from documents."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Iterator, Sequence

if TYPE_CHECKING:
    from langchain_core.documents import Document


class AnswerBackend(ABC):
    """Turns a question and its retrieved documents into an answer."""

    name: str = "backend"
    #: Whether the answer is generated text (``False`` for quote-only backends).
    generative: bool = True

    @abstractmethod
    def answer(self, question: str, documents: Sequence["Document"]) -> str:
        """The whole answer at once."""

    def stream(self, question: str, documents: Sequence["Document"]) -> Iterator[str]:
        """The answer in pieces as it is produced (default: all at once)."""
        yield self.answer(question, documents)

    def describe(self) -> str:
        """Backend and model, for logs and ``--json`` output."""
        return self.name
