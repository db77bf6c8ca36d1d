"""What ``rag-app advise --measure`` compares (:class:`Setup`) and what it measured (:class:`Measurement`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence


@dataclass(frozen=True)
class Setup:
    """One column of the comparison: a name and the ``rag-app eval`` config that measures it."""

    name: str
    config: str
    kind: str  # rag | finetune | hybrid | extra

    @property
    def retrieval(self) -> bool:
        return "retrieval=false" not in self.config.replace(" ", "").lower()


def default_setups(model: str, llm: str = "local", extra: Sequence[str] = ()) -> list[Setup]:
    """``rag`` (``llm`` with retrieval), ``finetune`` (``hf:model`` alone), ``hybrid``, then ``extra``.

    An extra is a backend spec (``openai:gpt-4o-mini``) or an eval config (``llm=ollama,k=6``).
    """
    setups = [
        Setup("rag", f"llm={llm}", "rag"),
        Setup("finetune", f"llm=hf:{model},retrieval=false", "finetune"),
        Setup("hybrid", f"llm=hf:{model}", "hybrid"),
    ]
    for spec in extra:
        spec = spec.strip()
        setups.append(Setup(spec, spec if "=" in spec else f"llm={spec}", "extra"))
    return setups


@dataclass
class Measurement:
    """Everything measured; :func:`rows` turns it into the report's table."""

    questions: int
    dynamic: bool
    setups: list[Setup]
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)  # setup -> summary
    index: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] | None = None
    retraining: dict[str, Any] | None = None
    change: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)  # {"step", "seconds"}: wall time per step
    interrupted: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    eval_dir: Path | None = None

    def question_rows(self) -> list[dict[str, Any]]:
        """Every answer of every setup (``results.jsonl`` rows of ``rag-app eval``, plus ``setup``)."""
        return [{"setup": name, **row} for name, s in self.summaries.items() for row in s.get("rows", [])]
