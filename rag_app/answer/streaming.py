"""An answer being written: its sources now, its pieces as they come, the result at the end."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from rag_app.results import Answer, Source

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable, RunnableConfig


class StreamingAnswer:
    """Iterate for answer pieces as the model writes them; afterwards ``.result`` is the :class:`Answer`.

    The passages are retrieved when it is made: ``.sources`` are the passages the model will see.
    """

    def __init__(self, prepare: "Runnable[dict[str, Any], dict[str, Any]]",
                 answer: "Runnable[dict[str, Any], dict[str, Any]]", question: str,
                 config: "RunnableConfig | None" = None) -> None:
        from langchain_core.runnables.config import ensure_config

        from rag_app.answer.chain import STREAMED

        config = ensure_config(config)
        self._config = {**config, "metadata": {**config.get("metadata", {}), STREAMED: True}}
        self._prepared = prepare.invoke({"question": question}, self._config)
        self._answer = answer
        self.question = self._prepared["question"]
        self.documents = self._prepared["documents"]
        self.sources = [Source.from_document(d) for d in self.documents]
        self.result: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        for chunk in self._answer.stream(self._prepared, self._config):
            if "token" in chunk:
                yield chunk["token"]
            if "answer" in chunk:
                self.result = chunk["answer"]
