"""Entry-point plugins: a package names a module; importing it registers its backends."""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points


@cache
def load_plugins(group: str, what: str) -> None:
    """Import every module of entry-point ``group`` once; each registers itself on import.

    A plugin that fails to import is a warning naming it (``what``: "LLM backend",
    "Embedding"), never an error: a broken plugin must not break the app.
    """
    for ep in entry_points(group=group):
        try:
            ep.load()
        except Exception as exc:
            import warnings

            warnings.warn(f"{what} plugin '{ep.name}' failed to load: {exc}", stacklevel=3)
