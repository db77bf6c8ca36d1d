"""The comparison table of ``rag-app eval``: one summary per configuration, printed as text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from rag_app.measure import metrics

if TYPE_CHECKING:
    from rag_app.measure.eval_config import EvalConfig


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
        **support_summary(rows),
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


def support_summary(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Answers shown as supported that are wrong; wrong answers that were flagged or replaced;
    citation precision (cited sentences that contain the reference answer)."""
    judged = [r for r in rows if r.get("correct") is not None and "shown_supported" in r]
    shown = [r for r in judged if r["shown_supported"]]
    wrong = [r for r in judged if r["correct"] is False]
    cited = sum(r.get("cited") or 0 for r in rows)
    return {
        "supported_wrong": metrics.mean(float(r["correct"] is False) for r in shown) if shown else None,
        "wrong_flagged": metrics.mean(float(r["flagged"]) for r in wrong) if wrong else None,
        "citation_precision": sum(r.get("cited_hits") or 0 for r in rows) / cited if cited else None,
    }


# --- text ------------------------------------------------------------------------------

_COLUMNS = [
    ("config", "config", "{}"), ("n", "questions", "{}"), ("hit@k", "hit", "{:.3f}"), ("src@k", "source_hit", "{:.3f}"),
    ("MRR", "mrr", "{:.3f}"), ("nDCG", "ndcg", "{:.3f}"), ("EM", "em", "{:.3f}"), ("F1", "f1", "{:.3f}"),
    ("contain", "contains", "{:.3f}"), ("keyrec", "key_recall", "{:.3f}"), ("keyprec", "key_precision", "{:.3f}"), ("acc", "accuracy", "{:.3f}"),
    ("sup&wrong", "supported_wrong", "{:.3f}"), ("wrong flagged", "wrong_flagged", "{:.3f}"), ("cite prec", "citation_precision", "{:.3f}"),
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
