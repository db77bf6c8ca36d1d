"""The one answer chain, in LCEL: every way of asking runs it.

::

    {"question"} ─▶ retrieve ─▶ fit_passages ─────────────────────────────▶ rag_answer ─▶ {"token"…, "answer"}
                    retriever   merge overlaps, relevance gate,             chat model (streamed),
                    run         fit the window once (the sources)           support check, usage

``RagApp.query`` / ``stream`` / ``batch`` / ``aquery``, ``qa_chain()``, the CLI and
the REPL all call :func:`build_chain`'s runnable, so they cannot disagree. It
streams ``{"token": piece}`` chunks as the model writes, then one
``{"answer": Answer}`` chunk; ``invoke`` returns both merged. Callbacks see the
retriever run and the chat-model run (with its ``usage_metadata``); the ledger
is such a callback (:class:`LedgerCallback`).
"""

from __future__ import annotations

import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, ContextManager, Iterator
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.runnables.utils import AddableDict

from rag_app.errors import ConfigError, LLMError
from rag_app.results import Answer, Source

if TYPE_CHECKING:
    from langchain_core.retrievers import BaseRetriever

    from chains.llm import LLM
    from chains.support import SupportChecker
    from rag_app.measure.usage import Usage

#: The step whose end carries the finished :class:`Answer` (what the ledger records).
ANSWER_RUN = "rag_answer"
#: Config metadata key telling the ledger the answer was streamed.
STREAMED = "rag_app_streamed"


@dataclass
class AnswerSetup:
    """What one chain answers with: the model, the chain type, retrieval and checks."""

    llm: "LLM"
    chain: str
    retriever: "BaseRetriever | None"
    checker: "SupportChecker | None"
    #: ``(llm, answer, reported usage_metadata) -> Usage``: tokens and cost of one answer.
    measure: Callable[["LLM", Answer, dict[str, int] | None], "Usage"]
    #: Generation runs inside ``turn()`` when set (a server's fair lock for a model that
    #: cannot run twice at once); retrieval and the support check do not wait for it.
    turn: Callable[[], ContextManager[Any]] | None = None


def build_chain(setup: AnswerSetup) -> Runnable[dict[str, Any], dict[str, Any]]:
    """``{"question": str}`` → ``{"token": str, "answer": Answer}`` (streamed as it is written)."""
    prepare, answer = build_steps(setup)
    return (prepare | answer).with_config(run_name="rag_app")


def build_steps(setup: AnswerSetup) -> tuple[Runnable[dict[str, Any], dict[str, Any]], "AnswerStep"]:
    """The chain in its two halves: ``retrieve | fit_passages`` (the passages, errors early) and
    ``rag_answer`` (the model). :func:`build_chain` joins them; ``RagApp.stream`` runs the first
    half when asked and the second as it is iterated."""

    def retrieve(inputs: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        question = str(inputs.get("question") or "").strip()
        if not question:
            raise ConfigError("The question is empty")
        started = time.perf_counter()
        documents = setup.retriever.invoke(question, config) if setup.retriever is not None else []
        return {"question": question, "documents": documents, "retrieve_ms": (time.perf_counter() - started) * 1000}

    def fit(inputs: dict[str, Any]) -> dict[str, Any]:
        from chains import BackendError
        from chains.combine import select
        from chains.passages import merge_overlapping

        documents = merge_overlapping(inputs["documents"])  # in the retriever's (e.g. hybrid) rank order
        gate = setup.checker.not_in_documents(documents) if setup.checker is not None else None
        if gate is None:
            try:  # a tight window drops the lowest-ranked passages first
                documents = select(setup.llm, inputs["question"], documents, setup.chain)
            except BackendError as exc:
                raise LLMError(str(exc)) from None
        # Then best score first: the sources list, the prompt's [n] and the citations share this order.
        documents = sorted(documents, key=lambda d: -float(d.metadata.get("score") or 0.0))
        return {**inputs, "documents": documents, "gate": gate}

    prepare = RunnableLambda(retrieve, name="retrieve") | RunnableLambda(fit, name="fit_passages")
    return prepare.with_config(run_name="rag_prepare"), AnswerStep(setup)


class AnswerStep(Runnable[dict[str, Any], dict[str, Any]]):
    """Generate (streamed when the caller streams), check support, count usage → the :class:`Answer`.

    ``invoke`` makes one non-streaming model call; ``stream``/``transform`` stream the
    model's tokens as ``{"token"}`` chunks. Both end with ``{"answer": Answer}``. The run
    is LangChain's own: a ``RunnableLambda`` for ``invoke``, a ``RunnableGenerator`` for
    streams, both named ``rag_answer``.
    """

    name = ANSWER_RUN

    def __init__(self, setup: AnswerSetup) -> None:
        from langchain_core.runnables import RunnableGenerator

        self.setup = setup
        self._whole = RunnableLambda(self._invoke, afunc=self._ainvoke, name=ANSWER_RUN)
        self._pieces = RunnableGenerator(self._transform, self._atransform, name=ANSWER_RUN)

    # -- sync

    def invoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        return self._whole.invoke(input, config, **kwargs)

    def _invoke(self, inputs: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        out = AddableDict()
        for chunk in self._run(inputs, config, stream=False):
            out = out + chunk
        return out

    def transform(self, input: Iterator[dict[str, Any]], config: RunnableConfig | None = None,
                  **kwargs: Any) -> Iterator[dict[str, Any]]:
        yield from self._pieces.transform(input, config, **kwargs)

    def stream(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        yield from self._pieces.stream(input, config, **kwargs)

    def _transform(self, chunks: Iterator[dict[str, Any]], config: RunnableConfig) -> Iterator[AddableDict]:
        yield from self._run(_last(chunks), config, stream=True)

    def _run(self, inputs: dict[str, Any], config: RunnableConfig, stream: bool) -> Iterator[AddableDict]:
        from chains import BackendError
        from chains.combine import generate

        setup, started, pieces, usage, citer = self.setup, time.perf_counter(), [], None, None
        if inputs["gate"] is not None:
            pieces.append(inputs["gate"].cited_text)  # nothing relevant: say so without calling the LLM
            yield AddableDict(token=pieces[0])
        else:
            citer = _citer(setup, inputs)
            try:
                with setup.turn() if setup.turn else nullcontext():
                    started = time.perf_counter()  # time the model, not the wait for its turn
                    for chunk in generate(setup.llm, inputs["question"], inputs["documents"], setup.chain, config, stream):
                        piece, usage = _take(chunk, usage)
                        if piece:
                            pieces.append(piece)
                            shown = citer.feed(piece) if citer else piece
                            if shown:
                                yield AddableDict(token=shown)
            except BackendError as exc:
                raise LLMError(str(exc)) from None
            rest = citer.close() if citer else ""
            if rest:
                yield AddableDict(token=rest)
        yield AddableDict(answer=_finish(setup, inputs, "".join(pieces), started, usage, citer))

    # -- async

    async def ainvoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        return await self._whole.ainvoke(input, config, **kwargs)

    async def _ainvoke(self, inputs: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        out = AddableDict()
        async for chunk in self._arun(inputs, config, stream=False):
            out = out + chunk
        return out

    async def atransform(self, input: AsyncIterator[dict[str, Any]], config: RunnableConfig | None = None,
                         **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        async for chunk in self._pieces.atransform(input, config, **kwargs):
            yield chunk

    async def astream(self, input: dict[str, Any], config: RunnableConfig | None = None,
                      **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        async for chunk in self._pieces.astream(input, config, **kwargs):
            yield chunk

    async def _atransform(self, chunks: AsyncIterator[dict[str, Any]], config: RunnableConfig) -> AsyncIterator[AddableDict]:
        inputs: dict[str, Any] = {}
        async for chunk in chunks:
            inputs.update(chunk)
        async for out in self._arun(inputs, config, stream=True):
            yield out

    async def _arun(self, inputs: dict[str, Any], config: RunnableConfig, stream: bool) -> AsyncIterator[AddableDict]:
        import asyncio

        from chains import BackendError
        from chains.combine import agenerate

        setup, started, pieces, usage, citer = self.setup, time.perf_counter(), [], None, None
        if inputs["gate"] is not None:
            pieces.append(inputs["gate"].cited_text)
            yield AddableDict(token=pieces[0])
        else:
            citer = _citer(setup, inputs)
            turn = setup.turn() if setup.turn else nullcontext()
            await asyncio.to_thread(turn.__enter__)  # a thread may wait for the turn; the loop must not
            try:
                started = time.perf_counter()
                async for chunk in agenerate(setup.llm, inputs["question"], inputs["documents"], setup.chain, config, stream):
                    piece, usage = _take(chunk, usage)
                    if piece:
                        pieces.append(piece)
                        shown = citer.feed(piece) if citer else piece
                        if shown:
                            yield AddableDict(token=shown)
            except BackendError as exc:
                raise LLMError(str(exc)) from None
            finally:
                turn.__exit__(None, None, None)
            rest = citer.close() if citer else ""
            if rest:
                yield AddableDict(token=rest)
        done = await asyncio.to_thread(_finish, setup, inputs, "".join(pieces), started, usage, citer)
        yield AddableDict(answer=done)


def _citer(setup: AnswerSetup, inputs: dict[str, Any]) -> Any:
    """The support check's markers, added to the pieces as each sentence completes (so every
    entry point shows the check's citations, never the model's own ``[n]``)."""
    if setup.checker is None:
        return None
    return setup.checker.citer(inputs["question"], inputs["documents"])


def _last(chunks: Iterator[dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for chunk in chunks:
        merged.update(chunk)
    return merged


def _take(chunk: Any, usage: Any) -> tuple[str, Any]:
    """The text of a streamed chunk, and the usage reported so far (chunks add up)."""
    if isinstance(chunk, str):
        return chunk, usage
    reported = getattr(chunk, "usage_metadata", None)
    if reported:
        from langchain_core.messages.ai import add_usage

        usage = add_usage(usage, reported) if usage else reported
    return chunk.text, usage


def _finish(setup: AnswerSetup, inputs: dict[str, Any], text: str, started: float, usage: Any,
            citer: Any = None) -> Answer:
    """Support check, sources and usage: the :class:`Answer` every entry point returns."""
    generate_ms = (time.perf_counter() - started) * 1000
    question, documents, support = inputs["question"], inputs["documents"], inputs["gate"]
    text = text.strip()
    if support is None and setup.checker is not None:
        text, support = setup.checker.finish(question, text, documents, citer.grounder if citer else None)
    answer = Answer(
        question=question,
        answer=text,
        sources=[Source.from_document(d) for d in documents],
        timings_ms={"retrieve": inputs["retrieve_ms"], "generate": generate_ms},
        llm=setup.llm.label,
        documents=documents,
        support=support,
    )
    called = inputs["gate"] is None
    try:
        answer.usage = setup.measure(setup.llm, answer, dict(usage) if usage and called else None).to_dict()
    except Exception as exc:  # noqa: BLE001 - bookkeeping must not cost the user their answer
        warnings.warn(f"usage not counted: {exc}", stacklevel=2)
    return answer


class LedgerCallback(BaseCallbackHandler):
    """Records every finished answer (``rag_answer`` run) in the ledger; never fails a query."""

    def __init__(self, record: Callable[[Answer, bool], None]) -> None:
        self.record = record
        self._runs: dict[UUID, bool] = {}

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, name: str | None = None,
                       metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if name == ANSWER_RUN:
            self._runs[run_id] = bool((metadata or {}).get(STREAMED))

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        streamed = self._runs.pop(run_id, None)
        if streamed is None or not isinstance(outputs, dict) or not isinstance(outputs.get("answer"), Answer):
            return
        try:
            self.record(outputs["answer"], streamed)
        except Exception as exc:  # noqa: BLE001
            warnings.warn(f"query not recorded in the ledger: {exc}", stacklevel=2)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._runs.pop(run_id, None)
