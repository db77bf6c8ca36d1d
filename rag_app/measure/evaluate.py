"""``rag-app eval``: how well retrieval and answers do on a QA set over a corpus.

A QA set is JSONL or CSV (:mod:`rag_app.measure.qa_sets`). The corpus is indexed
into the evaluation's own persist directory, one collection per chunking and
embedding model, through :meth:`RagApp.reindex`, so a second run only re-reads
changed files.

Per configuration (``llm=extractive,k=4``; ``chunk_size=300``; any setting or
``RagApp.query`` argument) every question is asked once and scored:

- retrieval: a retrieved chunk is *relevant* when it comes from a gold source
  file and, where the set gives reference passages, overlaps one of them
  (:func:`rag_app.measure.metrics.passage_overlap` ≥ 0.3). Hit rate@k, MRR and nDCG@k
  (the ideal ranking counts every relevant chunk in the collection);
- answers: short references (≤ 12 tokens) get SQuAD exact match, token F1 and
  containment (the reference appears in the answer); long ones get key-token
  recall and precision. A question is *correct* when EM or containment holds
  (short), or (long) at least 60% of the answer's key tokens come from the
  reference and it shares at least 3 with it: a weak proxy, since a long
  reference cannot be matched by a two-sentence answer; ``--judge`` does better;
- latency per stage, tokens and cost per query (:mod:`rag_app.measure.usage`);
- optionally an LLM judge (correctness and faithfulness, yes/no: :mod:`rag_app.measure.judge`).

Scoring is :mod:`rag_app.measure.scoring`, the table :mod:`rag_app.measure.eval_table`.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from rag_app.errors import ConfigError, RagError
from rag_app.measure import metrics
from rag_app.measure.eval_config import EvalConfig
from rag_app.measure.eval_table import summarize
from rag_app.measure.judge import judge
from rag_app.measure.qa_sets import QAItem
from rag_app.measure.scoring import relevance, score_answer, support_fields
from rag_app.settings import Settings

if TYPE_CHECKING:
    from rag_app.app import RagApp

Progress = Callable[[str], None]


def default_eval_dir(corpus: Path) -> Path:
    """``.rag-eval/<corpus name>-<hash of its path>``: one evaluation index per corpus."""
    resolved = corpus.expanduser().resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    return Path(".rag-eval") / f"{resolved.name}-{digest}"


def collection_name(settings: Settings) -> str:
    raw = f"eval-{settings.embeddings}-{settings.chunk_size}-{settings.chunk_overlap}"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", raw)[:60].strip("._-")
    return name + "-" + hashlib.sha1(raw.encode()).hexdigest()[:6]


class Evaluator:
    """Indexes the corpus once per chunking/embedding setup and asks the questions."""

    def __init__(
        self,
        base: Settings,
        corpus: Path,
        eval_dir: Path | None = None,
        judge_spec: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        if not corpus.is_dir():
            raise ConfigError(f"Corpus {corpus} is not a directory: pass --corpus DIR")
        self.corpus = corpus.expanduser().resolve()
        self.eval_dir = eval_dir or default_eval_dir(corpus)
        self.base = base.with_overrides(persist_dir=str(self.eval_dir), ledger=False)
        self.judge_spec = judge_spec
        self.progress = progress or (lambda _msg: None)
        self._apps: dict[str, "RagApp"] = {}
        #: ``(done, total)`` callback for the chunks embedded while indexing (``RagApp.reindex``'s ``progress``).
        self.reindex_progress: Callable[[int, int], None] | None = None
        self.index_reports: dict[str, dict[str, Any]] = {}
        self._relevant_totals: dict[tuple[str, str, str], int] = {}

    def app(self, config: EvalConfig, corpus: Path | None = None, suffix: str = "") -> "RagApp":
        """The app for ``config``'s index settings, reindexed (incrementally) on first use."""
        from rag_app.app import RagApp

        settings = self.base.with_overrides(**config.settings)
        collection = collection_name(settings) + suffix
        settings = settings.with_overrides(collection=collection)
        key = json.dumps([sorted(config.settings.items()), collection], default=str)
        if key not in self._apps:
            app = RagApp(settings)
            self.progress(f"indexing {corpus or self.corpus} into {collection} ...")
            report = app.reindex([corpus or self.corpus], progress=self.reindex_progress)
            self.index_reports[collection] = report.to_dict()
            self.progress(
                f"  {report.chunks} chunks ({report.added + report.updated} embedded, {report.unchanged} unchanged) "
                f"in {report.duration_s:.1f} s"
            )
            self._apps[key] = app
        return self._apps[key]

    def reindex(self, app: "RagApp", corpus: Path) -> dict[str, Any]:
        report = app.reindex([corpus]).to_dict()
        self._relevant_totals.clear()  # chunk boundaries may have moved
        self.index_reports[app.settings.collection] = report
        return report

    def close(self) -> None:
        for app in self._apps.values():
            app.close()
        self._apps.clear()

    def _total_relevant(self, app: "RagApp", item: QAItem, corpus: Path) -> int | None:
        """How many chunks in the collection are relevant to ``item`` (the nDCG ideal)."""
        if not item.sources:
            return None
        total = 0
        for source in item.sources:
            key = (app.settings.collection, str(corpus / source), "\x00".join(item.contexts))
            if key not in self._relevant_totals:
                got = app.vector_index().collection().get(where={"source": key[1]}, include=["documents"])
                docs = got["documents"] or []
                if item.contexts:
                    count = sum(
                        1 for d in docs
                        if max(metrics.passage_overlap(d or "", c) for c in item.contexts) >= metrics.OVERLAP_THRESHOLD
                    )
                else:
                    count = len(docs)
                self._relevant_totals[key] = count
            total += self._relevant_totals[key]
        return total

    def ask(self, app: "RagApp", config: EvalConfig, item: QAItem, corpus: Path | None = None) -> dict[str, Any]:
        """Ask one question; the per-question result row."""
        k = int(config.query.get("k") or app.settings.k)
        row: dict[str, Any] = {"config": config.label, "id": item.id, "question": item.question, "reference": item.answer}
        try:
            answer = app.query(item.question, **config.query)
        except RagError as exc:
            row.update(error=str(exc), correct=False if item.references else None, failure="error")
            return row
        retrieved = relevance(item, answer.documents)
        flags = [r["relevant"] for r in retrieved]
        row["answer"] = answer.answer
        row.update(score_answer(answer.answer, item))
        row.update(support_fields(answer, item, row.get("correct")))
        if item.sources or item.contexts:
            total = self._total_relevant(app, item, corpus or self.corpus)
            row.update(
                hit=metrics.hit_at_k(flags, k),
                source_hit=float(any(r["gold_source"] for r in retrieved)) if item.sources else None,
                rr=metrics.reciprocal_rank(flags, k),
                ndcg=round(metrics.ndcg_at_k(flags, k, max(total or 0, sum(flags)) if total is not None else None), 4),
            )
        row["retrieved"] = retrieved
        row["timings_ms"] = {key: round(v, 2) for key, v in answer.timings_ms.items()}
        row["usage"] = answer.usage
        row["llm"] = answer.llm
        if self.judge_spec:
            try:
                row.update(judge(app.llm(self.judge_spec), item, answer))
            except RagError as exc:
                row["judge_error"] = str(exc)
        if row.get("correct") is False:
            row["failure"] = "retrieval" if row.get("hit") == 0.0 else "answer"
        return row

    def run(self, items: Sequence[QAItem], config: EvalConfig) -> list[dict[str, Any]]:
        app = self.app(config)
        rows = []
        started = time.perf_counter()
        for number, item in enumerate(items, 1):
            rows.append(self.ask(app, config, item))
            if number % 25 == 0 or number == len(items):
                self.progress(f"  [{config.label}] {number}/{len(items)} questions, {time.perf_counter() - started:.0f} s")
        return rows


def evaluate(
    evaluator: Evaluator,
    items: Sequence[QAItem],
    configs: Sequence[EvalConfig],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run every config on the same questions: (summaries, per-question rows)."""
    summaries, rows = [], []
    for config in configs:
        if config.skipped:
            evaluator.progress(f"skipping {config.label}: {config.skipped}")
            summaries.append({"config": config.label, "skipped": config.skipped})
            continue
        got = evaluator.run(items, config)
        rows.extend(got)
        summary = summarize(got, config)
        report = evaluator.index_reports.get(evaluator.app(config).settings.collection, {})
        summary["index"] = {k: report[k] for k in ("chunks", "added", "updated", "deleted", "unchanged", "embedded", "duration_s") if k in report}
        summaries.append(summary)
    return summaries, rows


def stderr_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
