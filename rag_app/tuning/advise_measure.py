"""``rag-app advise --measure``: decide on measured numbers, not rules of thumb.

One run, on the user's QA set and corpus, the same questions for every setup:

1. index the corpus (the time a fresh build takes is RAG's setup time);
2. measure ``rag`` (the configured backend with retrieval);
3. with ``train``: fine-tune the base model on the facts of the questions
   (:mod:`rag_app.tuning.knowledge`, within a time budget) — else use ``model``;
4. measure ``finetune`` (``hf:DIR``, no retrieval), ``hybrid`` (``hf:DIR`` with
   retrieval) and any extra configurations;
5. with ``dynamic`` each setup is measured through :func:`rag_app.measure.dynamic.run_dynamic`:
   asked on a copy of the corpus (its answers before the change are the static
   accuracy), then facts are changed and files deleted, the copy is reindexed
   incrementally and the questions asked again, without retraining. With
   ``retrain`` the model is then trained again on the changed facts and timed.

Ctrl-C stops after the current question; what was measured so far is kept
(:attr:`Measurement.interrupted` says where it stopped). The setups and the
measurement are :mod:`rag_app.tuning.advise_setups`, progress
:mod:`rag_app.tuning.advise_progress`, the verdict :mod:`rag_app.tuning.advise_decision`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from rag_app.errors import ConfigError, RagError
from rag_app.measure import metrics
from rag_app.measure.eval_config import EvalConfig, parse_config
from rag_app.measure.eval_table import summarize
from rag_app.measure.qa_sets import QAItem, load_qa, select
from rag_app.settings import Settings
from rag_app.tuning.advise_progress import Log, Meter, MeteredEvaluator, StepTimer
from rag_app.tuning.advise_setups import Measurement, Setup, default_setups


def measure(
    qa: Path,
    corpus: Path,
    setups: Sequence[Setup] | None = None,
    *,
    model: str | None = None,
    train: bool = False,
    train_minutes: float = 3.0,
    train_on: Sequence[str] = ("qa",),
    lora: bool = False,
    base: str = "smollm2",
    train_output: Path | None = None,
    retrain: bool = False,
    extra: Sequence[str] = (),
    sample: int | None = 30,
    seed: int = 0,
    dynamic: bool = False,
    settings: Settings | None = None,
    eval_dir: Path | None = None,
    log: Log | None = None,
) -> Measurement:
    """Measure every setup on the same questions; see the module docstring for the steps."""
    log = log or (lambda _line: None)
    settings = settings or Settings.load()
    if retrain and not (train and dynamic):
        raise ConfigError("--retrain needs --train and --dynamic (it retrains on the changed facts)")
    if setups is None and not train and not (model and Path(model).is_dir()):
        raise ConfigError(f"Model directory {model or './fine-tuned-model'} not found: "
                          "pass --train to fine-tune one, or --model DIR")
    items = select(load_qa(qa), sample=sample, seed=seed)
    evaluator = MeteredEvaluator(settings, corpus, eval_dir=eval_dir, progress=log)
    model_dir = str(train_output or evaluator.eval_dir / "knowledge-model") if train else str(model or "")
    setups = list(setups or default_setups(model_dir, settings.llm, extra))
    m = Measurement(questions=len(items), dynamic=dynamic, setups=setups,
                    settings={"llm": settings.llm, "embeddings": settings.embeddings, "k": settings.k,
                              "local_cost_per_hour": settings.local_cost_per_hour,
                              "gpu_cost_per_hour": settings.gpu_cost_per_hour}, eval_dir=evaluator.eval_dir)
    steps = StepTimer(m, log)
    configs = {s.name: parse_config(s.config) for s in setups}
    try:
        steps.run("index", lambda: _index(evaluator, configs[setups[0].name], dynamic, m))
        for setup in setups:
            if setup.kind in ("finetune", "hybrid") and train and m.training is None:
                m.training = steps.run("train", lambda: _train(items, Path(model_dir), settings, train_minutes,
                                                               lora, base, seed, log, train_on))
            if setup.kind in ("finetune", "hybrid") and m.training is None:
                m.training = _card_training(Path(model_dir))
            steps.run(f"measure {setup.name}", lambda: _measure_setup(evaluator, setup, configs[setup.name], items,
                                                                     dynamic, seed, m))
        if retrain and "finetune" in m.summaries and m.change is not None:
            m.retraining = steps.run("retrain", lambda: _retrain(evaluator, items, m, Path(model_dir), settings,
                                                                 train_minutes, lora, base, seed, log, train_on))
    except (KeyboardInterrupt, _Interrupted) as exc:
        done = ", ".join(m.summaries) or "nothing"
        m.interrupted = f"interrupted during {m.steps[-1]['step'] if m.steps else 'start-up'}: measured {done}"
        if str(exc):
            m.interrupted += f" ({exc})"
        log(m.interrupted)
    finally:
        evaluator.close()
    return m


class _Interrupted(Exception):
    """Training was stopped with Ctrl-C (its checkpoint is kept)."""


def _index(evaluator: MeteredEvaluator, config: EvalConfig, dynamic: bool, m: Measurement) -> None:
    meters: list[Meter] = []

    def embedded(done: int, total: int) -> None:
        if not meters:
            meters.append(Meter("embedding", total, evaluator.progress, unit="chunks"))
        meters[0].tick(done)

    evaluator.reindex_progress = embedded
    try:
        if dynamic:
            from rag_app.measure.dynamic import sync_copy

            work = evaluator.eval_dir / "dynamic" / "corpus"
            sync_copy(evaluator.corpus, work)  # the copy may hold last run's changes
            evaluator.app(config, corpus=work.resolve(), suffix="-dyn")
        else:
            evaluator.app(config)
    finally:
        evaluator.reindex_progress = None
        for meter in meters:
            meter.close()
    built = evaluator.built
    m.index = {"setup_s": built["seconds"] if built else None, "chunks": built["chunks"] if built else None,
               "built": built["built"] if built else None}


def _train(items: Sequence[QAItem], output: Path, settings: Settings, minutes: float, lora: bool, base: str,
           seed: int, log: Log, kinds: Sequence[str]) -> dict[str, Any]:
    from rag_app.tuning.finetune import FinetuneInterrupted
    from rag_app.tuning.knowledge import train_knowledge

    try:
        return train_knowledge(items, output, settings, minutes=minutes, lora=lora, base=base, kinds=kinds, seed=seed,
                               log=log).to_dict()
    except FinetuneInterrupted as exc:
        raise _Interrupted(str(exc)) from None


def _card_training(model_dir: Path) -> dict[str, Any]:
    """What a model directory's card says about its training (``--model`` without ``--train``)."""
    from chains.hf_format import read_card

    card = read_card(model_dir)
    known = card.get("knowledge") or {}
    return {"model_dir": str(model_dir), "seconds": known.get("seconds", card.get("train_seconds")),
            "cost": known.get("cost"), "device": known.get("device"), "from_card": True}


def _measure_setup(evaluator: MeteredEvaluator, setup: Setup, config: EvalConfig, items: Sequence[QAItem],
                   dynamic: bool, seed: int, m: Measurement) -> None:
    if config.skipped:
        m.summaries[setup.name] = {"skipped": config.skipped}
        return
    # with a change: every question before it, then about 45% again (30% changed facts, deleted files)
    expected = len(items) + (round(0.45 * len(items)) if dynamic else 0)
    evaluator.meter = Meter(setup.name, expected, evaluator.progress)
    try:
        if not dynamic:
            rows = evaluator.run(items, config)
            m.summaries[setup.name] = {**summarize(rows, config), "rows": rows}
            return
        from rag_app.measure.dynamic import run_dynamic

        change, rows = run_dynamic(evaluator, items, config, seed=seed, only_changed=True)
    except RagError as exc:
        m.summaries[setup.name] = {"skipped": str(exc)}
        return
    finally:
        evaluator.meter.close()
        evaluator.meter = None
    before = [r for r in rows if r["phase"] == "before"]
    edited_before = [float(bool(r.get("correct"))) for r in before if r["change"] == "edited"]
    summary = summarize(before, config)
    summary.update(
        rows=rows,
        accuracy_changed_before=metrics.mean(edited_before),
        accuracy_after_change=change["accuracy_new_facts_after"],
        accuracy_unchanged_after=change["accuracy_unchanged_after"],
        staleness_rate=change["staleness_rate"],
        reindex_s=change["reindex"]["duration_s"],
    )
    m.summaries[setup.name] = summary
    if m.change is None:
        m.change = {k: change[k] for k in ("edited_facts", "edited_files", "deleted_files", "deleted_questions", "reindex",
                                           "note") if k in change}


def _retrain(evaluator: MeteredEvaluator, items: Sequence[QAItem], m: Measurement, model_dir: Path,
             settings: Settings, minutes: float, lora: bool, base: str, seed: int, log: Log, kinds: Sequence[str]) -> dict[str, Any]:
    """Train again on the changed facts (deleted documents' questions dropped) and ask the changed questions."""
    from dataclasses import replace

    after = {r["id"]: r for r in m.summaries["finetune"]["rows"] if r["phase"] == "after"}
    new_items = []
    for item in items:
        row = after.get(item.id) or {"change": "none"}  # unchanged questions are not asked after the change
        if row["change"] == "deleted":
            continue
        if row["change"] == "edited":
            item = replace(item, answer=row["reference"], meta={"all_answers": [row["reference"]]},
                           contexts=[c.replace(str(row["old_answer"]), str(row["reference"])) for c in item.contexts])
        new_items.append(item)
    output = model_dir.parent / (model_dir.name + "-retrained")
    run = _train(new_items, output, settings, minutes, lora, base, seed, log, kinds)
    config = parse_config(f"llm=hf:{output},retrieval=false")
    app = evaluator.app(config)
    edited = [it for it in new_items if it.id in after and after[it.id]["change"] == "edited"]
    evaluator.meter = Meter("retrained", len(edited), evaluator.progress)
    try:
        rows = [evaluator.ask(app, config, it) for it in edited]
    finally:
        evaluator.meter.close()
        evaluator.meter = None
    return {**run, "accuracy_after_retrain": metrics.mean(float(bool(r.get("correct"))) for r in rows),
            "questions": len(rows)}

