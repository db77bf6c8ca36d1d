"""advise --measure: the recommendation follows the measured table."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_app.advise_measure import decide, measure
from rag_app.errors import ConfigError
from test_eval import qa_set  # noqa: F401  (the fixture: a tiny QA set and its corpus)


def test_measured_rows_and_the_setup_that_answers_best_wins(qa_set, tmp_path: Path):  # noqa: F811
    qa, corpus = qa_set
    rows = measure(
        qa, corpus,
        {"rag": "llm=extractive,k=2", "finetune": "llm=fake,retrieval=false", "hybrid": "llm=fake,k=2"},
        sample=None, dynamic=True,
    )
    by = {r["setup"]: r for r in rows}
    assert by["rag"]["accuracy"] == 1.0 and by["finetune"]["accuracy"] == 0.0
    assert by["finetune"]["hit"] == 0.0  # no retrieval, no sources
    assert "accuracy_after_change" in by["rag"] and "staleness_rate" in by["rag"]
    best, reasons = decide(rows)
    assert best == "rag" and any(r.startswith("rag: accuracy 1.00") for r in reasons)


def test_near_ties_go_to_the_faster_setup():
    rows = [
        {"setup": "rag", "accuracy": 0.60, "total_p50_ms": 900.0},
        {"setup": "hybrid", "accuracy": 0.61, "total_p50_ms": 4000.0},
        {"setup": "finetune", "accuracy": 0.20, "total_p50_ms": 300.0},
    ]
    best, reasons = decide(rows)
    assert best == "rag" and "faster" in reasons[-1]
    with pytest.raises(ConfigError, match="No setup could be measured"):
        decide([{"setup": "rag", "accuracy": None}])
