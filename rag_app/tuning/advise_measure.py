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
(:attr:`Measurement.interrupted` says where it stopped).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from rag_app.measure import metrics
from rag_app.settings import Settings
from rag_app.errors import ConfigError, RagError
from rag_app.measure.evaluate import EvalConfig, Evaluator, QAItem

if TYPE_CHECKING:
    from rag_app.app import RagApp

#: Accuracy differences smaller than this are a tie, settled by latency.
TIE = 0.02
DAYS_PER_MONTH = 30
INDEX_RECORD = "advise-index.json"

Log = Callable[[str], None]


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


# --- progress --------------------------------------------------------------------------------


class _Meter:
    """Questions done out of ``total`` with an ETA: a tqdm bar on a terminal, a line every ~10% in a log."""

    def __init__(self, label: str, total: int, log: Log, unit: str = "questions") -> None:
        self.label, self.total, self.log, self.unit = label, total, log, unit
        self.done = 0
        self.started = time.perf_counter()
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=label, unit=unit, file=sys.stderr, leave=False)

    def tick(self, done: int | None = None) -> None:
        """One more done (or ``done`` in all)."""
        before, self.done = self.done, self.done + 1 if done is None else done
        if self.done > self.total:  # the total was an estimate
            self.total = self.done
            if self.bar is not None:
                self.bar.total = self.total
        if self.bar is not None:
            self.bar.update(self.done - before)
            return
        step = max(1, self.total // 10)
        if self.done == self.total or self.done // step > before // step:
            elapsed = time.perf_counter() - self.started
            eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
            self.log(f"  [{self.label}] {self.done}/{self.total} {self.unit}, {elapsed:.0f} s, ETA {eta:.0f} s")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Evaluator(Evaluator):
    """The evaluation harness, plus a progress meter per question and the time of a fresh index build."""

    meter: _Meter | None = None

    def ask(self, app: "RagApp", config: EvalConfig, item: QAItem, corpus: Path | None = None) -> dict[str, Any]:
        row = super().ask(app, config, item, corpus)
        if self.meter is not None:
            self.meter.tick()
        return row

    def app(self, config: EvalConfig, corpus: Path | None = None, suffix: str = "") -> "RagApp":
        app = super().app(config, corpus, suffix)
        collection = app.settings.collection
        record_file = self.eval_dir / INDEX_RECORD
        records = json.loads(record_file.read_text(encoding="utf-8")) if record_file.is_file() else {}
        report = self.index_reports.get(collection, {})
        if report.get("chunks") and report.get("added") == report.get("chunks") and collection not in records:
            records[collection] = {"seconds": report["duration_s"], "chunks": report["chunks"],
                                   "built": time.strftime("%Y-%m-%dT%H:%M:%S")}
            record_file.parent.mkdir(parents=True, exist_ok=True)
            record_file.write_text(json.dumps(records, indent=2), encoding="utf-8")
        self.built = records.get(collection)
        return app


class _Steps:
    """Times the named steps of a run."""

    def __init__(self, measurement: Measurement, log: Log) -> None:
        self.m, self.log = measurement, log

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        self.log(f"== {name}")
        try:
            return fn()
        finally:
            seconds = time.perf_counter() - started
            self.m.steps.append({"step": name, "seconds": round(seconds, 1)})
            self.log(f"   {name}: {seconds:.0f} s")


# --- measuring ----------------------------------------------------------------------------------


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
    from rag_app.measure.evaluate import load_qa, parse_config, select

    log = log or (lambda _line: None)
    settings = settings or Settings.load()
    if retrain and not (train and dynamic):
        raise ConfigError("--retrain needs --train and --dynamic (it retrains on the changed facts)")
    if setups is None and not train and not (model and Path(model).is_dir()):
        raise ConfigError(f"Model directory {model or './fine-tuned-model'} not found: "
                          "pass --train to fine-tune one, or --model DIR")
    items = select(load_qa(qa), sample=sample, seed=seed)
    evaluator = _Evaluator(settings, corpus, eval_dir=eval_dir, progress=log)
    model_dir = str(train_output or evaluator.eval_dir / "knowledge-model") if train else str(model or "")
    setups = list(setups or default_setups(model_dir, settings.llm, extra))
    m = Measurement(questions=len(items), dynamic=dynamic, setups=setups,
                    settings={"llm": settings.llm, "embeddings": settings.embeddings, "k": settings.k,
                              "local_cost_per_hour": settings.local_cost_per_hour,
                              "gpu_cost_per_hour": settings.gpu_cost_per_hour}, eval_dir=evaluator.eval_dir)
    steps = _Steps(m, log)
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


def _index(evaluator: _Evaluator, config: EvalConfig, dynamic: bool, m: Measurement) -> None:
    meters: list[_Meter] = []

    def embedded(done: int, total: int) -> None:
        if not meters:
            meters.append(_Meter("embedding", total, evaluator.progress, unit="chunks"))
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
    built = getattr(evaluator, "built", None)
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


def _measure_setup(evaluator: _Evaluator, setup: Setup, config: EvalConfig, items: Sequence[QAItem],
                   dynamic: bool, seed: int, m: Measurement) -> None:
    from rag_app.measure.evaluate import summarize

    if config.skipped:
        m.summaries[setup.name] = {"skipped": config.skipped}
        return
    # with a change: every question before it, then about 45% again (30% changed facts, deleted files)
    expected = len(items) + (round(0.45 * len(items)) if dynamic else 0)
    evaluator.meter = _Meter(setup.name, expected, evaluator.progress)
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
    after = [r for r in rows if r["phase"] == "after"]
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


def _retrain(evaluator: _Evaluator, items: Sequence[QAItem], m: Measurement, model_dir: Path, settings: Settings,
             minutes: float, lora: bool, base: str, seed: int, log: Log, kinds: Sequence[str]) -> dict[str, Any]:
    """Train again on the changed facts (deleted documents' questions dropped) and ask the changed questions."""
    from dataclasses import replace

    from rag_app.measure.evaluate import parse_config

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
    evaluator.meter = _Meter("retrained", len(edited), evaluator.progress)
    try:
        rows = [evaluator.ask(app, config, it) for it in edited]
    finally:
        evaluator.meter.close()
        evaluator.meter = None
    return {**run, "accuracy_after_retrain": metrics.mean(float(bool(r.get("correct"))) for r in rows),
            "questions": len(rows)}


# --- the table ----------------------------------------------------------------------------------


def rows(m: Measurement, queries_per_day: float = 1000.0) -> list[dict[str, Any]]:
    """One row per measured setup, the fields of ``advise --measure --json``."""
    out = []
    index_s = m.index.get("setup_s")
    local_rate = float(m.settings.get("local_cost_per_hour") or 0.0)
    train = m.training or {}
    train_s, train_cost = train.get("seconds"), train.get("cost")
    for setup in m.setups:
        s = m.summaries.get(setup.name)
        if s is None:
            continue
        row: dict[str, Any] = {"setup": setup.name, "config": setup.config, "kind": setup.kind}
        if s.get("skipped"):
            out.append({**row, "skipped": s["skipped"]})
            continue
        uses_model = setup.kind in ("finetune", "hybrid")
        generate = [r["timings_ms"]["generate"] for r in s["rows"] if "timings_ms" in r and r.get("phase", "before") == "before"]
        cost = s.get("cost_per_query")
        if cost is None and str(s.get("llm") or "").startswith("hf:") and generate:
            cost = local_rate * (sum(generate) / len(generate)) / 3.6e6  # the model runs here: machine time
        index_cost = None if index_s is None else local_rate * index_s / 3600
        parts_s = ([index_s] if setup.retrieval else []) + ([train_s] if uses_model else [])
        parts_cost = ([index_cost] if setup.retrieval else []) + ([train_cost] if uses_model else [])
        if setup.kind == "finetune":
            update_s = (m.retraining or {}).get("seconds", train_s)
            update = "retrain" if m.retraining else "retrain (estimate: the training time)"
        else:
            update_s = s.get("reindex_s")
            update = "reindex"
        row.update(
            llm=s.get("llm"),
            questions=s.get("questions"),
            accuracy=s.get("accuracy"),
            accuracy_after_change=s.get("accuracy_after_change"),
            accuracy_changed_before=s.get("accuracy_changed_before"),
            accuracy_unchanged_after=s.get("accuracy_unchanged_after"),
            staleness_rate=s.get("staleness_rate"),
            latency_p50_ms=s.get("total_p50_ms"),
            latency_p95_ms=s.get("total_p95_ms"),
            setup_s=None if any(p is None for p in parts_s) else round(sum(parts_s), 1),
            update_s=update_s,
            update=update if (setup.kind == "finetune" or m.dynamic) else None,
            cost_per_query=cost,
            cost_upfront=None if any(p is None for p in parts_cost) else sum(parts_cost),
            cost_per_month=None if cost is None else cost * queries_per_day * DAYS_PER_MONTH,
            attribution=setup.retrieval,
            hit=s.get("hit"),
        )
        if setup.kind == "finetune" and m.retraining:
            row["accuracy_after_retrain"] = m.retraining.get("accuracy_after_retrain")
        out.append(row)
    return out


def decide(rows: Sequence[dict[str, Any]]) -> tuple[str, list[str]]:
    """The best setup and why, from measured rows: accuracy (static and after a change), then latency."""
    usable = [r for r in rows if r.get("accuracy") is not None and not r.get("skipped")]
    if not usable:
        raise ConfigError("No setup could be measured: check the QA file, the corpus and the model directory")

    def quality(row: dict[str, Any]) -> float:
        after = row.get("accuracy_after_change")
        return (row["accuracy"] + after) / 2 if after is not None else row["accuracy"]

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    best_quality = max(quality(r) for r in usable)
    close = [r for r in usable if best_quality - quality(r) <= TIE]
    best = min(close, key=lambda r: r.get("latency_p50_ms") or float("inf"))
    reasons = []
    for row in usable:
        text = f"{row['setup']}: accuracy {pct(row['accuracy'])}"
        if row.get("accuracy_after_change") is not None:
            text += (f"; on the changed facts {pct(row.get('accuracy_changed_before'))} before the change, "
                     f"{pct(row['accuracy_after_change'])} after")
        if row.get("latency_p50_ms") is not None:
            text += f"; p50 {row['latency_p50_ms'] / 1000:.2f} s"
        if row.get("update_s") is not None and row.get("update"):
            text += f"; update by {row['update'].split(' (')[0]} in {row['update_s']:.1f} s"
        reasons.append(text)
    if len(close) > 1:
        reasons.append(f"{', '.join(r['setup'] for r in close)} are within {TIE:.2f} accuracy: the faster one wins")
    else:
        reasons.append(f"{best['setup']} answers best" + (" averaged over static and changed data"
                                                           if best.get("accuracy_after_change") is not None else ""))
    if not best.get("attribution"):
        reasons.append(f"note: {best['setup']} cannot cite sources; a retrieval setup can")
    return best["setup"], reasons
