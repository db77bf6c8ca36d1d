"""``hf``: a Hugging Face model directory run by transformers on the CPU.

This is how a fine-tuned model is served (``hf:./fine-tuned-model``); plain
``hf`` is the offline SmolLM2 base. The prompt is rendered in the format the
model card records (the one used at training time), else through the
tokenizer's chat template, else the plain ``User:/Assistant:`` format. A
directory holding a LoRA adapter (``adapter_config.json``) is loaded on top of
its base model with ``peft``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterator, Sequence

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from chains.hf_format import PromptFormat, question_messages, read_card
from chains.llm import LLM
from chains.hf_models import OFFLINE_BASE, resolve_model
from chains.errors import BackendError, MissingDependency
from chains.queueing import ModelQueue, finish_in_thread, stream_in_turn
from chains.registry import BackendOptions, register_llm

if TYPE_CHECKING:
    from langchain_core.documents import Document

INSTALL_HINT = "pip install 'rag-app[hf]'"
#: In the plain format a model that keeps going starts the next user turn with this.
STOP_TEXT = "\nUser:"
#: transformers' lazy module table is not safe to fill from two threads at once (a concurrent
#: first import raised "cannot import name 'AutoModel'"): every first import and load goes in turn.
IMPORT_LOCK = threading.RLock()


def load_model(model_dir: str, *, threads: int | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` in eval mode; adapters are applied to their base model."""
    with IMPORT_LOCK:
        return _load_model(model_dir, threads)


def _load_model(model_dir: str, threads: int | None) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if threads:
        torch.set_num_threads(threads)
    path = Path(model_dir)
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        if (path / "adapter_config.json").is_file():
            try:
                from peft import PeftModel
            except ImportError:
                raise MissingDependency(f"{model_dir} holds a LoRA adapter, which needs peft: {INSTALL_HINT}") from None
            card = read_card(path)
            config = json.loads((path / "adapter_config.json").read_text(encoding="utf-8"))
            base = card.get("base") or config.get("base_model_name_or_path")
            base_dir = resolve_model(OFFLINE_BASE if base == OFFLINE_BASE else base)
            model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
            model = PeftModel.from_pretrained(model, model_dir)
        else:
            model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    except OSError as exc:
        raise BackendError(f"Cannot load the Hugging Face model {model_dir}: {str(exc).splitlines()[0]}") from None
    finally:
        hf_logging.enable_progress_bar()
    if torch.cuda.is_available():  # a GPU answers when torch sees one (``HFChat.device`` says which)
        model.to("cuda")
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


class HFChat(BaseChatModel):
    """Greedy (or sampled, with temperature > 0) generation with transformers, as a chat model.

    Messages are rendered in the model's recorded :class:`PromptFormat`; the window is
    fitted by the pipeline before the call, so the model sees every passage it cites.
    """

    model_dir: str
    max_tokens: int = 160
    temperature: float = 0.0
    threads: int | None = None
    _model: Any = PrivateAttr(default=None)
    _tokenizer: Any = PrivateAttr(default=None)
    _format: Any = PrivateAttr(default=None)
    _stop_ids: list[int] = PrivateAttr(default_factory=list)
    _queue: ModelQueue = PrivateAttr(default=None)
    _load_lock: Any = PrivateAttr(default_factory=threading.Lock)

    def model_post_init(self, context: Any) -> None:
        self._queue = ModelQueue(f"hf:{self.model_dir}")

    def loaded(self) -> "HFChat":
        """Load the weights now if no call has yet (once, however many threads ask at once)."""
        with self._load_lock:
            if self._model is None:
                self._load()
        return self

    def _load(self) -> None:
        model, tokenizer = load_model(self.model_dir, threads=self.threads)
        card = read_card(self.model_dir)
        if card.get("prompt_format"):
            self._format = PromptFormat.from_dict(card["prompt_format"])
        else:
            self._format = PromptFormat.for_tokenizer(tokenizer)
        # The chat template's end-of-turn token ends an answer as well as the tokenizer's EOS.
        stop = {tokenizer.eos_token_id}
        if "<|im_end|>" in tokenizer.get_vocab():
            stop.add(tokenizer.convert_tokens_to_ids("<|im_end|>"))
        stop.discard(None)
        self._stop_ids = sorted(stop)
        self._tokenizer = tokenizer
        self._model = model  # last: a model that is set is ready

    @property
    def queue(self) -> ModelQueue:
        """Where this model's callers wait for their turn (one generation at a time)."""
        return self._queue

    @property
    def device(self) -> str:
        """Where the model runs: ``cuda`` when torch sees a GPU, else ``cpu``."""
        self.loaded()
        return str(self._model.device.type)

    @property
    def _llm_type(self) -> str:
        return "hf"

    @property
    def model_name(self) -> str:
        return self.model_dir

    @property
    def prompt_format(self) -> PromptFormat:
        self.loaded()
        return self._format

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = LangSmithParams(
            ls_provider="huggingface", ls_model_name=kwargs.get("model") or self.model_dir, ls_model_type="chat",
            ls_temperature=kwargs.get("temperature", self.temperature),
            ls_max_tokens=kwargs.get("max_tokens", self.max_tokens),
        )
        if stop:
            params["ls_stop"] = stop
        return params

    def render(self, messages: list[BaseMessage]) -> str:
        """The exact text the model reads."""
        from chains.backends.local import chat_messages

        self.loaded()
        return self._format.prompt(self._tokenizer, chat_messages(messages))

    def _stops(self, stop: list[str] | None) -> list[str]:
        # An untuned base model in the plain format may carry on with the next turn.
        return ([STOP_TEXT] if self._format.kind == "plain" else []) + [t for t in stop or [] if t]

    def _generate_kwargs(self, messages: list[BaseMessage], stop: list[str] | None = None) -> dict[str, Any]:
        inputs = self._tokenizer(self.render(messages), return_tensors="pt", add_special_tokens=False)
        inputs = inputs.to(self._model.device)
        kwargs: dict[str, Any] = dict(
            **inputs,
            max_new_tokens=self.max_tokens,
            eos_token_id=self._stop_ids,
            pad_token_id=self._tokenizer.pad_token_id,
        )
        if self.temperature > 0:
            kwargs.update(do_sample=True, temperature=self.temperature)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if stops := self._stops(stop):
            kwargs.update(stop_strings=stops, tokenizer=self._tokenizer)
        return kwargs

    def _usage(self, prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
        return {"input_tokens": prompt_tokens, "output_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens}

    def _complete(self, messages: list[BaseMessage], stop: list[str] | None) -> ChatResult:
        import torch

        request = self._generate_kwargs(messages, stop)
        with torch.inference_mode():
            output = self._model.generate(**request)
        prompt_tokens = int(request["input_ids"].shape[1])
        new = output[0, prompt_tokens:]
        raw = self._tokenizer.decode(new, skip_special_tokens=True)
        text = self._clean(raw, stop)
        finish = "length" if int(new.shape[0]) >= self.max_tokens else "stop"
        message = AIMessage(content=text, usage_metadata=self._usage(prompt_tokens, int(new.shape[0])),
                            response_metadata={"model_name": self.model_dir, "finish_reason": finish,
                                               "model_provider": "huggingface"})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _chunks(self, messages: list[BaseMessage], stop: list[str] | None,
                run_manager: CallbackManagerForLLMRun | None = None) -> Iterator[ChatGenerationChunk]:
        counts: dict[str, int] = {}
        for piece in self._pieces(messages, stop, counts):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk
        usage = self._usage(counts.get("prompt", 0), counts.get("new", 0))
        finish = "length" if counts.get("new", 0) >= self.max_tokens else "stop"
        yield ChatGenerationChunk(message=AIMessageChunk(
            content="", usage_metadata=usage, chunk_position="last",  # type: ignore[arg-type]
            response_metadata={"model_name": self.model_dir, "finish_reason": finish, "model_provider": "huggingface"}))

    # --- LangChain's entry points: each call waits for its turn at the model ---------------

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        self.loaded()
        with self._queue.turn():
            return self._complete(messages, stop)

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        self.loaded()
        with self._queue.turn():
            yield from self._chunks(messages, stop, run_manager)

    async def _agenerate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                         run_manager: AsyncCallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        await finish_in_thread(self.loaded)
        async with self._queue.aturn():
            return await finish_in_thread(self._complete, messages, stop)

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: AsyncCallbackManagerForLLMRun | None = None,
                       **kwargs: Any) -> AsyncIterator[ChatGenerationChunk]:
        await finish_in_thread(self.loaded)
        async for chunk in stream_in_turn(self._queue, lambda: self._chunks(messages, stop), run_manager):
            yield chunk

    def _pieces(self, messages: list[BaseMessage], stop: list[str] | None, counts: dict[str, int]) -> Iterator[str]:
        """The answer's text as it is generated; ``counts`` gets the prompt and new token counts.

        Closing the generator early stops generation (before the caller's turn ends)."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList, TextIteratorStreamer

        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        request = self._generate_kwargs(messages, stop)
        prompt = int(request["input_ids"].shape[1])
        counts.update(prompt=prompt, new=0)
        halt = threading.Event()
        failure: list[BaseException] = []

        class Watch(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                counts["new"] = int(input_ids.shape[1]) - prompt
                return torch.full((input_ids.shape[0],), halt.is_set(), dtype=torch.bool)

        def run() -> None:
            try:
                with torch.inference_mode():
                    self._model.generate(**request, streamer=streamer, stopping_criteria=StoppingCriteriaList([Watch()]))
            except BaseException as exc:  # surfaced in the caller's thread below
                failure.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        stops = self._stops(stop)
        hold = max((len(t) for t in stops), default=0)
        text, sent, ended = "", 0, False
        try:
            for piece in streamer:
                text += piece
                if any(t in text for t in stops):
                    break
                ready = text.lstrip()[: len(text.lstrip()) - hold] if hold else text.lstrip()
                if len(ready) > sent:
                    yield ready[sent:]
                    sent = len(ready)
            else:
                ended = True
        finally:
            if not ended:  # a stop string, or the caller stopped reading: stop at the next token
                halt.set()
                for _ in streamer:  # let generation finish
                    pass
            thread.join()
        if failure:
            raise BackendError(f"The hf backend failed while generating: {failure[0]}")
        rest = self._clean(text, stop)[sent:]
        if rest.strip():
            yield rest.rstrip()

    def _clean(self, text: str, stop: list[str] | None = None) -> str:
        for end in self._stops(stop):
            text = text.split(end)[0]
        return text.strip()

    def get_num_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this model's own tokenizer."""
        self.loaded()
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])


def hf_prompt(question: str, documents: Sequence["Document"]) -> list[BaseMessage]:
    """The user turn the model was trained on: the bare question, or with numbered passages."""
    return [HumanMessage(content=m["content"]) for m in question_messages(question, documents)]


def hf_llm(model_dir: str, options: BackendOptions) -> LLM:
    chat = HFChat(model_dir=model_dir, max_tokens=options.max_tokens, temperature=options.temperature,
                  threads=options.threads).loaded()  # a broken model fails when it is chosen
    return LLM(
        label=f"hf:{model_dir}",
        chat_model=chat,
        provider="hf",
        model_name=model_dir,
        context_window=options.context_window,
        max_tokens=options.max_tokens,
        # The format's own wrapping (system prompt, template tokens) counts against the window too.
        tokenizer=chat.get_num_tokens,
        billing="local",
        prompt=hf_prompt,
    )


@register_llm("hf", description="Hugging Face model directory via transformers (fine-tuned models; default SmolLM2).", install_hint=INSTALL_HINT)
def _hf(options: BackendOptions) -> LLM:
    import torch  # noqa: F401  (missing torch/transformers → the install hint)
    import transformers  # noqa: F401

    return hf_llm(resolve_model(options.model), options)

