"""The verdict of ``rag-app advise --measure``: a row per measured setup, and the best one with reasons."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from rag_app.errors import ConfigError

if TYPE_CHECKING:
    from rag_app.tuning.advise_setups import Measurement

#: Accuracy differences smaller than this are a tie, settled by latency.
TIE = 0.02
DAYS_PER_MONTH = 30


def rows(m: Measurement, queries_per_day: float = 1000.0) -> list[dict[str, Any]]:
    """One row per measured setup, the fields of ``advise --measure --json``."""
    out = []
    index_s = m.index.get("setup_s")
    local_rate = float(m.settings.get("local_cost_per_hour") or 0.0)
    for setup in m.setups:
        train = (m.training or {}).get(setup.variant or "model") or {}
        train_s, train_cost = train.get("seconds"), train.get("cost")
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
        retrained = m.retraining if m.retraining and m.retraining.get("variant") == setup.variant else None
        if setup.kind == "finetune":
            update_s = (retrained or {}).get("seconds", train_s)
            update = "retrain" if retrained else "retrain (estimate: the training time)"
        else:
            update_s = s.get("reindex_s")
            update = "reindex"
        row.update(
            llm=s.get("llm"),
            questions=s.get("questions"),
            train_on=setup.variant if uses_model and setup.variant != "model" else None,
            accuracy=s.get("accuracy"),
            accuracy_seen=s.get("accuracy_seen") if uses_model else None,
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
            answers_at_cap=s.get("answers_at_cap"),
        )
        if setup.kind == "finetune" and retrained:
            row["accuracy_after_retrain"] = retrained.get("accuracy_after_retrain")
        out.append(row)
    return out


def decide(rows: Sequence[dict[str, Any]]) -> tuple[str, list[str]]:
    """The best setup and why, from measured rows; the first reason is the verdict in one line.

    Quality is the accuracy on unseen questions, averaged with the accuracy after the change when
    measured (never the recall of trained questions). Setups within one question's worth of the best
    (at least :data:`TIE`) are a tie, settled in order by source attribution, cost per query, latency
    p50, update time and setup time.
    """
    usable = [r for r in rows if r.get("accuracy") is not None and not r.get("skipped")]
    if not usable:
        raise ConfigError("No setup could be measured: check the QA file, the corpus and the model directory")

    def quality(row: dict[str, Any]) -> float:
        after = row.get("accuracy_after_change")
        return (row["accuracy"] + after) / 2 if after is not None else row["accuracy"]

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    def num(row: dict[str, Any], key: str) -> float:
        value = row.get(key)
        return float("inf") if value is None else float(value)

    counts = [int(r["questions"]) for r in usable if r.get("questions")]
    margin = max(TIE, 1 / min(counts)) if counts else TIE
    best_quality = max(quality(r) for r in usable)
    close = [r for r in usable if best_quality - quality(r) <= margin + 1e-9]
    keys = [("cites its sources", lambda r: not r.get("attribution")), ("costs least a query", lambda r: num(r, "cost_per_query")),
            ("answers fastest", lambda r: num(r, "latency_p50_ms")), ("updates fastest", lambda r: num(r, "update_s")),
            ("sets up fastest", lambda r: num(r, "setup_s"))]
    best = min(close, key=lambda r: tuple(key(r) for _, key in keys))
    deciding = next((label for label, key in keys if len(close) > 1
                     and sum(1 for r in close if key(r) == key(best)) < len(close)), None)

    def figures(row: dict[str, Any]) -> str:
        text = f"{pct(row['accuracy'])} unseen"
        if row.get("accuracy_after_change") is not None:
            text += f", {pct(row['accuracy_after_change'])} after the change"
        return text

    why = f"{best['setup']}: " + ("the best" if quality(best) >= best_quality - 1e-9 else
                                  f"within {margin:.0%} (one question) of the best") + f" answers ({figures(best)})"
    if len(close) > 1:
        why += f"; of the setups that close ({', '.join(r['setup'] for r in close)}) it {deciding or 'comes first'}"
    elif best.get("attribution"):
        why += "; it cites its sources"
    if best.get("update_s") is not None and best.get("update"):
        why += f"; updates by {best['update'].split(' (')[0]} in {_seconds(best['update_s'])}"
    others = [r for r in usable if r is not best]
    if others:
        why += "; others: " + ", ".join(f"{r['setup']} {figures(r)}" for r in others)
    reasons = [why]
    for row in usable:
        text = f"{row['setup']}: accuracy {pct(row['accuracy'])}"
        if row.get("accuracy_after_change") is not None:
            text += (f"; on the changed facts {pct(row.get('accuracy_changed_before'))} before the change, "
                     f"{pct(row['accuracy_after_change'])} after")
        if row.get("latency_p50_ms") is not None:
            text += f"; p50 {row['latency_p50_ms'] / 1000:.2f} s"
        if row.get("update_s") is not None and row.get("update"):
            text += f"; update by {row['update'].split(' (')[0]} in {row['update_s']:.1f} s"
        if row.get("accuracy_seen") is not None:
            text += f"; recall of trained questions {pct(row['accuracy_seen'])} (not used for the verdict)"
        reasons.append(text)
    if not best.get("attribution"):
        reasons.append(f"note: {best['setup']} cannot cite sources; a retrieval setup can")
    return best["setup"], reasons


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 90 else f"{value / 60:.1f} min"
