"""The LLM backend registry: backends register a factory under a name.

Built-in backends register on import of :mod:`chains.backends`. Third-party
packages add theirs through the ``rag_app.llms`` entry-point group: the entry
point names a module that calls :func:`register_llm`, exactly as the built-ins
do. A spec is ``name`` or ``name:model`` (``openai:gpt-4o-mini``,
``local:/path/model.gguf``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from chains.backend import AnswerBackend

ENTRY_POINT_GROUP = "rag_app.llms"

#: Documented backends that ship separately; naming one that is absent gives its install command.
OPTIONAL_BACKENDS = {
    "hf": "pip install 'rag-app[hf]'",
}


class BackendError(Exception):
    """A backend could not be created or could not answer; the message says how to fix it."""


class UnknownBackend(BackendError, ValueError):
    """No backend is registered under that name."""


class MissingDependency(BackendError, ImportError):
    """A backend needs an optional package that is not installed."""


@dataclass(frozen=True)
class BackendOptions:
    """Everything a backend factory may need; each backend reads what it uses."""

    model: str | None = None
    api_key: str | None = None
    base_url: str | None = None
    temperature: float = 0.0
    max_tokens: int = 160
    context_window: int = 2048
    threads: int | None = None
    timeout: float = 60.0
    max_retries: int = 3
    retry_backoff: float = 0.5
    extra: dict[str, Any] = field(default_factory=dict)


Factory = Callable[[BackendOptions], "AnswerBackend"]


@dataclass(frozen=True)
class Registration:
    name: str
    factory: Factory
    description: str
    install_hint: str | None


_REGISTRY: dict[str, Registration] = {}
_builtins_loaded = False
_entry_points_loaded = False


def register_llm(
    name: str, *, description: str = "", install_hint: str | None = None
) -> Callable[[Factory], Factory]:
    """Decorator: register ``factory`` as the backend ``name``."""

    def decorate(factory: Factory) -> Factory:
        _REGISTRY[name] = Registration(name, factory, description or (factory.__doc__ or "").strip(), install_hint)
        return factory

    return decorate


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        importlib.import_module("chains.backends")


def load_plugins(group: str, what: str) -> None:
    """Import every module of entry-point ``group``; each registers itself on import."""
    for ep in entry_points(group=group):
        try:
            ep.load()
        except Exception as exc:  # a broken plugin must not break the app
            import warnings

            warnings.warn(f"{what} plugin '{ep.name}' failed to load: {exc}", stacklevel=3)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if not _entry_points_loaded:
        _entry_points_loaded = True
        load_plugins(ENTRY_POINT_GROUP, "LLM backend")


def available_llms() -> dict[str, str]:
    """Registered backend names and their one-line descriptions."""
    _load_builtins()
    _load_entry_points()
    return {name: reg.description for name, reg in sorted(_REGISTRY.items())}


def parse_spec(spec: str) -> tuple[str, str | None]:
    """Split ``name:model`` into its parts (the model part may contain ':')."""
    name, sep, model = spec.strip().partition(":")
    return name.strip().lower(), (model.strip() or None) if sep else None


def create_llm(spec: str, options: BackendOptions | None = None) -> "AnswerBackend":
    """Create the backend ``spec`` names; a model in the spec overrides ``options.model``."""
    _load_builtins()
    name, model = parse_spec(spec)
    if name not in _REGISTRY:
        _load_entry_points()
    reg = _REGISTRY.get(name)
    if reg is None and name in OPTIONAL_BACKENDS:
        raise MissingDependency(f"LLM backend '{name}' is not installed: {OPTIONAL_BACKENDS[name]}")
    if reg is None:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownBackend(
            f"LLM backend '{name}' is not known. Available: {known}. "
            "Set RAG_LLM in .env or pass --llm NAME."
        )
    options = options or BackendOptions()
    if model:
        from dataclasses import replace

        options = replace(options, model=model)
    try:
        return reg.factory(options)
    except ImportError as exc:
        if isinstance(exc, MissingDependency):
            raise
        hint = reg.install_hint or f"pip install 'rag-app[{name}]'"
        raise MissingDependency(
            f"LLM backend '{name}' needs a package that is not installed ({exc.name or exc}): {hint}"
        ) from exc
