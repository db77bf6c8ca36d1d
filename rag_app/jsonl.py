"""JSON Lines: one JSON object a line, the format of QA sets, training examples and results.

Every reader in the app goes through :func:`read_jsonl`, so a bad file gets the
same kind of one-line error wherever it is read: ``{path}:{line}: ...`` and
what the line should look like.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Iterator

from rag_app.errors import ConfigError


def read_jsonl(path: str | Path, *, what: str, expected: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line of ``path``.

    ``what`` names the file in errors ("QA file"); ``expected`` says what a line
    should hold ('a JSON object with a "question" field'). An unreadable file,
    text that is not UTF-8, a line that is not JSON or not an object raise
    :class:`ConfigError`. A leading byte-order mark is skipped.
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8-sig") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{path}:{number}: not valid JSON ({exc.msg}); expected {expected}") from None
                if not isinstance(record, dict):
                    raise ConfigError(f"{path}:{number}: expected {expected}")
                yield number, record
    except OSError as exc:
        raise ConfigError(f"Cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what[:1].upper()}{what[1:]} {path} is not UTF-8 text") from None


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write ``rows`` one JSON object a line (UTF-8, non-ASCII kept), creating the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
