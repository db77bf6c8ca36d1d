"""How retrieved passages reach the model: the prompt budget and the chain types.

- :func:`fit_to_window` keeps the prompt inside the model's context window,
  counted with the model's own tokenizer (tiktoken for OpenAI models, the
  GGUF vocabulary for local ones), dropping the lowest-ranked passages first.
- ``stuff`` (RetrievalQA's default) puts every passage that fits into one prompt.
- ``map_reduce`` asks the question of each passage on its own, then answers
  from the partial answers: for when the passages do not fit together.

:func:`select` runs once per question and decides the passages the model sees
(so the sources listed are exactly those); :func:`generate` / :func:`agenerate`
then stream the answer through the chat model (or passage answerer) as message
chunks, with the caller's callbacks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, AsyncIterator, Iterator, Sequence

from chains.errors import BackendError
from chains.prompt import NOT_FOUND

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from chains.llm import LLM
    from langchain_core.runnables import RunnableConfig

CHAIN_TYPES = ("stuff", "map_reduce")
#: Tokens per chat message that the chat template adds around its content.
MESSAGE_OVERHEAD = 6


def prompt_tokens(llm: LLM, question: str, documents: Sequence["Document"]) -> int:
    """Tokens of the QA prompt for ``documents``, chat-template overhead included."""
    return sum(llm.count_tokens(m.text) + MESSAGE_OVERHEAD for m in llm.prompt(question, documents))


def fit_to_window(llm: LLM, question: str, documents: Sequence["Document"]) -> list["Document"]:
    """The best-ranked prefix of ``documents`` whose prompt fits, leaving room for the answer.

    If not even the best passage fits, it is shortened to fit.
    """
    kept = list(documents)
    if llm.context_window is None or not kept:
        return kept
    limit = llm.context_window - llm.max_tokens
    if prompt_tokens(llm, question, []) > limit:
        raise BackendError(
            f"The question alone does not fit the model's context window ({llm.context_window} tokens): shorten it or raise RAG_N_CTX"
        )
    while kept and prompt_tokens(llm, question, kept) > limit:
        kept.pop()
    if kept:
        return kept
    return [_shorten(llm, question, documents[0], limit)]


def _shorten(llm: LLM, question: str, document: "Document", limit: int) -> "Document":
    words = document.page_content.split(" ")
    low, high = 0, len(words)
    while low < high:  # longest prefix of words that fits
        middle = (low + high + 1) // 2
        trial = document.model_copy(update={"page_content": " ".join(words[:middle])})
        if prompt_tokens(llm, question, [trial]) <= limit:
            low = middle
        else:
            high = middle - 1
    metadata = dict(document.metadata, truncated=True)
    return document.model_copy(update={"page_content": " ".join(words[:low]), "metadata": metadata})


def select(llm: LLM, question: str, documents: Sequence["Document"], chain: str = "stuff") -> list["Document"]:
    """The passages the model will see (the sources to cite) under chain type ``chain``."""
    if chain not in CHAIN_TYPES:
        raise BackendError(f"Chain type '{chain}' is not known. Available: {', '.join(CHAIN_TYPES)}")
    if chain == "map_reduce":
        return [fit_to_window(llm, question, [d])[0] for d in documents]
    return fit_to_window(llm, question, documents)


# --- generation ------------------------------------------------------------------------------

def _text(message: Any) -> str:
    return message if isinstance(message, str) else message.text


def _reduce_passages(llm: LLM, question: str, documents: Sequence["Document"], answers: list[Any]) -> list["Document"]:
    """The map step's answers as passages for the final call, fitted to the window; passages
    that did not answer are left out (an empty list: nothing answered)."""
    partial = []
    for document, answer in zip(documents, answers):
        text = _text(answer).strip()
        if text and not text.startswith(NOT_FOUND[:12]):
            partial.append(document.model_copy(update={"page_content": text}))
    return fit_to_window(llm, question, partial) if partial else []


def generate(llm: LLM, question: str, documents: Sequence["Document"], chain: str = "stuff",
             config: "RunnableConfig | None" = None, stream: bool = True) -> Iterator[Any]:
    """The answer as it is produced: message chunks from a chat model, text from an answerer.

    ``documents`` come from :func:`select`. ``stream=False`` makes one non-streaming call
    (one message). Errors from the model are re-raised as :class:`BackendError` with the
    model's one-line explanation.
    """
    try:
        if chain == "map_reduce":
            if llm.backend is not None:
                answers: list[Any] = [llm.backend.answer(question, [d]) for d in documents]
            else:
                answers = llm.chat_model.batch([llm.prompt(question, [d]) for d in documents], config)
            documents = _reduce_passages(llm, question, documents, answers)
            if not documents:
                yield NOT_FOUND
                return
        if llm.backend is not None:
            yield from llm.backend.stream(question, documents) if stream else [llm.backend.answer(question, documents)]
        elif stream:
            yield from llm.chat_model.stream(llm.prompt(question, documents), config)
        else:
            yield llm.chat_model.invoke(llm.prompt(question, documents), config)
    except BackendError:
        raise
    except Exception as exc:  # noqa: BLE001 - every provider raises its own types
        raise BackendError(llm.error(exc)) from exc


async def agenerate(llm: LLM, question: str, documents: Sequence["Document"], chain: str = "stuff",
                    config: "RunnableConfig | None" = None, stream: bool = True) -> AsyncIterator[Any]:
    """:func:`generate` for async callers (chat models' own async paths)."""
    try:
        if chain == "map_reduce":
            if llm.backend is not None:
                answers: list[Any] = [llm.backend.answer(question, [d]) for d in documents]
            else:
                answers = await llm.chat_model.abatch([llm.prompt(question, [d]) for d in documents], config)
            documents = _reduce_passages(llm, question, documents, answers)
            if not documents:
                yield NOT_FOUND
                return
        if llm.backend is not None:
            for piece in llm.backend.stream(question, documents) if stream else [llm.backend.answer(question, documents)]:
                yield piece
        elif stream:
            async for chunk in llm.chat_model.astream(llm.prompt(question, documents), config):
                yield chunk
        else:
            yield await llm.chat_model.ainvoke(llm.prompt(question, documents), config)
    except BackendError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise BackendError(llm.error(exc)) from exc
