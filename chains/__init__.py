"""Chains: the grounded QA prompt, the models that answer and their registry.

``chains`` knows nothing of the index or the app: it turns a question plus
retrieved documents into an answer, through a LangChain chat model chosen by
name (or handed in), or a passage answerer such as ``extractive``.
"""

from chains.backend import AnswerBackend
from chains.errors import BackendError, MissingDependency, UnknownBackend
from chains.llm import LLM, as_llm
from chains.registry import (
    BackendOptions,
    available_llms,
    create_llm,
    langchain_providers,
    parse_spec,
    register_llm,
)

__all__ = [
    "LLM",
    "AnswerBackend",
    "BackendError",
    "BackendOptions",
    "MissingDependency",
    "UnknownBackend",
    "as_llm",
    "available_llms",
    "create_llm",
    "langchain_providers",
    "parse_spec",
    "register_llm",
]
