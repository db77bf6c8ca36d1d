"""``fake``: a deterministic chat model for tests and for checking the wiring.

It reads the grounded prompt like a real model would see it and answers with the
question and the label of the first passage, streaming word by word. It counts one
token per word (also in ``usage_metadata``), so window budgets are easy to reason about
in tests. It is pure Python and safe to call from many threads at once.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
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

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(ls_provider="fake", ls_model_name=kwargs.get("model") or self.name_of_model,
                                 ls_model_type="chat")
        if stop:
            params["ls_stop"] = stop
        return params

    def _usage(self, messages: list[BaseMessage], reply: str) -> dict[str, int]:
        prompt = sum(self.get_num_tokens(m.text) for m in messages)
        answer = self.get_num_tokens(reply)
        return {"input_tokens": prompt, "output_tokens": answer, "total_tokens": prompt + answer}

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        reply = self._reply(messages)
        message = AIMessage(content=reply, usage_metadata=self._usage(messages, reply),
                            response_metadata={"model_name": self.name_of_model, "finish_reason": "stop"})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        reply = self._reply(messages)
        for i, word in enumerate(reply.split(" ")):
            piece = word if i == 0 else " " + word
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        yield ChatGenerationChunk(message=AIMessageChunk(
            content="", usage_metadata=self._usage(messages, reply), chunk_position="last",  # type: ignore[arg-type]
            response_metadata={"model_name": self.name_of_model, "finish_reason": "stop"}))

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
