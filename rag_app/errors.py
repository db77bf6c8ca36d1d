"""Errors a user can act on. The CLI prints ``str(error)`` and exits with ``exit_code``.

    RagError                      base; never needs a traceback to understand
    ├── ConfigError               a setting is wrong (exit 4)
    ├── IndexMissing              nothing indexed yet: run `rag-app reindex`
    ├── IndexMismatch             index built with other embeddings/splitter: `reindex --rebuild`
    ├── LockBusy                  another reindex holds the lock (exit 3)
    ├── SourceMissing             a path to index does not exist
    └── LLMError                  a backend failed (unknown name, missing package, network)

Partial success (files skipped) is not an error; ``reindex --strict`` turns it
into exit code 5 for schedulers that should alert on it.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_LOCK_BUSY = 3
EXIT_CONFIG = 4
EXIT_PARTIAL = 5
EXIT_INTERRUPTED = 130


class RagError(Exception):
    """Base of every error the app reports to a user as one line."""

    exit_code = EXIT_ERROR


class ConfigError(RagError):
    exit_code = EXIT_CONFIG


class IndexMissing(RagError):
    pass


class IndexMismatch(RagError):
    exit_code = EXIT_CONFIG


class LockBusy(RagError):
    exit_code = EXIT_LOCK_BUSY


class SourceMissing(RagError):
    pass


class LLMError(RagError):
    pass
