"""Structured records as answers: one JSON object, CSV row or table row at a time.

The readers write each record on a line of its own as ``field: value; field: value`` (a
pretty-printed JSON file that is not a list of objects keeps its own lines, ``{"a": 1}``);
:func:`parse_record` reads either back, :func:`render` writes the fields an answer needs.
"""

from __future__ import annotations

import json
import re

_FIELD = re.compile(r"^\s*([^:;\"'\[\]{}]{1,60}?):\s+(.*)$")
_FALSE = frozenset({"no", "false", "n", "0", "none", "null", "-", "n/a", "na", ""})
#: A record renders whole up to this many words; a longer one shows the fields that matter.
WHOLE_RECORD_WORDS = 40
MAX_FIELDS = 6


def parse_record(text: str) -> list[tuple[str, str]] | None:
    """``[(field, value), ...]`` of a record line, or ``None`` when it is not one."""
    line = text.strip().rstrip(",")
    if line.startswith("{") and line.endswith("}"):
        try:
            value = json.loads(line)
        except ValueError:
            return None
        if isinstance(value, dict) and value:
            return [(str(k), _scalar(v)) for k, v in value.items()]
        return None
    pairs = []
    for part in line.split("; "):
        match = _FIELD.match(part)
        if match is None:
            if not pairs:
                return None
            field, value = pairs[-1]
            pairs[-1] = (field, f"{value}; {part}")  # a value holding "; "
            continue
        pairs.append((match.group(1).strip(), match.group(2).strip()))
    return pairs or None


def table_row(text: str) -> list[str] | None:
    """The cells of a markdown table row ``| a | b |``, else ``None``."""
    line = text.strip()
    if not (line.startswith("|") and line.endswith("|")) or len(line) < 3:
        return None
    return [cell.strip() for cell in line[1:-1].split("|")]


def _scalar(value: object) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def truthy(value: str) -> bool:
    """Whether a field value says yes (``yes``, ``true``, a name, a number other than 0)."""
    return value.strip().lower() not in _FALSE


def render(fields: list[tuple[str, str]], keep: list[int] | None = None) -> str:
    """``field: value; ...`` of the ``keep`` fields (all when ``None``), in record order."""
    chosen = fields if keep is None else [fields[i] for i in sorted(set(keep))]
    return "; ".join(f"{name}: {value}" for name, value in chosen)


def words(text: str) -> int:
    return len(text.split())
