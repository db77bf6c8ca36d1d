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
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

from chains.hf_format import PromptFormat, question_messages, read_card
from chains.llm import LLM
from chains.hf_models import OFFLINE_BASE, resolve_model
from chains.errors import BackendError, MissingDependency
from chains.registry import BackendOptions, register_llm

if TYPE_CHECKING:
    from langchain_core.documents import Document

INSTALL_HINT = "pip install 'rag-app[hf]'"
#: In the plain format a model that keeps going starts the next user turn with this.
STOP_TEXT = "\nUser:"


def load_model(model_dir: str, *, threads: int | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` in eval mode; adapters are applied to their base model."""
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

    def model_post_init(self, context: Any) -> None:
        self._model, self._tokenizer = load_model(self.model_dir, threads=self.threads)
        card = read_card(self.model_dir)
        if card.get("prompt_format"):
            self._format = PromptFormat.from_dict(card["prompt_format"])
        else:
            self._format = PromptFormat.for_tokenizer(self._tokenizer)
        # The chat template's end-of-turn token ends an answer as well as the tokenizer's EOS.
        stop = {self._tokenizer.eos_token_id}
        vocab = self._tokenizer.get_vocab()
        if "<|im_end|>" in vocab:
            stop.add(self._tokenizer.convert_tokens_to_ids("<|im_end|>"))
        stop.discard(None)
        self._stop_ids = sorted(stop)

    @property
    def _llm_type(self) -> str:
        return "hf"

    @property
    def model_name(self) -> str:
        return self.model_dir

    @property
    def prompt_format(self) -> PromptFormat:
        return self._format

    def render(self, messages: list[BaseMessage]) -> str:
        """The exact text the model reads."""
        from chains.backends.local import chat_messages

        return self._format.prompt(self._tokenizer, chat_messages(messages))

    def _generate_kwargs(self, messages: list[BaseMessage]) -> dict[str, Any]:
        inputs = self._tokenizer(self.render(messages), return_tensors="pt", add_special_tokens=False)
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
        if self._format.kind == "plain":  # an untuned base model may carry on with the next turn
            kwargs.update(stop_strings=[STOP_TEXT], tokenizer=self._tokenizer)
        return kwargs

    def _usage(self, prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
        return {"input_tokens": prompt_tokens, "output_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens}

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        import torch

        request = self._generate_kwargs(messages)
        with torch.inference_mode():
            output = self._model.generate(**request)
        prompt_tokens = int(request["input_ids"].shape[1])
        new = output[0, prompt_tokens:]
        text = self._clean(self._tokenizer.decode(new, skip_special_tokens=True))
        message = AIMessage(content=text, usage_metadata=self._usage(prompt_tokens, int(new.shape[0])),
                            response_metadata={"model_name": self.model_dir})
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        for piece in self._pieces(messages):
            chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
            if run_manager:
                run_manager.on_llm_new_token(piece, chunk=chunk)
            yield chunk

    def _pieces(self, messages: list[BaseMessage]) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        request = self._generate_kwargs(messages)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    self._model.generate(**request, streamer=streamer)
            except BaseException as exc:  # surfaced in the caller's thread below
                failure.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        hold = len(STOP_TEXT) if self._format.kind == "plain" else 0
        text, sent, stopped = "", 0, False
        for piece in streamer:
            text += piece
            if hold and STOP_TEXT in text:
                stopped = True
                break
            ready = text.lstrip()[: len(text.lstrip()) - hold] if hold else text.lstrip()
            if len(ready) > sent:
                yield ready[sent:]
                sent = len(ready)
        if stopped:
            for _ in streamer:  # let generation finish
                pass
        thread.join()
        if failure:
            raise BackendError(f"The hf backend failed while generating: {failure[0]}")
        rest = self._clean(text)[sent:]
        if rest.strip():
            yield rest.rstrip()

    @staticmethod
    def _clean(text: str) -> str:
        return text.split(STOP_TEXT)[0].strip()

    def get_num_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this model's own tokenizer."""
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])


def hf_prompt(question: str, documents: Sequence["Document"]) -> list[BaseMessage]:
    """The user turn the model was trained on: the bare question, or with numbered passages."""
    return [HumanMessage(content=m["content"]) for m in question_messages(question, documents)]


def hf_llm(model_dir: str, options: BackendOptions) -> LLM:
    chat = HFChat(model_dir=model_dir, max_tokens=options.max_tokens, temperature=options.temperature,
                  threads=options.threads)
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

