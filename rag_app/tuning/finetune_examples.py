"""Training examples for ``rag-app finetune``: reading the JSONL shapes and encoding them for the Trainer.

One JSON object a line::

    {"text": "..."}                                    # learn all of it
    {"prompt": "...", "completion": "..."}             # learn the completion
    {"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}   # learn assistant turns
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag_app.errors import ConfigError
from rag_app.jsonl import read_jsonl

_SHAPES = '{"text"}, {"prompt", "completion"} or {"messages": [...]}'


@dataclass
class Example:
    """One training example: a conversation, or free text (``messages`` empty)."""

    messages: list[dict[str, str]] = field(default_factory=list)
    text: str | None = None


def load_examples(path: str | Path) -> list[Example]:
    """Read a JSONL file of examples; a bad line is a one-line error naming it."""
    path = Path(path)
    examples = [_example(record, f"{path}:{number}")
                for number, record in read_jsonl(path, what="training data", expected=_SHAPES)]
    if not examples:
        raise ConfigError(f"{path} holds no examples: write one JSON object a line")
    return examples


def _example(record: dict[str, Any], where: str) -> Example:
    shapes = f"expected {_SHAPES}"
    if "messages" in record:
        messages = record["messages"]
        ok = isinstance(messages, list) and all(
            isinstance(m, dict) and m.get("role") in ("system", "user", "assistant") and isinstance(m.get("content"), str)
            for m in messages
        )
        if not ok:
            raise ConfigError(f'{where}: "messages" must be a list of {{"role": system|user|assistant, "content": str}}')
        if not any(m["role"] == "assistant" for m in messages):
            raise ConfigError(f"{where}: the conversation has no assistant message to learn from")
        return Example(messages=[{"role": m["role"], "content": m["content"]} for m in messages])
    if "prompt" in record or "completion" in record:
        prompt, completion = record.get("prompt"), record.get("completion")
        if not isinstance(prompt, str) or not isinstance(completion, str) or not completion.strip():
            raise ConfigError(f'{where}: "prompt" and "completion" must both be non-empty strings')
        return Example(messages=[{"role": "user", "content": prompt}, {"role": "assistant", "content": completion.strip()}])
    if isinstance(record.get("text"), str) and record["text"].strip():
        return Example(text=record["text"])
    raise ConfigError(f"{where}: {shapes}")


def file_hash(path: str | Path) -> str:
    """``sha256:<hex>`` of a file: a checkpoint resumes only on the data it started with."""
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()


def encode(example: Example, tokenizer: Any, fmt: Any, max_length: int) -> dict[str, list[int]] | None:
    """``input_ids`` and ``labels`` (``-100`` outside the parts to learn); ``None`` if nothing is left to learn."""
    pieces = fmt.text_segments(tokenizer, example.text) if example.text is not None else fmt.segments(tokenizer, example.messages)
    ids: list[int] = []
    labels: list[int] = []
    for text, learn in pieces:
        part = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids.extend(part)
        labels.extend(part if learn else [-100] * len(part))
    ids, labels = ids[:max_length], labels[:max_length]
    if all(label == -100 for label in labels):
        return None
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}
