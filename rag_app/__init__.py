"""rag-app: answer questions from your documents, with the sources they came from.

The public API::

    from rag_app import RagApp
    app = RagApp.from_env()
    app.reindex(["data"])
    print(app.query("How long is the frame warranty?").answer)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag_app.answer.streaming import StreamingAnswer
    from rag_app.app import RagApp
    from rag_app.errors import ConfigError, IndexMismatch, IndexMissing, LLMError, LockBusy, RagError, SourceMissing
    from rag_app.results import Answer, Source
    from rag_app.settings import Settings

# Names load on first use, so `rag-app --help` and `import rag_app` stay cheap.
_HOMES = {
    "RagApp": "rag_app.app", "StreamingAnswer": "rag_app.answer.streaming", "Settings": "rag_app.settings",
    "Answer": "rag_app.results", "Source": "rag_app.results",
    **dict.fromkeys(
        ("ConfigError", "IndexMismatch", "IndexMissing", "LLMError", "LockBusy", "RagError", "SourceMissing"),
        "rag_app.errors",
    ),
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rag_app' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "Answer",
    "ConfigError",
    "IndexMismatch",
    "IndexMissing",
    "LLMError",
    "LockBusy",
    "RagApp",
    "RagError",
    "Settings",
    "Source",
    "SourceMissing",
    "StreamingAnswer",
    "__version__",
]
