"""A LangChain retriever over the app's index (the chain's first step; also for agents)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever


class IndexRetriever(BaseRetriever):
    """The chunks :meth:`RagApp.search` finds; ``metadata["score"]`` is cosine similarity."""

    app: Any
    #: ``rag_app.retrieval.search.RetrievalOptions``: k, search mode, filters.
    options: Any

    @property
    def k(self) -> int:
        return int(self.options.k)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        """``k`` (``retriever.invoke(q, k=2)``) overrides the options' ``k`` for this call."""
        return self.app.search(query, self.options if k is None else replace(self.options, k=k))
