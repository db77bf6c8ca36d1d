"""QA sets: the questions ``rag-app eval`` and ``advise --measure`` ask, with their references.

JSONL, one object a line: ``{"id", "question", "answer" or null, "sources":
[file names], "contexts": [reference passages], "meta": {"all_answers": [...]}}``;
or CSV with ``question`` and ``answer`` columns (optional ``id``, ``sources``
separated by ``;``, ``context``).
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag_app.errors import ConfigError
from rag_app.jsonl import read_jsonl


@dataclass
class QAItem:
    id: str
    question: str
    answer: str | None
    sources: list[str] = field(default_factory=list)
    contexts: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def references(self) -> list[str]:
        """Every acceptable answer (SQuAD's ``all_answers`` when given)."""
        extra = [str(a) for a in self.meta.get("all_answers") or [] if str(a).strip()]
        refs = ([self.answer] if self.answer else []) + extra
        return list(dict.fromkeys(refs))


def load_qa(path: str | Path) -> list[QAItem]:
    """Read a JSONL or CSV QA set; a bad line names its number."""
    path = Path(path)
    items = _load_csv(path) if path.suffix.lower() == ".csv" else _load_jsonl(path)
    if not items:
        raise ConfigError(f"{path} holds no questions")
    return items


_QUESTION = 'a JSON object with a "question" field'


def _load_jsonl(path: Path) -> list[QAItem]:
    items = []
    for number, record in read_jsonl(path, what="QA file", expected=_QUESTION):
        if "question" not in record:
            raise ConfigError(f"{path}:{number}: expected {_QUESTION}")
        answer = record.get("answer")
        items.append(
            QAItem(
                id=str(record.get("id") or f"q{number}"),
                question=str(record["question"]).strip(),
                answer=None if answer is None else str(answer),
                sources=[str(s) for s in record.get("sources") or []],
                contexts=[str(c) for c in record.get("contexts") or []],
                meta=dict(record.get("meta") or {}),
            )
        )
    return items


def _load_csv(path: Path) -> list[QAItem]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"Cannot read QA file {path}: {exc.strerror}") from None
    reader = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower(): c for c in reader.fieldnames or []}
    if "question" not in columns:
        raise ConfigError(f"{path}: the CSV needs a 'question' column (and usually 'answer'); found {sorted(columns)}")
    get = lambda row, name: (row.get(columns[name]) or "").strip() if name in columns else ""  # noqa: E731
    items = []
    for number, row in enumerate(reader, 2):
        question = get(row, "question")
        if not question:
            continue
        items.append(
            QAItem(
                id=get(row, "id") or f"q{number}",
                question=question,
                answer=get(row, "answer") or None,
                sources=[s.strip() for s in get(row, "sources").split(";") if s.strip()],
                contexts=[get(row, "context")] if get(row, "context") else [],
            )
        )
    return items


def select(items: list[QAItem], limit: int | None = None, sample: int | None = None, seed: int = 0) -> list[QAItem]:
    """``sample`` questions drawn with ``seed`` (kept in file order), then the first ``limit``."""
    if sample is not None and sample < len(items):
        chosen = set(random.Random(seed).sample(range(len(items)), sample))
        items = [item for i, item in enumerate(items) if i in chosen]
    return items[:limit] if limit is not None else items
