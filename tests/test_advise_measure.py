"""advise --measure: RAG, fine-tuned and hybrid measured on the same questions, beside the rules of thumb."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pytest

from chains import AnswerBackend, BackendOptions, register_llm
from rag_app.tuning.advise_decision import decide, rows
from rag_app.tuning.advise_measure import measure
from rag_app.tuning.advise_setups import Setup
from rag_app.tuning.advise_report import disagreements, text
from rag_app.errors import ConfigError
from test_eval import QUESTIONS, qa_set  # noqa: F401  (the fixture: a tiny QA set and its corpus)
from test_finetune import tiny_base  # noqa: F401  (a 2-layer Llama to fine-tune in seconds)

OLD_FACTS = {question: answer for _, question, answer, _, _ in QUESTIONS}


class Memorised(AnswerBackend):
    """A stand-in for a model fine-tuned on the old facts: it recalls them and never reads the passages."""

    name = "memorised"

    def answer(self, question: str, documents: Sequence) -> str:
        return f"It is {OLD_FACTS.get(question, 'unknown')}."


class CtrlC(AnswerBackend):
    """Raises KeyboardInterrupt when asked: Ctrl-C arriving while this setup is measured."""

    name = "ctrlc"

    def answer(self, question: str, documents: Sequence) -> str:
        raise KeyboardInterrupt


@register_llm("memorised", description="test: recalls the old facts")
def _memorised(options: BackendOptions) -> AnswerBackend:
    return Memorised()


@register_llm("ctrlc", description="test: Ctrl-C while answering")
def _ctrlc(options: BackendOptions) -> AnswerBackend:
    return CtrlC()


SETUPS = [
    Setup("rag", "llm=extractive,k=2", "rag"),
    Setup("finetune", "llm=memorised,retrieval=false", "finetune"),
    Setup("hybrid", "llm=memorised,k=2", "hybrid"),
]


def test_changed_facts_leave_the_memorised_model_stale_while_rag_follows(qa_set, tmp_path: Path):  # noqa: F811
    qa, corpus = qa_set
    m = measure(qa, corpus, SETUPS, sample=None, dynamic=True,
                eval_dir=tmp_path / "eval")
    table = {r["setup"]: r for r in rows(m, queries_per_day=100)}
    rag, ft, hybrid = table["rag"], table["finetune"], table["hybrid"]
    assert m.change is not None and len(m.change["edited_facts"]) >= 3  # at least MIN_EDITS whenever possible
    # static: both know every fact; after the change only retrieval gives the new ones
    assert rag["accuracy"] == ft["accuracy"] == 1.0
    assert rag["accuracy_changed_before"] == rag["accuracy_after_change"] == 1.0
    assert ft["accuracy_changed_before"] == 1.0 and ft["accuracy_after_change"] == 0.0
    assert ft["staleness_rate"] > 0 and hybrid["accuracy_after_change"] == 0.0
    assert rag["attribution"] and hybrid["attribution"] and not ft["attribution"]
    # setup: a fresh index was timed; update: RAG reindexed in measured seconds, no training known here
    assert rag["setup_s"] is not None and rag["setup_s"] == pytest.approx(m.index["setup_s"], abs=0.1) and m.index["chunks"] > 0
    assert rag["update"] == "reindex" and 0 < rag["update_s"] < 60
    assert ft["setup_s"] is None and ft["update_s"] is None
    assert rag["cost_per_query"] == 0.0 and rag["cost_per_month"] == 0.0
    assert rag["latency_p95_ms"] >= rag["latency_p50_ms"] > 0
    assert [s["step"] for s in m.steps] == ["index", "measure rag", "measure finetune", "measure hybrid"]
    best, reasons = decide(list(table.values()))
    assert best == "rag" and any("rag: accuracy 100%; on the changed facts 100% before the change, 100% after" in r
                                 for r in reasons)
    notes = disagreements(list(table.values()))
    assert any(n.startswith("finetune: accuracy, changed facts 100% → 0% is below the rule of thumb") for n in notes)
    assert any(n.startswith("hybrid: said to give the best of both") for n in notes)


def test_ctrl_c_keeps_what_was_measured(qa_set, tmp_path: Path):  # noqa: F811
    qa, corpus = qa_set
    setups = [*SETUPS[:2], Setup("ctrlc", "llm=ctrlc", "extra"), SETUPS[2]]
    m = measure(qa, corpus, setups, sample=None, eval_dir=tmp_path / "eval")
    assert m.interrupted == "interrupted during measure ctrlc: measured rag, finetune"
    assert [r["setup"] for r in rows(m)] == ["rag", "finetune"]


def test_near_ties_go_to_the_faster_setup():
    table = [
        {"setup": "rag", "accuracy": 0.60, "latency_p50_ms": 900.0, "attribution": True},
        {"setup": "hybrid", "accuracy": 0.61, "latency_p50_ms": 4000.0, "attribution": True},
        {"setup": "finetune", "accuracy": 0.20, "latency_p50_ms": 300.0},
    ]
    best, reasons = decide(table)
    assert best == "rag" and reasons[0].startswith("rag: within 2% (one question) of the best answers (60% unseen)")
    assert "of the setups that close (rag, hybrid) it answers fastest" in reasons[0]
    with pytest.raises(ConfigError, match="No setup could be measured"):
        decide([{"setup": "rag", "accuracy": None}])


def test_without_train_a_missing_model_is_a_one_line_error(qa_set, cli):  # noqa: F811
    qa, corpus = qa_set
    missing = cli("advise", "--measure", "--qa", str(qa), "--corpus", str(corpus), "--no-input", "--model", "nope", code=4)
    assert missing.err.strip() == \
        "error: Model directory nope not found: pass --train to fine-tune one, or --model DIR"
    retrain = cli("advise", "--measure", "--qa", str(qa), "--corpus", str(corpus), "--no-input", "--retrain",
                  "--train", code=4)
    assert "--retrain needs --train and --dynamic" in retrain.err


def test_the_whole_command_trains_measures_and_reports(qa_set, tiny_base: Path, tmp_path: Path,  # noqa: F811
                                                       cli, monkeypatch: pytest.MonkeyPatch):
    """`advise --measure --train --dynamic`: a real Trainer run (tiny model), real Chroma, JSON and HTML."""
    qa, corpus = qa_set
    monkeypatch.setenv("RAG_LOCAL_COST_PER_HOUR", "3.6")  # $0.001 a second: costs become checkable
    monkeypatch.setenv("RAG_MAX_TOKENS", "8")
    monkeypatch.setenv("RAG_N_CTX", "256")  # the tiny model's window
    html = tmp_path / "report.html"
    code, out, err = cli("advise", "--measure", "--no-input", "--qa", str(qa), "--corpus", str(corpus), "--train",
                         "--base", str(tiny_base), "--train-minutes", "0.5", "--train-output", str(tmp_path / "model"),
                         "--dynamic", "--retrain", "--sample", "4", "--config", "fake", "--json", "--out", str(html))
    assert code == 0, err
    report = json.loads(out)
    assert {"rows", "recommendation", "reasons"} <= set(report)
    by = {r["setup"]: r for r in report["rows"]}
    assert list(by) == ["rag", "finetune:qa", "finetune:docs", "hybrid", "fake"]  # --train-on both by default
    for row in by.values():  # the --json interface scripts read
        assert {"setup", "accuracy", "accuracy_seen", "accuracy_after_change", "staleness_rate", "latency_p50_ms",
                "latency_p95_ms", "setup_s", "update_s", "cost_per_query", "cost_upfront", "cost_per_month"} <= set(row)
    split = report["meta"]["split"]
    # one question per document here: the documented fallback, paraphrases of the reference sentence
    assert split["mode"] == "paraphrase" and "two paraphrases of the reference sentence" in split["note"]
    assert split["asked"] == 4 and split["asked_about_unseen_documents"] == 1 and split["trained_pairs"] == 6
    asked = {a["id"] for a in (json.loads(line) for line in Path(report["meta"]["results"]).read_text().splitlines())
             if a["phase"] != "seen"}
    assert asked == {"q1", "q2", "q3", "q4"}
    for name in ("finetune:qa", "finetune:docs", "hybrid"):
        assert by[name]["accuracy_seen"] is not None and 0.0 <= by[name]["accuracy_seen"] <= 1.0
    assert by["rag"]["accuracy_seen"] is None and by["finetune:docs"]["train_on"] == "docs"
    qa_run, docs_run = report["training"]["qa"], report["training"]["docs"]
    assert qa_run["device"] == "cpu" and qa_run["steps"] > 0 and qa_run["examples"] == 6 and qa_run["kinds"] == ["qa"]
    assert docs_run["kinds"] == ["docs"] and docs_run["examples"] == 3  # the three trained documents' passages
    card = json.loads((tmp_path / "model-qa" / "model_card.json").read_text())
    assert card["knowledge"]["seconds"] == qa_run["seconds"]
    assert qa_run["cost"] == pytest.approx(qa_run["seconds"] / 1000, abs=1e-4)
    assert by["finetune:qa"]["setup_s"] == qa_run["seconds"] and by["finetune:qa"]["cost_upfront"] == qa_run["cost"]
    assert by["hybrid"]["setup_s"] == pytest.approx(by["rag"]["setup_s"] + docs_run["seconds"], abs=0.2)
    change = report["meta"]["change"]
    edits = change["edited_facts"]  # every edit recorded: where, what kind, old and new value
    assert len(edits) >= 3 and change["edited_count"] == len(edits)
    for edit in edits:
        assert {"id", "file", "kind", "old", "new"} <= set(edit) and edit["old"] != edit["new"]
    for row in by.values():  # >= 3 facts edited: every setup has an after-change figure
        assert row["accuracy_after_change"] is not None
    retrained = report["retraining"]  # --retrain: the first fine-tuned variant trained again on the changed corpus
    assert retrained["variant"] == "qa" and retrained["steps"] > 0 and retrained["questions"] == len(edits)
    assert by["finetune:qa"]["update"] == "retrain" and by["finetune:qa"]["update_s"] == retrained["seconds"]
    assert by["finetune:docs"]["update"] == "retrain (estimate: the training time)"
    assert 0.0 <= by["finetune:qa"]["accuracy_after_retrain"] <= 1.0
    assert (tmp_path / "model-qa-retrained" / "model_card.json").is_file()
    assert by["rag"]["llm"] == "extractive" and by["rag"]["accuracy"] == 1.0 and by["rag"]["accuracy_after_change"] == 1.0
    assert by["finetune:qa"]["cost_per_query"] > 0  # the model ran here, priced at RAG_LOCAL_COST_PER_HOUR
    assert report["recommendation"] == "rag" and report["reasons"][0].startswith("rag: the best answers (100% unseen, 100% after")
    assert report["meta"]["train_questions_are_eval_questions"] is False
    answers = [json.loads(line) for line in Path(report["meta"]["results"]).read_text().splitlines()]
    assert {a["setup"] for a in answers} == set(by) and all("answer" in a for a in answers)
    assert [s["step"] for s in report["meta"]["steps"]] == \
        ["index", "measure rag", "train qa", "measure finetune:qa", "train docs", "measure finetune:docs",
         "measure hybrid", "measure fake", "retrain"]
    assert "training: 6 examples (qa)" in err and "[embedding] 4/4 chunks" in err and "[hybrid] 4/" in err
    page = html.read_text()
    assert page.count("<svg") == 2 and "rule: fine-tune" in page and "Recommendation: rag" in page
    assert "<script" not in page and "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_text_report_puts_rules_of_thumb_beside_the_numbers():
    table = [
        {"setup": "rag", "kind": "rag", "attribution": True, "accuracy": 0.9, "accuracy_changed_before": 0.9,
         "accuracy_after_change": 0.9, "latency_p50_ms": 800.0, "latency_p95_ms": 1200.0, "setup_s": 40.0,
         "update_s": 1.5, "update": "reindex", "cost_per_query": 0.0, "cost_upfront": 0.0, "cost_per_month": 0.0},
        {"setup": "finetune", "kind": "finetune", "attribution": False, "accuracy": 0.5, "accuracy_changed_before": 0.6,
         "accuracy_after_change": 0.0, "latency_p50_ms": 150.0, "latency_p95_ms": 300.0, "setup_s": 240.0,
         "update_s": 240.0, "update": "retrain (estimate: the training time)", "cost_per_query": 0.0,
         "cost_upfront": 0.0, "cost_per_month": 0.0},
    ]
    best, reasons = decide(table)
    report = {"rows": table, "recommendation": best, "reasons": reasons, "disagreements": disagreements(table),
              "meta": {"questions": 30, "qa": "qa.jsonl", "corpus": "docs", "dynamic": True, "queries_per_day": 1000,
                       "change": {"edited_facts": 9, "deleted_files": ["a.txt"]}, "steps": [{"step": "index", "seconds": 40.0}]}}
    out = text(report)
    flat = " ".join(out.split())  # column widths aside
    assert "accuracy, changed facts 60–70% (stale) 90–95% (current) 90% → 90% 60% → 0%" in flat
    assert "update time retraining re-embedding reindex 1.5 s retrain 4.0 min (est.)" in flat
    assert "source attribution no yes yes no" in flat
    assert "finetune: latency p50 150 ms is below the rule of thumb (200–500 ms)" in out
    assert "finetune: setup time train 4.0 min is below the rule of thumb (days to weeks)" in out
    assert "9 answers (or a date, number or name in it) edited in the corpus, 1 file deleted (0 questions lost their source)" in flat
    assert "stale answers after the change" in out
    assert "Recommendation: rag" in out and "Wall time per step: index 40.0 s" in out


def test_answers_get_a_budget_fitted_to_the_references_and_every_default_row_the_same():
    from rag_app.measure.eval_config import parse_config
    from rag_app.tuning.advise_setups import LONG_ANSWER_TOKENS, SHORT_ANSWER_TOKENS, answer_tokens, default_setups

    assert answer_tokens(["Paris", "1999", "the Royal Society of Canada"], 160) == SHORT_ANSWER_TOKENS == 48
    long = "Guido believes that indentation for grouping is elegant and contributes to the clarity of programs"
    assert answer_tokens([long, long, "Paris"], 160) == LONG_ANSWER_TOKENS == 64
    assert answer_tokens(["Paris"], 8) == 8  # never above RAG_MAX_TOKENS
    setups = default_setups("m", "hf", variants={"qa": "m-qa", "docs": "m-docs"}, max_tokens=32)
    assert [s.name for s in setups] == ["rag", "finetune:qa", "finetune:docs", "hybrid"]
    assert all(parse_config(s.config).settings["max_tokens"] == 32 for s in setups)
    # every row is scored on its own model's words: no extractive quotes replace an unsupported answer
    assert all(parse_config(s.config).settings["unsupported"] == "flag" for s in setups)
    assert parse_config(setups[0].config).query["llm"] == "hf" and not parse_config(setups[1].config).query["retrieval"]


def test_the_progress_total_counts_the_questions_asked_again_after_the_change(qa_set, tmp_path: Path):  # noqa: F811
    from rag_app.measure.dynamic import asked_after
    from rag_app.measure.qa_sets import load_qa

    qa, corpus = qa_set
    m = measure(qa, corpus, SETUPS, sample=None, dynamic=True, eval_dir=tmp_path / "eval")
    after = [r for r in m.summaries["rag"]["rows"] if r["phase"] == "after"]
    assert after and asked_after(m.plans[0], load_qa(qa)) == len(after)
    assert all(len(s["rows"]) == len(m.summaries["rag"]["rows"]) for s in m.summaries.values())


def test_the_share_of_answers_that_used_the_whole_cap_is_reported():
    from rag_app.measure.eval_config import parse_config
    from rag_app.tuning.advise_measure import _at_cap

    rows = [{"usage": {"completion_tokens": n}} for n in (48, 12, 48, 30)] + [{"usage": {}}]
    assert _at_cap(rows, parse_config("llm=hf,max_tokens=48")) == 0.5
    assert _at_cap(rows, parse_config("llm=hf")) is None  # no cap configured: nothing to report
