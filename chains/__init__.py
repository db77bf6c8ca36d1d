"""Chains: the grounded QA prompt, the answer backends and their registry.

``chains`` knows nothing of the index or the app: it turns a question plus
retrieved documents into an answer, through a backend chosen by name.
"""

from chains.backend import AnswerBackend
from chains.registry import (
    BackendError,
    BackendOptions,
    MissingDependency,
    UnknownBackend,
    available_llms,
    create_llm,
    parse_spec,
    register_llm,
)

__all__ = [
    "AnswerBackend",
    "BackendError",
    "BackendOptions",
    "MissingDependency",
    "UnknownBackend",
    "available_llms",
    "create_llm",
    "parse_spec",
    "register_llm",
]
