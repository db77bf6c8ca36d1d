"""``rag-app eval``: how well retrieval and answers do on a QA set over a corpus.

A QA set is JSONL (``{"id", "question", "answer" or null, "sources": [file
names], "contexts": [reference passages], "meta": {"all_answers": [...]}}``)
or CSV with ``question`` and ``answer`` columns (optional ``id``, ``sources``
separated by ``;``, ``context``). The corpus is indexed into the evaluation's own
persist directory, one collection per chunking and embedding model, through
:meth:`RagApp.reindex`, so a second run only re-reads changed files.

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
- optionally an LLM judge (correctness and faithfulness, yes/no).
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import io
import json
import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from rag_app.measure import metrics
from rag_app.settings import Settings
from rag_app.errors import ConfigError, RagError

if TYPE_CHECKING:
    from langchain_core.documents import Document

    from rag_app.results import Answer
    from rag_app.app import RagApp

Progress = Callable[[str], None]


# --- the QA set ---------------------------------------------------------------------------

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
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"Cannot read QA file {path}: {exc.strerror}") from None
    items = _load_csv(path, text) if path.suffix.lower() == ".csv" else _load_jsonl(path, text)
    if not items:
        raise ConfigError(f"{path} holds no questions")
    return items


def _load_jsonl(path: Path, text: str) -> list[QAItem]:
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            question = str(record["question"]).strip()
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ConfigError(f"{path}:{number}: expected a JSON object with a \"question\" field") from None
        answer = record.get("answer")
        items.append(
            QAItem(
                id=str(record.get("id") or f"q{number}"),
                question=question,
                answer=None if answer is None else str(answer),
                sources=[str(s) for s in record.get("sources") or []],
                contexts=[str(c) for c in record.get("contexts") or []],
                meta=dict(record.get("meta") or {}),
            )
        )
    return items


def _load_csv(path: Path, text: str) -> list[QAItem]:
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


# --- configurations ---------------------------------------------------------------------

_QUERY_KEYS = {"k", "llm"}


@dataclass
class EvalConfig:
    """One column of a comparison: settings overrides plus ``RagApp.query`` arguments."""

    label: str
    settings: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None


def _convert(key: str, raw: str, kind: type | None) -> Any:
    raw = raw.strip()
    if kind is bool or (kind is None and raw.lower() in {"true", "false", "on", "off", "yes", "no"}):
        return raw.lower() in {"1", "true", "yes", "on"}
    try:
        if kind is int or (kind is None and re.fullmatch(r"-?\d+", raw)):
            return int(raw)
        if kind is float or (kind is None and re.fullmatch(r"-?\d*\.\d+", raw)):
            return float(raw)
    except ValueError:
        raise ConfigError(f"config value {key}={raw!r} must be a {kind.__name__ if kind else 'number'}") from None
    return raw


def parse_config(text: str) -> EvalConfig:
    """``llm=extractive,k=4``: settings go to :class:`Settings`, the rest to ``RagApp.query``.

    A key that is neither a setting nor a ``query`` argument of this version
    (say ``hybrid`` before hybrid retrieval exists) marks the config skipped.
    """
    from rag_app.app import RagApp

    setting_types = {name: type(f.default) for name, f in Settings.model_fields.items()}
    # RagApp.query passes its **options on to retrieval_options: both name what a query takes.
    query_params = {
        name
        for method in (RagApp.query, RagApp.retrieval_options)
        for name, p in inspect.signature(method).parameters.items()
        if name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    }
    config = EvalConfig(label=text.strip() or "default")
    unknown = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = part.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise ConfigError(f"config part {part!r} must look like key=value (e.g. llm=extractive,k=4)")
        if key in _QUERY_KEYS:
            config.query[key] = _convert(key, raw, setting_types.get(key))
        elif key in setting_types:
            config.settings[key] = _convert(key, raw, setting_types[key])
        elif key in query_params:
            config.query[key] = _convert(key, raw, None)
        else:
            unknown.append(key)
    if unknown:
        config.skipped = (
            f"this version of rag-app has no option {', '.join(repr(u) for u in unknown)} "
            "(neither a setting nor a RagApp.query argument)"
        )
    return config


# --- scoring one question ------------------------------------------------------------------

def _name(source: str) -> str:
    return Path(source).name


def relevance(item: QAItem, documents: Sequence["Document"]) -> list[dict[str, Any]]:
    """Per retrieved chunk: its source, whether the source is gold, the passage overlap, relevance."""
    gold = {_name(s) for s in item.sources}
    out = []
    for doc in documents:
        source = str(doc.metadata.get("source", ""))
        from_gold = _name(source) in gold if gold else None
        overlap = max((metrics.passage_overlap(doc.page_content, c) for c in item.contexts), default=None)
        if from_gold is None:
            relevant = overlap is not None and overlap >= metrics.OVERLAP_THRESHOLD
        else:
            relevant = from_gold and (overlap is None or overlap >= metrics.OVERLAP_THRESHOLD)
        out.append(
            {
                "source": _name(source),
                "score": doc.metadata.get("score"),
                "gold_source": from_gold,
                "overlap": None if overlap is None else round(overlap, 3),
                "relevant": relevant,
            }
        )
    return out


def score_answer(prediction: str, item: QAItem) -> dict[str, Any]:
    """EM/F1/containment for short references, key-token recall for long ones, and ``correct``."""
    from chains.prompt import NOT_FOUND

    refs = item.references
    if not refs:
        return {"kind": None, "correct": None}
    if prediction.strip() == NOT_FOUND:
        prediction = ""
    if metrics.is_short(refs[0]):
        em = metrics.exact_match(prediction, refs)
        contains = metrics.contains_answer(prediction, refs)
        return {
            "kind": "short",
            "em": em,
            "f1": round(metrics.token_f1(prediction, refs), 4),
            "contains": contains,
            "correct": bool(em or contains),
        }
    recall = max(metrics.key_token_recall(prediction, r) for r in refs)
    precision = max(metrics.key_token_precision(prediction, r) for r in refs)
    shared = max(len(metrics.key_tokens(prediction) & metrics.key_tokens(r)) for r in refs)
    correct = precision >= metrics.LONG_PRECISION and shared >= metrics.LONG_MIN_SHARED
    return {"kind": "long", "key_recall": round(recall, 4), "key_precision": round(precision, 4), "correct": correct}


# --- LLM as judge ---------------------------------------------------------------------------

JUDGE_CORRECT = (
    "Passage [1] is a question, [2] the reference answer, [3] a candidate answer. "
    "Does the candidate answer say the same as the reference answer? Reply with one word: yes or no."
)
JUDGE_FAITHFUL = (
    "The last passage is an answer; the passages before it are the context it was written from. "
    "Is everything the answer states supported by that context? Reply with one word: yes or no."
)


def _verdict(text: str) -> float | None:
    match = re.search(r"\b(yes|no)\b", text.lower())
    return None if match is None else float(match.group(1) == "yes")


def judge(backend: Any, item: QAItem, answer: "Answer") -> dict[str, float | None]:
    """Two yes/no questions to a judge backend: correctness and faithfulness."""
    from langchain_core.documents import Document

    result: dict[str, float | None] = {"judge_correct": None, "judge_faithful": None}
    if item.references:
        docs = [Document(page_content=item.question, metadata={"source": "question"}),
                Document(page_content=item.references[0], metadata={"source": "reference"}),
                Document(page_content=answer.answer, metadata={"source": "candidate"})]
        result["judge_correct"] = _verdict(backend.answer(JUDGE_CORRECT, docs))
    docs = list(answer.documents) + [Document(page_content=answer.answer, metadata={"source": "answer"})]
    result["judge_faithful"] = _verdict(backend.answer(JUDGE_FAITHFUL, docs))
    return result


# --- running ------------------------------------------------------------------------------

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


def summarize(rows: Sequence[dict[str, Any]], config: EvalConfig) -> dict[str, Any]:
    """One line of the comparison table."""
    def avg(key: str) -> float | None:
        return metrics.mean(r.get(key) for r in rows if r.get(key) is not None)

    def pct(stage: str, q: float) -> float | None:
        timings = [r["timings_ms"] for r in rows if "timings_ms" in r]
        values = [t["retrieve"] + t["generate"] if stage == "total" else t[stage] for t in timings]
        return round(metrics.percentile(values, q), 2) if values else None

    usages = [r["usage"] for r in rows if r.get("usage")]
    costs = [u.get("cost") for u in usages]
    summary: dict[str, Any] = {
        "config": config.label,
        "questions": len(rows),
        "errors": sum(1 for r in rows if r.get("error")),
        "hit": avg("hit"), "source_hit": avg("source_hit"), "mrr": avg("rr"), "ndcg": avg("ndcg"),
        "em": avg("em"), "f1": avg("f1"), "contains": avg("contains"), "key_recall": avg("key_recall"),
        "key_precision": avg("key_precision"),
        "accuracy": metrics.mean(float(r["correct"]) for r in rows if r.get("correct") is not None),
        "judge_correct": avg("judge_correct"), "judge_faithful": avg("judge_faithful"),
        "k": config.query.get("k"),
        "llm": next((r["llm"] for r in rows if r.get("llm")), config.query.get("llm")),
    }
    for stage in ("retrieve", "generate", "total"):
        summary[f"{stage}_p50_ms"] = pct(stage, 50)
        summary[f"{stage}_p95_ms"] = pct(stage, 95)
    for key in ("prompt_tokens", "context_tokens", "completion_tokens"):
        summary[f"{key}_mean"] = metrics.mean(u.get(key) for u in usages)
    summary["cost_per_query"] = None if not costs or any(c is None for c in costs) else sum(costs) / len(costs)
    return summary


# --- text table -------------------------------------------------------------------------

_COLUMNS = [
    ("config", "config", "{}"), ("n", "questions", "{}"), ("hit@k", "hit", "{:.3f}"), ("src@k", "source_hit", "{:.3f}"),
    ("MRR", "mrr", "{:.3f}"), ("nDCG", "ndcg", "{:.3f}"), ("EM", "em", "{:.3f}"), ("F1", "f1", "{:.3f}"),
    ("contain", "contains", "{:.3f}"), ("keyrec", "key_recall", "{:.3f}"), ("keyprec", "key_precision", "{:.3f}"), ("acc", "accuracy", "{:.3f}"),
    ("judge", "judge_correct", "{:.3f}"), ("ret p50/p95 ms", ("retrieve_p50_ms", "retrieve_p95_ms"), "{:.0f}/{:.0f}"),
    ("gen p50/p95 ms", ("generate_p50_ms", "generate_p95_ms"), "{:.0f}/{:.0f}"),
    ("tok/q", "prompt_tokens_mean", "{:.0f}"), ("$/query", "cost_per_query", "{:.6f}"),
]


def _cell(summary: dict[str, Any], key: Any, fmt: str) -> str:
    if summary.get("skipped"):
        return summary["config"] if key == "config" else "skipped" if key == "questions" else "-"
    values = [summary.get(k) for k in key] if isinstance(key, tuple) else [summary.get(key)]
    if any(v is None for v in values):
        return "-"
    return fmt.format(*values)


def table(summaries: Sequence[dict[str, Any]]) -> str:
    """A plain-text table; columns no config has a value for are left out."""
    columns = [c for c in _COLUMNS if c[1] == "config" or any(_cell(s, c[1], c[2]) not in {"-", "skipped"} for s in summaries)]
    if not any(not s.get("skipped") for s in summaries):
        columns = _COLUMNS[:2]
    cells = [[head for head, _, _ in columns]] + [[_cell(s, key, fmt) for _, key, fmt in columns] for s in summaries]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = [f"{s['config']}: skipped, {s['skipped']}" for s in summaries if s.get("skipped")]
    return "\n".join(lines + notes)


# --- the whole command ---------------------------------------------------------------------

def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


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
