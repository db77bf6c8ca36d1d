"""A passage answerer: answers from documents without a prompt or a chat model (``extractive``).

Chat models plug in as LangChain ``BaseChatModel``s instead (see :mod:`chains.llm`).
"""

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
    #: Tokens the model can see at once (prompt + answer); ``None``: no limit to respect.
    context_window: int | None = None
    #: Tokens reserved for the answer inside ``context_window``.
    max_tokens: int = 0

    @abstractmethod
    def answer(self, question: str, documents: Sequence["Document"]) -> str:
        """The whole answer at once."""

    def stream(self, question: str, documents: Sequence["Document"]) -> Iterator[str]:
        """The answer in pieces as it is produced (default: all at once)."""
        yield self.answer(question, documents)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` for this model (default: tiktoken ``cl100k_base``)."""
        from loaders.tokens import count_tokens

        return count_tokens(text)

    def describe(self) -> str:
        """Backend and model, for logs and ``--json`` output."""
        return self.name
