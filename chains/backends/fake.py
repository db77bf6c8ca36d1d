"""``fake``: a deterministic chat model for tests and for checking the wiring.

It reads the grounded prompt like a real model would see it and answers with the
question and the label of the first passage, streaming word by word. It counts one
token per word, so window budgets are easy to reason about in tests.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from chains.llm import LLM
from chains.registry import BackendOptions, register_llm

_PASSAGE = re.compile(r"^\[(\d+)\] \((.*?)\)$", re.M)


class FakeChatModel(BaseChatModel):
    """Answers ``Fake answer to 'Q' from N passages, first LABEL.``; records ``(question, N)`` per call."""

    name_of_model: str = "echo"
    calls: list[tuple[str, int]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "fake"

    @property
    def model_name(self) -> str:
        return self.name_of_model

    def _reply(self, messages: list[BaseMessage]) -> str:
        text = messages[-1].text if messages else ""
        question = text.rsplit("Question:", 1)[-1].strip() if "Question:" in text else text.strip()
        passages = _PASSAGE.findall(text)
        self.calls.append((question, len(passages)))
        first = passages[0][1] if passages else "nothing"
        return f"Fake answer to '{question}' from {len(passages)} passages, first {first}."

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=self._reply(messages)))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for i, word in enumerate(self._reply(messages).split(" ")):
            piece = word if i == 0 else " " + word
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk

    def get_num_tokens(self, text: str) -> int:
        """One token per whitespace-separated word."""
        return len(text.split())


@register_llm("fake", description="Deterministic echo chat model for tests.")
def _fake(options: BackendOptions) -> LLM:
    chat = FakeChatModel(name_of_model=options.model or "echo")
    return LLM(
        label="fake" if chat.name_of_model == "echo" else f"fake:{chat.name_of_model}",
        chat_model=chat,
        provider="fake",
        model_name=chat.name_of_model,
        context_window=options.context_window,
        max_tokens=options.max_tokens,
        tokenizer=chat.get_num_tokens,
        billing="free",
    )
