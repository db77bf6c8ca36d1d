"""An answer being written: its sources now, its pieces as they come, the result at the end."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from rag_app.results import Answer, Source

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable, RunnableConfig


class StreamingAnswer:
    """Iterate for answer pieces as the model writes them; afterwards ``.result`` is the :class:`Answer`.

    The passages are retrieved when it is made: ``.sources`` are the passages the model will see.
    Retrieval and generation are one run of the chain (``rag_app``: ``rag_prepare``, then
    ``rag_stream`` → ``rag_answer``), so callbacks and tracing see one tree.
    """

    def __init__(self, prepare: "Runnable[dict[str, Any], dict[str, Any]]",
                 answer: "Runnable[dict[str, Any], dict[str, Any]]", question: str,
                 config: "RunnableConfig | None" = None) -> None:
        from langchain_core.runnables import RunnableConfig, RunnableGenerator
        from langchain_core.runnables.config import ensure_config
        from langchain_core.runnables.utils import AddableDict

        from rag_app.answer.chain import STREAMED

        def relay(chunks: Iterator[dict[str, Any]], config: RunnableConfig) -> Iterator[dict[str, Any]]:
            """The prepared passages first (before the model is asked), then the answer's chunks."""
            prepared: dict[str, Any] = {}
            for chunk in chunks:
                prepared.update(chunk)
            yield AddableDict(prepared=prepared)
            yield from answer.stream(prepared, config)

        config = ensure_config(config)
        config = {**config, "metadata": {**config.get("metadata", {}), STREAMED: True}}
        chain = (prepare | RunnableGenerator(relay, name="rag_stream")).with_config(run_name="rag_app")
        self._chunks = iter(chain.stream({"question": question}, config))
        self._prepared = next(self._chunks)["prepared"]  # retrieval runs now: its errors are raised here
        self.question = self._prepared["question"]
        self.documents = self._prepared["documents"]
        self.sources = [Source.from_document(d) for d in self.documents]
        self.result: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        try:
            for chunk in self._chunks:
                if "token" in chunk:
                    yield chunk["token"]
                if "answer" in chunk:
                    self.result = chunk["answer"]
        finally:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()  # stops generation now (e.g. the reader left) and gives the model's turn back
