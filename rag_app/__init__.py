"""rag-app: answer questions from your documents, with the sources they came from.

The public API::

    from rag_app import RagApp
    app = RagApp.from_env()
    app.reindex(["data"])
    print(app.query("How long is the frame warranty?").answer)
"""

from __future__ import annotations

from rag_app.settings import Settings
from rag_app.errors import (
    ConfigError,
    IndexMismatch,
    IndexMissing,
    LLMError,
    LockBusy,
    RagError,
    SourceMissing,
)
from rag_app.results import Answer, Source
from rag_app.app import RagApp, StreamingAnswer

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
