"""``rag-app advise --measure``: decide on measured numbers, not rules of thumb.

One run, on the user's QA set and corpus, the same questions for every setup:

1. index the corpus (the time a fresh build takes is RAG's setup time);
2. measure ``rag`` (the configured backend with retrieval);
3. with ``train``: split the questions into trained and asked ones by the
   document they are about (:mod:`rag_app.tuning.advise_split`) and fine-tune the
   base model once per ``train_on`` variant (``qa`` pairs, ``docs`` text;
   :mod:`rag_app.tuning.knowledge`, within a time budget each) — else use ``model``;
4. measure ``finetune`` (``hf:DIR``, no retrieval; ``finetune:<variant>`` each),
   ``hybrid`` (``hf:DIR`` with retrieval) and any extra configurations, all on the
   same unseen questions, the trained ones asked again as a recall check;
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
from rag_app.tuning.advise_setups import Measurement, Setup, answer_tokens, default_setups
from rag_app.tuning.advise_split import Split, split_questions

#: With ``--dynamic``, at least this many facts are edited (when they can be located).
MIN_EDITS = 3


def measure(
    qa: Path,
    corpus: Path,
    setups: Sequence[Setup] | None = None,
    *,
    model: str | None = None,
    train: bool = False,
    train_minutes: float = 2.0,
    train_on: str | Sequence[str] = "qa",
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
    variants = train_variants(train_on) if train else {}
    evaluator = MeteredEvaluator(settings, corpus, eval_dir=eval_dir, progress=log)
    split: Split | None = None
    if train:
        split = _split(load_qa(qa), evaluator.corpus, sample, seed)
        items = split.unseen
        log(f"questions: {len(split.unseen)} asked ({split.about_seen_docs} about trained documents), "
            f"{len(split.train)} trained, {len(split.seen)} of them asked again" + (f"; {split.note}" if split.note else ""))
    else:
        items = select(load_qa(qa), sample=sample, seed=seed)
    model_dir = str(train_output or evaluator.eval_dir / "knowledge-model") if train else str(model or "")
    dirs = {v: model_dir if len(variants) == 1 else f"{model_dir}-{v}" for v in variants}
    budgets = _budgets(settings, items, train, base, train_minutes, split)
    if setups is None:
        setups = default_setups(model_dir, budgets["rag_llm"], extra, dirs or None, budgets["max_new_tokens"])
    setups = list(setups)
    m = Measurement(questions=len(items), dynamic=dynamic, setups=setups,
                    settings={"llm": settings.llm, "embeddings": settings.embeddings, "k": settings.k,
                              "local_cost_per_hour": settings.local_cost_per_hour,
                              "gpu_cost_per_hour": settings.gpu_cost_per_hour}, eval_dir=evaluator.eval_dir)
    m.split = split.to_dict() if split else None
    m.budgets = budgets
    m.training = {}
    steps = StepTimer(m, log)
    configs = {s.name: parse_config(s.config) for s in setups}
    try:
        steps.run("index", lambda: _index(evaluator, configs[setups[0].name], dynamic, m))
        for setup in setups:
            variant = setup.variant or "model"
            if setup.kind in ("finetune", "hybrid") and variant in variants and variant not in m.training:
                assert split is not None
                m.training[variant] = steps.run(
                    "train" if len(variants) == 1 else f"train {variant}",
                    lambda: _train(split, Path(dirs[variant]), settings, train_minutes, lora, base, seed, log,
                                   variants[variant]))
            if setup.kind in ("finetune", "hybrid") and variant not in m.training:
                m.training[variant] = _card_training(Path(dict(dirs).get(variant, model_dir)))
            seen = split.seen if split and setup.kind in ("finetune", "hybrid") else []
            steps.run(f"measure {setup.name}", lambda: _measure_setup(evaluator, setup, configs[setup.name], items,
                                                                     dynamic, seed, m, seen))
        first = next((s for s in setups if s.kind == "finetune" and s.name in m.summaries), None)
        if retrain and first is not None and m.change is not None and split is not None:
            m.retraining = steps.run("retrain", lambda: _retrain(evaluator, split, m, first, Path(dirs[first.variant or ""]),
                                                                 settings, train_minutes, lora, base, seed, log,
                                                                 variants[first.variant or ""]))
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


def _budgets(settings: Settings, items: Sequence[QAItem], train: bool, base: str, train_minutes: float,
             split: Split | None) -> dict[str, Any]:
    """What the run may spend (``meta.budgets``): answer tokens, training minutes, threads, the rag model.

    With ``--train`` on the offline base, ``rag`` runs the same weights as the ``local`` default
    (SmolLM2-135M-Instruct, from the same GGUF) through transformers like the fine-tuned rows, so the
    rows differ only in retrieval versus training (and it is 3-4x faster here than llama.cpp's prompt reading).
    """
    from rag_app.tuning.knowledge import device

    same_model = train and settings.llm == "local" and base == "smollm2"
    return {
        "max_new_tokens": answer_tokens([it.answer or "" for it in items], settings.max_tokens),
        "decoding": "greedy, stops at the end of turn",
        "unsupported": "flag: every row is scored on what its model wrote (no extractive quotes in its place)",
        "train_minutes_per_model": train_minutes if train else None,
        "recall_checked": len(split.seen) if split else 0,
        "threads": settings.threads or "all cores (RAG_THREADS=0)",
        "rag_llm": "hf" if same_model else settings.llm,
        "rag_llm_note": "the local default's weights (SmolLM2-135M-Instruct) run by transformers, as the fine-tuned "
                        "rows are" if same_model else "the configured backend (RAG_LLM)",
        "device": device() if train else None,
    }


#: ``--train-on`` value -> {variant: example kinds}; each variant is its own model and row.
TRAIN_ON = {"qa": {"qa": ("qa",)}, "docs": {"docs": ("docs",)}, "both": {"qa": ("qa",), "docs": ("docs",)},
            "qa+grounded": {"qa+grounded": ("qa", "grounded")}}


def train_variants(train_on: str | Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The models ``--train-on`` asks for: ``both`` is ``qa`` and ``docs``, two models."""
    key = train_on if isinstance(train_on, str) else "+".join(train_on)
    if key not in TRAIN_ON:
        raise ConfigError(f"--train-on must be one of {', '.join(TRAIN_ON)}, got {key!r}")
    return TRAIN_ON[key]


def _split(items: list[QAItem], corpus: Path, sample: int | None, seed: int) -> Split:
    """Seen/unseen questions; reference sentences and passages looked up in the corpus when the set has none."""
    from rag_app.measure.facts import locate

    files: dict[str, str] = {}

    def load() -> dict[str, str]:
        if not files:
            for path in sorted(p for p in corpus.rglob("*") if p.is_file()):
                files[path.relative_to(corpus).as_posix()] = path.read_text(encoding="utf-8", errors="replace")
        return files

    def passage(item: QAItem) -> str | None:
        if item.contexts:
            return item.contexts[0]
        loc = locate(item.answer or "", (), item.sources, load())
        return None if loc is None else load()[loc.file][loc.start:loc.end]

    seen_n = max(4, (sample or len(items)) // 4)  # a recall check only: never the verdict
    return split_questions(items, sample, seed, seen_n=seen_n, find=passage, passage=passage)


def _train(split: Split, output: Path, settings: Settings, minutes: float, lora: bool, base: str,
           seed: int, log: Log, kinds: Sequence[str]) -> dict[str, Any]:
    from rag_app.tuning.finetune import FinetuneInterrupted
    from rag_app.tuning.knowledge import train_knowledge

    try:
        return train_knowledge(split.train, output, settings, minutes=minutes, lora=lora, base=base, kinds=kinds,
                               passages=[text for _, text in split.passages], seed=seed, log=log).to_dict()
    except FinetuneInterrupted as exc:  # advise has no --resume: drop finetune's hint
        raise _Interrupted(str(exc).split(": run the same command")[0]) from None


def _card_training(model_dir: Path) -> dict[str, Any]:
    """What a model directory's card says about its training (``--model`` without ``--train``)."""
    from chains.hf_format import read_card

    card = read_card(model_dir)
    known = card.get("knowledge") or {}
    return {"model_dir": str(model_dir), "seconds": known.get("seconds", card.get("train_seconds")),
            "cost": known.get("cost"), "device": known.get("device"), "from_card": True}


def _measure_setup(evaluator: MeteredEvaluator, setup: Setup, config: EvalConfig, items: Sequence[QAItem],
                   dynamic: bool, seed: int, m: Measurement, seen: Sequence[QAItem] = ()) -> None:
    if config.skipped:
        m.summaries[setup.name] = {"skipped": config.skipped}
        return
    # with a change: every question before it, then the changed ones again (edited or source deleted),
    # counted from the shared plan once it is made, estimated before that
    from rag_app.measure.dynamic import asked_after

    after = (asked_after(m.plans[0], items) if m.plans else max(MIN_EDITS, round(0.4 * len(items)))) if dynamic else 0
    expected = len(items) + len(seen) + after
    evaluator.meter = Meter(setup.name, expected, evaluator.progress)
    try:
        if not dynamic:
            rows = evaluator.run(list(items) + list(seen), config)
            for row in rows[len(items):]:
                row.update(phase="seen")
            m.summaries[setup.name] = {**summarize(rows[:len(items)], config), "rows": rows,
                                       "accuracy_seen": _accuracy(rows[len(items):]),
                                       "answers_at_cap": _at_cap(rows, config)}
            return
        from rag_app.measure.dynamic import run_dynamic

        change, rows = run_dynamic(evaluator, items, config, seed=seed, only_changed=True, min_edits=MIN_EDITS,
                                   plans=m.plans, also_before=seen)
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
        accuracy_seen=_accuracy([r for r in rows if r["phase"] == "seen"]),
        # before -> after on the edited fact itself (for a long reference, the word edited inside it)
        accuracy_changed_before=change.get("accuracy_old_facts_before", metrics.mean(edited_before)),
        accuracy_after_change=change["accuracy_new_facts_after"],
        accuracy_unchanged_after=change["accuracy_unchanged_after"],
        staleness_rate=change["staleness_rate"],
        reindex_s=change["reindex"]["duration_s"],
    )
    summary["answers_at_cap"] = _at_cap(rows, config)
    m.summaries[setup.name] = summary
    if m.change is None:
        m.change = {k: change[k] for k in ("edited_files", "deleted_files", "deleted_questions", "reindex", "note")
                    if k in change}
        m.change.update(edited_facts=change["edits"], edited_count=change["edited_facts"],
                        min_edits=MIN_EDITS, after_change_measured=change["edited_facts"] >= MIN_EDITS)


def _at_cap(rows: Sequence[dict[str, Any]], config: EvalConfig) -> float | None:
    """Share of the answers that used every token of the cap (cut, or rambling on): a cap that cuts
    typical answers would score the cap, not the model."""
    cap = config.settings.get("max_tokens")
    used = [(r.get("usage") or {}).get("completion_tokens") for r in rows]
    used = [u for u in used if isinstance(u, int)]
    return metrics.mean(float(u >= cap) for u in used) if cap and used else None


def _accuracy(rows: Sequence[dict[str, Any]]) -> float | None:
    return metrics.mean(float(bool(r["correct"])) for r in rows if r.get("correct") is not None) if rows else None


def _retrain(evaluator: MeteredEvaluator, split: Split, m: Measurement, setup: Setup, model_dir: Path,
             settings: Settings, minutes: float, lora: bool, base: str, seed: int, log: Log,
             kinds: Sequence[str]) -> dict[str, Any]:
    """Train ``setup``'s variant again on the changed corpus (its passages and pairs with the new values) and
    ask the changed questions."""
    from dataclasses import replace

    from rag_app.measure.facts import find_all

    edits = (m.change or {}).get("edited_facts") or []
    deleted = set((m.change or {}).get("deleted_files") or [])

    def changed(text: str) -> str:
        for edit in edits:
            for s, e in reversed(find_all(edit["old"], text)):
                text = text[:s] + edit["new"] + text[e:]
        return text

    def kept(doc: str) -> bool:
        return not any(doc == f or doc.rsplit("/", 1)[-1] == f.rsplit("/", 1)[-1] for f in deleted)

    from rag_app.tuning.advise_split import document_of

    train = [replace(t, answer=changed(t.answer or "")) for t in split.train if kept(document_of(t))]
    passages = [(doc, changed(text)) for doc, text in split.passages if kept(doc)]
    new_split = replace(split, train=train, passages=passages)
    output = model_dir.parent / (model_dir.name + "-retrained")
    run = _train(new_split, output, settings, minutes, lora, base, seed, log, kinds)
    config = parse_config(f"llm=hf:{output},retrieval=false")
    app = evaluator.app(config)
    after = {r["id"]: r for r in m.summaries[setup.name]["rows"] if r["phase"] == "after" and r["change"] == "edited"}
    edited = [replace(it, answer=after[it.id]["reference"], meta={"all_answers": [after[it.id]["reference"]]})
              for it in split.unseen if it.id in after]
    evaluator.meter = Meter("retrained", len(edited), evaluator.progress)
    try:
        rows = [evaluator.ask(app, config, it) for it in edited]
    finally:
        evaluator.meter.close()
        evaluator.meter = None
    return {**run, "variant": setup.variant, "accuracy_after_retrain": _accuracy(rows), "questions": len(rows)}
