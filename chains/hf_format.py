"""The prompt format a Hugging Face model is trained with and asked with: one place, so they match.

``rag-app finetune`` renders every example through :class:`PromptFormat` and
records the format in the model card (``model_card.json``); the ``hf`` backend
reads the card and renders questions through the same object. Two kinds:

- ``chat_template``: the tokenizer's own chat template (``apply_chat_template``);
- ``plain``: ``User: ...\\nAssistant: ...<eos>`` for tokenizers without one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from langchain_core.documents import Document

CARD_FILE = "model_card.json"

#: Added to the question when retrieved passages are given (the hybrid mode).
GROUNDED_QUESTION = (
    "Context:\n{context}\n\n"
    "Answer using only the context above. If it does not contain the answer, say you don't know.\n"
    "Question: {question}"
)

Message = dict[str, str]


@dataclass(frozen=True)
class PromptFormat:
    """How messages become the text a model reads; ``system`` is prepended when set."""

    kind: str = "chat_template"
    system: str | None = None

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, system: str | None = None) -> "PromptFormat":
        """The tokenizer's chat template when it has one, else the plain format."""
        return cls("chat_template" if getattr(tokenizer, "chat_template", None) else "plain", system)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PromptFormat":
        kind = data.get("kind", "chat_template")
        if kind not in ("chat_template", "plain"):
            raise ValueError(f"unknown prompt format {kind!r}")
        return cls(kind, data.get("system"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    # --- rendering -------------------------------------------------------------------

    def _with_system(self, messages: Sequence[Message]) -> list[Message]:
        messages = list(messages)
        if self.system and not (messages and messages[0]["role"] == "system"):
            messages.insert(0, {"role": "system", "content": self.system})
        return messages

    def _render(self, tokenizer: Any, messages: Sequence[Message], generation_prompt: bool) -> str:
        if self.kind == "chat_template":
            return tokenizer.apply_chat_template(
                list(messages), tokenize=False, add_generation_prompt=generation_prompt
            )
        eos = tokenizer.eos_token or ""
        parts: list[str] = []
        for m in messages:
            if m["role"] == "system":
                parts.append(f"{m['content']}\n\n")
            elif m["role"] == "assistant":
                parts.append(f"Assistant: {m['content']}{eos}\n")
            else:
                parts.append(f"User: {m['content']}\n")
        if generation_prompt:
            parts.append("Assistant:")
        return "".join(parts)

    def prompt(self, tokenizer: Any, messages: Sequence[Message]) -> str:
        """The text that asks the model for the next assistant message."""
        return self._render(tokenizer, self._with_system(messages), True)

    def segments(self, tokenizer: Any, messages: Sequence[Message]) -> list[tuple[str, bool]]:
        """A conversation as ``(text, is_assistant)`` pieces; training learns only the assistant ones.

        Each assistant piece is what the model must write after :meth:`prompt`
        of the messages before it (its content and the end-of-turn token).
        """
        messages = self._with_system(messages)
        pieces: list[tuple[str, bool]] = []
        done = ""
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            before = self._render(tokenizer, messages[:i], True)
            upto = self._render(tokenizer, messages[: i + 1], False)
            if not (before.startswith(done) and upto.startswith(before)):
                raise ValueError("the chat template does not render a conversation as a growing prefix")
            if before != done:
                pieces.append((before[len(done):], False))
            pieces.append((upto[len(before):], True))
            done = upto
        return pieces

    def text_segments(self, tokenizer: Any, text: str) -> list[tuple[str, bool]]:
        """A ``{"text"}`` example: learn all of it, then the end-of-text token."""
        return [(text + (tokenizer.eos_token or ""), True)]


def question_messages(question: str, documents: Sequence["Document"]) -> list[Message]:
    """The user turn: the bare question, or the question with numbered passages (hybrid)."""
    if not documents:
        return [{"role": "user", "content": question}]
    from chains.prompt import format_context

    return [{"role": "user", "content": GROUNDED_QUESTION.format(context=format_context(documents), question=question)}]


def read_card(model_dir: str | Path) -> dict[str, Any]:
    """The model card a fine-tuning run wrote (``{}`` for any other model directory)."""
    path = Path(model_dir) / CARD_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
