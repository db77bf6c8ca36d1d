"""How retrieved passages reach the model: the prompt budget and the chain types.

- :func:`fit_to_window` keeps the prompt inside the model's context window,
  counted with the backend's own tokenizer (tiktoken for OpenAI models, the
  GGUF vocabulary for local ones), dropping the lowest-ranked passages first.
- ``stuff`` (RetrievalQA's default) puts every passage that fits into one prompt.
- ``map_reduce`` asks the question of each passage on its own, then answers
  from the partial answers: for when the passages do not fit together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Sequence

from chains.backend import AnswerBackend
from chains.prompt import NOT_FOUND, qa_messages
from chains.registry import BackendError

if TYPE_CHECKING:
    from langchain_core.documents import Document

CHAIN_TYPES = ("stuff", "map_reduce")
#: Tokens per chat message that the chat template adds around its content.
MESSAGE_OVERHEAD = 6


def prompt_tokens(backend: AnswerBackend, question: str, documents: Sequence["Document"]) -> int:
    """Tokens of the QA prompt for ``documents``, chat-template overhead included."""
    return sum(backend.count_tokens(m["content"]) + MESSAGE_OVERHEAD for m in qa_messages(question, documents))


def fit_to_window(backend: AnswerBackend, question: str, documents: Sequence["Document"]) -> list["Document"]:
    """The best-ranked prefix of ``documents`` whose prompt fits, leaving room for the answer.

    If not even the best passage fits, it is shortened to fit.
    """
    kept = list(documents)
    if backend.context_window is None or not kept:
        return kept
    limit = backend.context_window - backend.max_tokens
    if prompt_tokens(backend, question, []) > limit:
        raise BackendError(
            f"The question alone does not fit the model's context window ({backend.context_window} tokens): shorten it or raise RAG_N_CTX"
        )
    while kept and prompt_tokens(backend, question, kept) > limit:
        kept.pop()
    if kept:
        return kept
    return [_shorten(backend, question, documents[0], limit)]


def _shorten(backend: AnswerBackend, question: str, document: "Document", limit: int) -> "Document":
    words = document.page_content.split(" ")
    low, high = 0, len(words)
    while low < high:  # longest prefix of words that fits
        middle = (low + high + 1) // 2
        trial = document.model_copy(update={"page_content": " ".join(words[:middle])})
        if prompt_tokens(backend, question, [trial]) <= limit:
            low = middle
        else:
            high = middle - 1
    metadata = dict(document.metadata, truncated=True)
    return document.model_copy(update={"page_content": " ".join(words[:low]), "metadata": metadata})


def _map(backend: AnswerBackend, question: str, documents: Sequence["Document"]) -> list["Document"]:
    """One answer per passage; passages that do not answer are left out."""
    partial = []
    for document in documents:
        text = backend.answer(question, fit_to_window(backend, question, [document])).strip()
        if text and not text.startswith(NOT_FOUND[:12]):
            partial.append(document.model_copy(update={"page_content": text}))
    return partial


def select(backend: AnswerBackend, question: str, documents: Sequence["Document"], chain: str = "stuff") -> list["Document"]:
    """The passages the model will see (the sources to cite) under chain type ``chain``."""
    if chain not in CHAIN_TYPES:
        raise BackendError(f"Chain type '{chain}' is not known. Available: {', '.join(CHAIN_TYPES)}")
    if chain == "map_reduce":
        return [fit_to_window(backend, question, [d])[0] for d in documents]
    return fit_to_window(backend, question, documents)


def answer(backend: AnswerBackend, question: str, documents: Sequence["Document"], chain: str = "stuff") -> str:
    """The answer from ``documents`` with chain type ``chain``."""
    if chain == "map_reduce":
        partial = _map(backend, question, documents)
        return backend.answer(question, fit_to_window(backend, question, partial)) if partial else NOT_FOUND
    return backend.answer(question, fit_to_window(backend, question, documents))


def stream(backend: AnswerBackend, question: str, documents: Sequence["Document"], chain: str = "stuff") -> Iterator[str]:
    """Like :func:`answer`, in pieces (for ``map_reduce`` only the final step streams)."""
    if chain == "map_reduce":
        partial = _map(backend, question, documents)
        if not partial:
            yield NOT_FOUND
            return
        documents = partial
    yield from backend.stream(question, fit_to_window(backend, question, documents))
