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
