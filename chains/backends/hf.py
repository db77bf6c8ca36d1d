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

from chains.backend import AnswerBackend
from chains.hf_format import PromptFormat, question_messages, read_card
from chains.hf_models import OFFLINE_BASE, resolve_model
from chains.registry import BackendError, BackendOptions, MissingDependency, register_llm

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


class HFBackend(AnswerBackend):
    """Greedy (or sampled, with temperature > 0) generation with transformers."""

    name = "hf"

    def __init__(self, model_dir: str, options: BackendOptions) -> None:
        self.model_dir = model_dir
        self.options = options
        self.model, self.tokenizer = load_model(model_dir, threads=options.threads)
        card = read_card(model_dir)
        if card.get("prompt_format"):
            self.format = PromptFormat.from_dict(card["prompt_format"])
        else:
            self.format = PromptFormat.for_tokenizer(self.tokenizer)
        # The chat template's end-of-turn token ends an answer as well as the tokenizer's EOS.
        stop = {self.tokenizer.eos_token_id}
        end_of_turn = self.tokenizer.convert_tokens_to_ids("<|im_end|>") if "<|im_end|>" in self.tokenizer.get_vocab() else None
        stop.discard(None)
        if end_of_turn is not None:
            stop.add(end_of_turn)
        self._stop_ids = sorted(stop)

    def prompt(self, question: str, documents: Sequence["Document"]) -> str:
        """The exact text the model reads, documents dropped from the end until it fits."""
        documents = list(documents)
        budget = max(self.options.context_window - self.options.max_tokens, 64)
        while True:
            text = self.format.prompt(self.tokenizer, question_messages(question, documents))
            if not documents or self.count_tokens(text) <= budget:
                return text
            documents.pop()

    def _generate_kwargs(self, question: str, documents: Sequence["Document"]) -> dict[str, Any]:
        inputs = self.tokenizer(self.prompt(question, documents), return_tensors="pt", add_special_tokens=False)
        kwargs: dict[str, Any] = dict(
            **inputs,
            max_new_tokens=self.options.max_tokens,
            eos_token_id=self._stop_ids,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        if self.options.temperature > 0:
            kwargs.update(do_sample=True, temperature=self.options.temperature)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if self.format.kind == "plain":  # an untuned base model may carry on with the next turn
            kwargs.update(stop_strings=[STOP_TEXT], tokenizer=self.tokenizer)
        return kwargs

    def answer(self, question: str, documents: Sequence["Document"]) -> str:
        import torch

        kwargs = self._generate_kwargs(question, documents)
        with torch.inference_mode():
            output = self.model.generate(**kwargs)
        new = output[0, kwargs["input_ids"].shape[1]:]
        return self._clean(self.tokenizer.decode(new, skip_special_tokens=True))

    def stream(self, question: str, documents: Sequence["Document"]) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = self._generate_kwargs(question, documents)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**kwargs, streamer=streamer)
            except BaseException as exc:  # surfaced in the caller's thread below
                failure.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        hold = len(STOP_TEXT) if self.format.kind == "plain" else 0
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

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this model's own tokenizer."""
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def describe(self) -> str:
        return f"hf:{self.model_dir}"


@register_llm("hf", description="Hugging Face model directory via transformers (fine-tuned models; default SmolLM2).", install_hint=INSTALL_HINT)
def _hf(options: BackendOptions) -> AnswerBackend:
    import torch  # noqa: F401  (missing torch/transformers → the install hint)
    import transformers  # noqa: F401

    return HFBackend(resolve_model(options.model), options)

