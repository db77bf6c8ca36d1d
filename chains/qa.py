"""RetrievalQA semantics on LCEL: retrieve, stuff the passages into the prompt, answer.

``langchain.chains.RetrievalQA`` is gone from LangChain 1.x; this chain keeps
its contract (input ``{"query"}``, output ``{"result", "source_documents"}``)
so code written for it keeps working.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chains.backend import AnswerBackend

if TYPE_CHECKING:
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.runnables import Runnable


def build_qa_chain(retriever: "BaseRetriever", backend: AnswerBackend) -> "Runnable[dict[str, Any], dict[str, Any]]":
    """``{"query": str}`` → ``{"query", "source_documents", "result"}``."""
    from langchain_core.runnables import RunnableLambda, RunnablePassthrough

    def retrieve(inputs: dict[str, Any]) -> Any:
        return retriever.invoke(inputs["query"])

    def answer(inputs: dict[str, Any]) -> str:
        from chains import combine

        return combine.answer(backend, inputs["query"], inputs["source_documents"])

    return RunnablePassthrough.assign(source_documents=RunnableLambda(retrieve)).assign(
        result=RunnableLambda(answer)
    )
