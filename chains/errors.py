"""What creating or calling a backend can raise; each message says how to fix it.

    BackendError              a backend could not be created or could not answer
    ├── UnknownBackend        no backend is registered under that name (also a ValueError)
    └── MissingDependency     the backend needs a package that is not installed (also an ImportError)
"""


class BackendError(Exception):
    """A backend could not be created or could not answer; the message says how to fix it."""


class UnknownBackend(BackendError, ValueError):
    """No backend is registered under that name."""


class MissingDependency(BackendError, ImportError):
    """A backend needs an optional package that is not installed."""
