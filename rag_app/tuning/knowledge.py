"""Fine-tuning for knowledge: teach a model the facts of a QA set within a time budget.

``rag-app advise --measure --train`` uses this to build the "fine-tuned" side of
the comparison. Training examples come from the QA set itself (see
:func:`knowledge_examples`):

- ``qa``: the question, answered with the reference answer (what the model is
  later asked without retrieval);
- ``grounded``: the same question with its gold passage in the prompt format the
  ``hf`` backend uses with retrieval (:data:`chains.hf_format.GROUNDED_QUESTION`),
  so the hybrid setup has learned to read a passage, not only to recall;
- ``docs``: the corpus text itself (plain-text examples, all of it learned):
  continued training on the documents, what "fine-tune on our docs" means.

Training is :func:`rag_app.tuning.finetune.finetune` (Hugging Face ``Trainer``, full or
LoRA, a GPU when one is present) with a :class:`TimeBudget` callback that stops
it cleanly once the budget is spent. Time and the cost it implies
(``RAG_LOCAL_COST_PER_HOUR`` on a CPU, ``RAG_GPU_COST_PER_HOUR`` on a GPU) go
into the model card.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from rag_app.jsonl import write_jsonl

if TYPE_CHECKING:
    from rag_app.settings import Settings
    from rag_app.measure.qa_sets import QAItem

#: Example kinds :func:`knowledge_examples` can build.
KINDS = ("qa", "grounded", "docs")
#: A passage longer than this (characters) is cut, at sentence ends, into pieces that fit ``max_length``.
PIECE_CHARS = 1200
#: What ``advise --measure --train`` trains on by default: ``grounded`` examples are ~6x longer,
#: so on two CPU cores they cost minutes an epoch (README, "Fine-tune or RAG?").
DEFAULT_KINDS = ("qa",)
#: Nominal epochs: the time budget usually ends training first on a CPU; a GPU gets through them.
EPOCHS = 12
#: Learning rates that made SmolLM2-135M recall SQuAD answers within a few CPU minutes (README).
LEARNING_RATE = {"full": 1e-4, "lora": 1e-3}


def knowledge_examples(items: Sequence["QAItem"], kinds: Sequence[str] = DEFAULT_KINDS,
                       passages: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Chat examples (``{"messages": [...]}``) teaching the facts of ``items``; ``{"text"}`` ones of ``passages``."""
    from langchain_core.documents import Document

    from chains.hf_format import GROUNDED_QUESTION
    from chains.prompt import format_context

    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown example kinds: {sorted(unknown)}")
    rows: list[dict[str, Any]] = []
    if "docs" in kinds:
        rows += [{"text": piece} for text in passages for piece in pieces(text)]
    for item in items if ("qa" in kinds or "grounded" in kinds) else ():
        if not item.answer or not item.answer.strip():
            continue
        answer = item.answer.strip()
        if "qa" in kinds:
            rows.append({"messages": [{"role": "user", "content": item.question},
                                      {"role": "assistant", "content": answer}]})
        if "grounded" in kinds and item.contexts:
            source = item.sources[0] if item.sources else "passage"
            context = format_context([Document(page_content=item.contexts[0], metadata={"source": source})])
            rows.append({"messages": [
                {"role": "user", "content": GROUNDED_QUESTION.format(context=context, question=item.question)},
                {"role": "assistant", "content": answer},
            ]})
    return rows


def pieces(text: str, size: int = PIECE_CHARS) -> list[str]:
    """``text`` in pieces of at most about ``size`` characters, cut after a sentence or a line."""
    import re

    out: list[str] = []
    current = ""
    for part in re.split(r"(?<=[.!?\n])\s+", text.strip()):
        if current and len(current) + len(part) + 1 > size:
            out.append(current)
            current = ""
        current = f"{current} {part}".strip() if current else part
        while len(current) > 2 * size:  # one enormous "sentence" (a code block): cut it plainly
            out.append(current[:size])
            current = current[size:]
    if current:
        out.append(current)
    return out


def write_examples(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """``rows`` as a JSONL training file at ``path``; returns ``path``."""
    write_jsonl(path, rows)
    return path


def _clock(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


class TimeBudget:
    """A ``Trainer`` callback that stops training once ``seconds`` have passed, logging progress with an ETA.

    Training ends cleanly after the current step (the model is saved as usual);
    :attr:`stopped` says whether the budget, rather than the epochs, ended it.
    """

    def __init__(self, seconds: float, log: Callable[[str], None], every_s: float = 15.0) -> None:
        from transformers import TrainerCallback

        self.seconds = seconds
        self.stopped = False
        self.started: float | None = None
        self.first_step = 0
        outer = self

        class _CB(TrainerCallback):
            last = 0.0
            loss: float | None = None

            def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                outer.started = time.perf_counter()
                outer.first_step = state.global_step

            def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **kw: Any) -> None:
                if logs and "loss" in logs:
                    self.loss = float(logs["loss"])

            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                assert outer.started is not None
                elapsed = time.perf_counter() - outer.started
                done = state.global_step - outer.first_step
                if elapsed >= outer.seconds:
                    outer.stopped = True
                    control.should_training_stop = True
                    log(f"training: time budget of {_clock(outer.seconds)} spent at step {state.global_step}/{state.max_steps}; stopping")
                    return
                if elapsed - self.last >= every_s and done:
                    self.last = elapsed
                    left = (state.max_steps - state.global_step) * elapsed / done
                    eta = min(left, outer.seconds - elapsed)
                    loss = "" if self.loss is None else f", loss {self.loss:.3f}"
                    log(f"training: step {state.global_step}/{state.max_steps}, {_clock(elapsed)} elapsed, "
                        f"ETA {_clock(eta)} (budget {_clock(outer.seconds)}){loss}")

        self.callback = _CB()


@dataclass
class TrainingRun:
    """What a knowledge fine-tuning run produced and cost."""

    model_dir: str
    seconds: float
    steps: int
    examples: int
    kinds: list[str]
    method: str
    device: str
    budget_s: float
    stopped_by_budget: bool
    cost_per_hour: float
    cost: float
    final_loss: float | None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 1), "cost": round(self.cost, 6)}


def device() -> str:
    """``cuda`` when torch sees a GPU (training uses it), else ``cpu``."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cost_per_hour(settings: "Settings", on: str) -> float:
    return settings.gpu_cost_per_hour if on == "cuda" else settings.local_cost_per_hour


def train_knowledge(
    items: Sequence["QAItem"],
    output: Path,
    settings: "Settings",
    *,
    minutes: float = 4.0,
    lora: bool = False,
    base: str = "smollm2",
    kinds: Sequence[str] = DEFAULT_KINDS,
    passages: Sequence[str] = (),
    epochs: float = EPOCHS,
    seed: int = 0,
    log: Callable[[str], None] = lambda _line: None,
) -> TrainingRun:
    """Fine-tune ``base`` on the facts of ``items`` (and ``passages``) for at most ``minutes``; the model goes to ``output``."""
    from rag_app.errors import ConfigError
    from rag_app.tuning.finetune import FinetuneConfig, finetune

    if minutes <= 0:
        raise ConfigError(f"--train-minutes must be more than 0, got {minutes:g}")
    rows = knowledge_examples(items, kinds, passages)
    if not rows:
        raise ConfigError("Nothing to learn: no question of the QA set has an answer (and no document text was given)"
                          if "docs" in kinds else
                          "No question of the QA set has an answer to learn: fine-tuning for knowledge needs answers")
    data = write_examples(output.parent / f"{output.name}-examples.jsonl", rows)
    method = "lora" if lora else "full"
    on = device()
    budget = TimeBudget(minutes * 60, log)
    config = FinetuneConfig(
        data=str(data), base=base, output=str(output), epochs=epochs, batch_size=8,
        learning_rate=LEARNING_RATE[method], max_length=384, eval_split=0.0, seed=seed,
        lora=lora, lora_r=16, lora_alpha=32, merge=lora, save_steps=10**9, threads=settings.threads or None,
    )
    source = f"{len(passages)} passages" if kinds == ["docs"] or tuple(kinds) == ("docs",) else f"{len(items)} questions"
    log(f"training: {len(rows)} examples ({', '.join(kinds)}) from {source}, {method} fine-tune of {base} "
        f"on {on}, budget {_clock(minutes * 60)}")
    result = finetune(config, log=lambda line: None if line.startswith("step ") else log(line),
                      callbacks=[budget.callback])
    rate = cost_per_hour(settings, on)
    run = TrainingRun(
        model_dir=str(output), seconds=result.seconds, steps=result.steps, examples=len(rows), kinds=list(kinds),
        method=method, device=on, budget_s=minutes * 60, stopped_by_budget=budget.stopped, cost_per_hour=rate,
        cost=rate * result.seconds / 3600, final_loss=result.train_losses[-1][1] if result.train_losses else None,
    )
    _record(output, run)
    return run


def _record(output: Path, run: TrainingRun) -> None:
    """Add the knowledge run (time, device, cost) to the model card and its README."""
    from chains.hf_format import CARD_FILE

    card_path = output / CARD_FILE
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["knowledge"] = run.to_dict()
    card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    readme = output / "README.md"
    note = (f"\nTrained for knowledge by `rag-app advise --measure --train`: {run.examples} examples "
            f"({', '.join(run.kinds)}), {run.steps} steps in {run.seconds:.0f} s on {run.device} "
            f"({'stopped by the time budget' if run.stopped_by_budget else 'all epochs'}); "
            f"training cost ${run.cost:.4f} at ${run.cost_per_hour:g}/h.\n")
    readme.write_text(readme.read_text(encoding="utf-8") + note, encoding="utf-8")
