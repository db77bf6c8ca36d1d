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
    variant: str | None = None  # which trained model (``--train-on`` variant) a finetune/hybrid setup uses

    @property
    def retrieval(self) -> bool:
        return "retrieval=false" not in self.config.replace(" ", "").lower()


#: New tokens an answer may have while measuring (greedy decoding stops earlier at the end of turn):
#: a short reference (SQuAD-like, at most 12 words) needs few, but SmolLM2 answers in a sentence that
#: restates the question (10-35 tokens on SQuAD; 32 cut 6 of 16 rag answers, 48 only the rambling ones);
#: a long one is judged on the share of the answer's key words found in the reference.
SHORT_ANSWER_TOKENS = 48
LONG_ANSWER_TOKENS = 64
#: Every row shows what its own model wrote: the support check only flags an unsupported answer. (The
#: ``local`` default's ``auto`` would replace it by extractive quotes, scoring the extractive answerer,
#: not the model, and only in rows with passages.)
SAME_ANSWERS = "unsupported=flag"


def answer_tokens(references: Sequence[str], configured: int) -> int:
    """The answer budget for a QA set: :data:`SHORT_ANSWER_TOKENS` when most references are short, else
    :data:`LONG_ANSWER_TOKENS`; never more than ``configured`` (``RAG_MAX_TOKENS``)."""
    from rag_app.measure.metrics import is_short

    refs = [r for r in references if r and r.strip()]
    short = bool(refs) and sum(map(is_short, refs)) >= len(refs) / 2
    return min(configured, SHORT_ANSWER_TOKENS if short else LONG_ANSWER_TOKENS)


def default_setups(model: str, llm: str = "local", extra: Sequence[str] = (),
                   variants: dict[str, str] | None = None, max_tokens: int | None = None) -> list[Setup]:
    """``rag`` (``llm`` with retrieval), ``finetune`` (``hf:model`` alone), ``hybrid``, then ``extra``.

    ``variants`` (name -> model directory, from ``--train-on``): one ``finetune:<name>`` row each when
    there are several (the hybrid uses the ``docs`` model when there is one), else ``finetune``.
    An extra is a backend spec (``openai:gpt-4o-mini``) or an eval config (``llm=ollama,k=6``).
    ``max_tokens``: the answer budget of ``rag``, ``finetune`` and ``hybrid`` (the same for each); all
    three show their model's own answer (:data:`SAME_ANSWERS`).
    """
    variants = variants or {"model": model}
    several = len(variants) > 1
    cap = f",{SAME_ANSWERS}" + (f",max_tokens={max_tokens}" if max_tokens else "")
    setups = [Setup("rag", f"llm={llm}{cap}", "rag")]
    for name, path in variants.items():
        setups.append(Setup(f"finetune:{name}" if several else "finetune", f"llm=hf:{path},retrieval=false{cap}",
                            "finetune", name))
    hybrid = "docs" if "docs" in variants else next(iter(variants))
    setups.append(Setup("hybrid", f"llm=hf:{variants[hybrid]}{cap}", "hybrid", hybrid))
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
    training: dict[str, Any] | None = None  # variant (or "model") -> the training run
    retraining: dict[str, Any] | None = None
    change: dict[str, Any] | None = None
    split: dict[str, Any] | None = None  # seen/unseen questions (:mod:`rag_app.tuning.advise_split`)
    budgets: dict[str, Any] = field(default_factory=dict)  # what the run was allowed (``meta.budgets``)
    plans: list[Any] = field(default_factory=list)  # the change, made once and applied to every setup
    steps: list[dict[str, Any]] = field(default_factory=list)  # {"step", "seconds"}: wall time per step
    interrupted: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    eval_dir: Path | None = None

    def question_rows(self) -> list[dict[str, Any]]:
        """Every answer of every setup (``results.jsonl`` rows of ``rag-app eval``, plus ``setup``)."""
        return [{"setup": name, **row} for name, s in self.summaries.items() for row in s.get("rows", [])]
