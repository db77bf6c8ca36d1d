"""The grounded QA prompt (RetrievalQA's "stuff" prompt, tuned for small models)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from langchain_core.prompts import ChatPromptTemplate

NOT_FOUND = "I don't know: the documents do not say."

SYSTEM = (
    "You answer questions using only the numbered context passages. "
    "Answer in one or two short sentences, using the words of the context. "
    f'If the context does not contain the answer, reply exactly: "{NOT_FOUND}" '
    "Do not add anything that is not in the context."
)

HUMAN = "Context:\n{context}\n\nQuestion: {question}"


def citation_label(metadata: dict) -> str:
    """``warranty.md:12-15`` or ``manual.pdf p.3``: where a passage came from (file name only)."""
    from loaders.location import location_of

    return location_of(metadata, Path(str(metadata.get("source", "?"))).name)


def format_context(documents: Sequence["Document"]) -> str:
    """Number the passages so the model (and the reader) can refer to them."""
    return "\n\n".join(
        f"[{i}] ({citation_label(doc.metadata)})\n{doc.page_content.strip()}"
        for i, doc in enumerate(documents, 1)
    )


@lru_cache(maxsize=1)
def qa_prompt() -> "ChatPromptTemplate":
    """The template, built once (it is only ever formatted, never changed)."""
    from langchain_core.prompts import ChatPromptTemplate

    return ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", HUMAN)])


def qa_messages(question: str, documents: Sequence["Document"]) -> list[dict[str, str]]:
    """The prompt as OpenAI-style chat messages."""
    role = {"system": "system", "human": "user", "ai": "assistant"}
    messages = qa_prompt().format_messages(context=format_context(documents), question=question)
    return [{"role": role.get(m.type, m.type), "content": str(m.content)} for m in messages]
