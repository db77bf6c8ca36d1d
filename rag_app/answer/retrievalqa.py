"""RetrievalQA's contract on the app's one answer chain.

``langchain.chains.RetrievalQA`` is gone from LangChain 1.x; :class:`RetrievalQA`
keeps its input and output (``{"query"}`` → ``{"query", "result",
"source_documents"}``) over :func:`rag_app.answer.chain.build_chain`, so code written
for it keeps working and answers exactly as ``RagApp.query`` does.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Iterator

from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable
from pydantic import ConfigDict


def _output(answer: Any) -> dict[str, Any]:
    return {"query": answer.question, "result": answer.answer, "source_documents": answer.documents}


class RetrievalQA(RunnableSerializable[dict[str, Any], dict[str, Any]]):
    """``invoke``/``batch``/``ainvoke`` return the RetrievalQA dict; ``stream`` yields
    ``{"result": token}`` as the model writes, then ``{"query", "source_documents", "answer"}``
    (``answer``: the full :class:`~rag_app.results.Answer`, with its support check)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    core: Runnable

    def invoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        return _output(self.core.invoke({"question": input["query"]}, config)["answer"])

    async def ainvoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> dict[str, Any]:
        return _output((await self.core.ainvoke({"question": input["query"]}, config))["answer"])

    def stream(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[dict[str, Any]]:
        for chunk in self.core.stream({"question": input["query"]}, config):
            yield from _pieces(chunk)

    async def astream(self, input: dict[str, Any], config: RunnableConfig | None = None,
                      **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        async for chunk in self.core.astream({"question": input["query"]}, config):
            for piece in _pieces(chunk):
                yield piece


def _pieces(chunk: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "token" in chunk:
        yield {"result": chunk["token"]}
    if "answer" in chunk:
        answer = chunk["answer"]
        yield {"query": answer.question, "source_documents": answer.documents, "answer": answer}
