"""Progress of ``rag-app advise --measure``: a meter per setup, timed steps, and an evaluator that feeds them.

:class:`MeteredEvaluator` also records how long a fresh index build took
(``advise-index.json`` in the eval directory), since a later run reuses the
index and could not measure it again.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from rag_app.measure.evaluate import Evaluator

if TYPE_CHECKING:
    from rag_app.app import RagApp
    from rag_app.measure.eval_config import EvalConfig
    from rag_app.measure.qa_sets import QAItem
    from rag_app.tuning.advise_setups import Measurement

INDEX_RECORD = "advise-index.json"

Log = Callable[[str], None]


class Meter:
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


class MeteredEvaluator(Evaluator):
    """The evaluation harness, plus a progress meter per question and the time of a fresh index build."""

    meter: Meter | None = None
    #: the record of the collection's fresh build (``{"seconds", "chunks", "built"}``), once known
    built: dict[str, Any] | None = None

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


class StepTimer:
    """Times the named steps of a run into ``Measurement.steps``."""

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

