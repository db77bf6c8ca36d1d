"""``rag-app advise --measure``: decide on measured numbers, not rules of thumb.

Runs the evaluation harness (:mod:`rag_app.evaluate`) on the user's QA set for
three setups — RAG with the local model, the fine-tuned model alone, and the
hybrid (fine-tuned model + retrieval) — optionally after changing the data
(``--dynamic``), and recommends the setup that answers best, breaking near-ties
by latency.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from rag_app.config import Settings
from rag_app.errors import ConfigError

#: Accuracy differences smaller than this are a tie, settled by latency.
TIE = 0.02


def default_setups(model: str) -> dict[str, str]:
    return {
        "rag": "llm=local",
        "finetune": f"llm=hf:{model},retrieval=false",
        "hybrid": f"llm=hf:{model}",
    }


def measure(
    qa: Path,
    corpus: Path,
    setups: dict[str, str],
    *,
    sample: int | None = 30,
    seed: int = 0,
    dynamic: bool = False,
    settings: Settings | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """One row per setup: accuracy (static and, with ``dynamic``, after the data changed), latency, cost."""
    from rag_app.evaluate import Evaluator, evaluate, load_qa, parse_config, select

    items = select(load_qa(qa), sample=sample, seed=seed)
    if not items:
        raise ConfigError(f"{qa} has no questions")
    configs = [parse_config(spec) for spec in setups.values()]
    evaluator = Evaluator(settings or Settings.load(), corpus, progress=progress)
    try:
        summaries, _ = evaluate(evaluator, items, configs)
        rows = []
        for name, config, summary in zip(setups, configs, summaries):
            row = {"setup": name, "config": config.label, **{k: summary.get(k) for k in (
                "accuracy", "hit", "generate_p50_ms", "total_p50_ms", "cost_per_query", "skipped")}}
            if dynamic and not config.skipped:
                from rag_app.dynamic import run_dynamic

                changed, _ = run_dynamic(evaluator, items, config, seed=seed)
                row["accuracy_after_change"] = changed.get("accuracy_new_facts_after")
                row["staleness_rate"] = changed.get("staleness_rate")
            rows.append(row)
        return rows
    finally:
        evaluator.close()


def decide(rows: Sequence[dict[str, Any]]) -> tuple[str, list[str]]:
    """The best setup and why, from measured rows."""
    usable = [r for r in rows if r.get("accuracy") is not None and not r.get("skipped")]
    if not usable:
        raise ConfigError("No setup could be measured: check the QA file, the corpus and the model directory")

    def quality(row: dict[str, Any]) -> float:
        after = row.get("accuracy_after_change")
        return (row["accuracy"] + after) / 2 if after is not None else row["accuracy"]

    best_quality = max(quality(r) for r in usable)
    close = [r for r in usable if best_quality - quality(r) <= TIE]
    best = min(close, key=lambda r: r.get("total_p50_ms") or float("inf"))
    reasons = []
    for row in usable:
        text = f"{row['setup']}: accuracy {row['accuracy']:.2f}"
        if row.get("accuracy_after_change") is not None:
            text += f", {row['accuracy_after_change']:.2f} after the data changed (staleness {row.get('staleness_rate') or 0:.2f})"
        if row.get("total_p50_ms") is not None:
            text += f", p50 {row['total_p50_ms'] / 1000:.1f} s"
        if row.get("cost_per_query") is not None:
            text += f", ${row['cost_per_query']:.5f}/query"
        reasons.append(text)
    if len(close) > 1:
        reasons.append(f"{', '.join(r['setup'] for r in close)} are within {TIE:.2f} accuracy: the faster one wins")
    return best["setup"], reasons
