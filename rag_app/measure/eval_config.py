"""Evaluation configurations: ``llm=extractive,k=4`` parsed into settings and query arguments."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any

from rag_app.errors import ConfigError
from rag_app.settings import Settings

_QUERY_KEYS = {"k", "llm"}


@dataclass
class EvalConfig:
    """One column of a comparison: settings overrides plus ``RagApp.query`` arguments."""

    label: str
    settings: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None


def _convert(key: str, raw: str, kind: type | None) -> Any:
    raw = raw.strip()
    if kind is bool or (kind is None and raw.lower() in {"true", "false", "on", "off", "yes", "no"}):
        return raw.lower() in {"1", "true", "yes", "on"}
    try:
        if kind is int or (kind is None and re.fullmatch(r"-?\d+", raw)):
            return int(raw)
        if kind is float or (kind is None and re.fullmatch(r"-?\d*\.\d+", raw)):
            return float(raw)
    except ValueError:
        raise ConfigError(f"config value {key}={raw!r} must be a {kind.__name__ if kind else 'number'}") from None
    return raw


def parse_config(text: str) -> EvalConfig:
    """``llm=extractive,k=4``: settings go to :class:`Settings`, the rest to ``RagApp.query``.

    A key that is neither a setting nor a ``query`` argument of this version
    (say ``hybrid`` before hybrid retrieval exists) marks the config skipped.
    """
    from rag_app.app import RagApp

    setting_types = {name: type(f.default) for name, f in Settings.model_fields.items()}
    # RagApp.query passes its **options on to retrieval_options: both name what a query takes.
    query_params = {
        name
        for method in (RagApp.query, RagApp.retrieval_options)
        for name, p in inspect.signature(method).parameters.items()
        if name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    }
    config = EvalConfig(label=text.strip() or "default")
    unknown = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = part.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise ConfigError(f"config part {part!r} must look like key=value (e.g. llm=extractive,k=4)")
        if key in _QUERY_KEYS:
            config.query[key] = _convert(key, raw, setting_types.get(key))
        elif key in setting_types:
            config.settings[key] = _convert(key, raw, setting_types[key])
        elif key in query_params:
            config.query[key] = _convert(key, raw, None)
        else:
            unknown.append(key)
    if unknown:
        config.skipped = (
            f"this version of rag-app has no option {', '.join(repr(u) for u in unknown)} "
            "(neither a setting nor a RagApp.query argument)"
        )
    return config
