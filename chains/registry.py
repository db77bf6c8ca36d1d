"""The LLM registry: a name → a factory that returns a LangChain chat model.

Built-in backends register on import of :mod:`chains.backends`. Third-party
packages add theirs through the ``rag_app.llms`` entry-point group: the entry
point names a module that calls :func:`register_llm`, exactly as the built-ins
do. A factory returns a LangChain ``BaseChatModel``, an :class:`~chains.llm.LLM`
(a chat model plus its window, tokenizer and billing) or an
:class:`~chains.backend.AnswerBackend` (a passage answerer such as ``extractive``).

A spec is ``name`` or ``name:model`` (``openai:gpt-4o-mini``,
``local:/path/model.gguf``). A name that is not registered but is a provider
LangChain's ``init_chat_model`` knows (``anthropic:claude-...``,
``google_genai:gemini-...``, ``bedrock_converse:...``, ``groq:...``,
``mistralai:...``) is created by it, with the provider's settings read from
the environment by its own package.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from chains.errors import BackendError, MissingDependency, UnknownBackend
from chains.plugins import load_plugins

if TYPE_CHECKING:
    from chains.llm import LLM

ENTRY_POINT_GROUP = "rag_app.llms"

#: Documented backends that ship separately; naming one that is absent gives its install command.
OPTIONAL_BACKENDS = {
    "hf": "pip install 'rag-app[hf]'",
}


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


Factory = Callable[[BackendOptions], Any]  # -> BaseChatModel | LLM | AnswerBackend


@dataclass(frozen=True)
class Registration:
    name: str
    factory: Factory
    description: str
    install_hint: str | None


_REGISTRY: dict[str, Registration] = {}
_builtins_loaded = False


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


def _load_entry_points() -> None:
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


def create_llm(spec: str, options: BackendOptions | None = None) -> "LLM":
    """Create the model ``spec`` names; a model in the spec overrides ``options.model``."""
    from chains.llm import as_llm

    _load_builtins()
    name, model = parse_spec(spec)
    if name not in _REGISTRY:
        _load_entry_points()
    reg = _REGISTRY.get(name)
    options = options or BackendOptions()
    if reg is None and name in OPTIONAL_BACKENDS:
        raise MissingDependency(f"LLM backend '{name}' is not installed: {OPTIONAL_BACKENDS[name]}")
    if reg is None:
        if model and name in langchain_providers():
            return as_llm(_init_chat_model(name, model, options), spec=f"{name}:{model}",
                          context_window=options.context_window, max_tokens=options.max_tokens)
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownBackend(
            f"LLM backend '{name}' is not known. Available: {known}, or PROVIDER:MODEL for a LangChain "
            f"chat model provider ({', '.join(langchain_providers())}). Set RAG_LLM in .env or pass --llm NAME."
        )
    if model:
        from dataclasses import replace

        options = replace(options, model=model)
    try:
        made = reg.factory(options)
    except ImportError as exc:
        if isinstance(exc, MissingDependency):
            raise
        hint = reg.install_hint or f"pip install 'rag-app[{name}]'"
        raise MissingDependency(
            f"LLM backend '{name}' needs a package that is not installed ({exc.name or exc}): {hint}"
        ) from exc
    return as_llm(made, spec=spec, context_window=options.context_window, max_tokens=options.max_tokens)


def langchain_providers() -> list[str]:
    """Providers ``init_chat_model`` can create (each from its own ``langchain-*`` package)."""
    try:
        from langchain.chat_models.base import _BUILTIN_PROVIDERS
    except ImportError:  # pragma: no cover - a langchain without the table
        return []
    return sorted(_BUILTIN_PROVIDERS)


def _init_chat_model(provider: str, model: str, options: BackendOptions) -> Any:
    """A chat model from LangChain's provider table; its package reads its own env variables."""
    from langchain.chat_models import init_chat_model

    kwargs: dict[str, Any] = {"temperature": options.temperature, "max_tokens": options.max_tokens}
    try:
        return init_chat_model(model, model_provider=provider, **kwargs)
    except ImportError as exc:
        found = re.search(r"pip install (?:-U )?([\w.\-\[\]]+)", str(exc))
        hint = f"pip install {found.group(1) if found else 'langchain-' + provider.replace('_', '-')}"
        raise MissingDependency(f"The {provider} provider needs its LangChain package: {hint}") from None
    except Exception as exc:  # noqa: BLE001 - a provider package's own validation (missing key, ...)
        detail = " ".join(str(exc).split())[:300]
        raise BackendError(f"Cannot create the {provider}:{model} chat model: {detail}") from None
