"""A LangChain retriever over the app's index (for LCEL chains and agents)."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever


class IndexRetriever(BaseRetriever):
    """Returns the ``k`` most similar chunks; ``metadata["score"]`` is cosine similarity."""

    app: Any
    k: int = 4

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return self.app.retrieve(query, self.k)
