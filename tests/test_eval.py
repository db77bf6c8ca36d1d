"""`rag-app eval` end to end on a tiny QA set: fake embeddings, the extractive backend, real Chroma."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag_app.measure.eval_config import parse_config
from rag_app.measure.qa_sets import QAItem, load_qa
from rag_app.measure.scoring import relevance, score_answer

FACTS = {
    "battery.txt": "Battery\n\nThe Zephyr battery charges fully in 4 hours from a wall socket. Keep it dry.\n",
    "frame.txt": "Frame\n\nThe Zephyr frame is welded by Corvano Works in Turin. It is aluminium.\n",
    "brakes.txt": "Brakes\n\nThe Zephyr brake pads last about 3000 kilometres before they wear out.\n",
    "saddle.txt": "Saddle\n\nThe Zephyr saddle is stitched by Marlowe Leather in Leeds from cowhide.\n",
}
QUESTIONS = [
    ("q1", "How many hours does the Zephyr battery take to charge fully?", "4 hours", "battery.txt",
     "The Zephyr battery charges fully in 4 hours from a wall socket."),
    ("q2", "Who welds the Zephyr frame?", "Corvano Works", "frame.txt", "The Zephyr frame is welded by Corvano Works in Turin."),
    ("q3", "How many kilometres do the Zephyr brake pads last?", "3000 kilometres", "brakes.txt",
     "The Zephyr brake pads last about 3000 kilometres before they wear out."),
    ("q4", "Who stitches the Zephyr saddle?", "Marlowe Leather", "saddle.txt",
     "The Zephyr saddle is stitched by Marlowe Leather in Leeds from cowhide."),
]


@pytest.fixture
def qa_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("RAG_EMBEDDINGS", "fake")
    monkeypatch.setenv("RAG_LLM", "extractive")
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for name, text in FACTS.items():
        (corpus / name).write_text(text)
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        "".join(
            json.dumps({"id": i, "question": q, "answer": a, "sources": [s], "contexts": [c], "meta": {"all_answers": [a]}}) + "\n"
            for i, q, a, s, c in QUESTIONS
        )
    )
    return qa, corpus


def test_eval_compares_configs_writes_results_and_html(qa_set, tmp_path: Path, cli):
    qa, corpus = qa_set
    results, html = tmp_path / "rows.jsonl", tmp_path / "report.html"
    code, out, _ = cli(
        "eval", str(qa), "--corpus", str(corpus), "--json", "--results", str(results), "--out", str(html),
        "--compare", "llm=extractive,k=2", "llm=fake,k=1", "hybrid=1", "nonsense=1",
    )
    assert code == 0
    report = json.loads(out)
    extractive, fake, hybrid, nonsense = report["configs"]
    assert "no option 'nonsense'" in nonsense["skipped"]
    assert extractive["questions"] == 4 and extractive["errors"] == 0
    assert extractive["hit"] == 1.0 and 0.5 < extractive["mrr"] <= 1.0 and 0.5 < extractive["ndcg"] <= 1.0
    assert extractive["accuracy"] == 1.0 and extractive["contains"] == 1.0
    assert extractive["em"] == 0.0  # it quotes whole sentences, never the bare span
    assert 0 < extractive["f1"] < 1
    assert extractive["cost_per_query"] == 0.0 and extractive["prompt_tokens_mean"] > extractive["context_tokens_mean"] > 0
    assert extractive["retrieve_p95_ms"] >= extractive["retrieve_p50_ms"] > 0
    assert fake["accuracy"] == 0.0 and fake["k"] == 1  # the echo backend never states the fact
    # the support check against the reference: quotes are shown supported and right, each cited
    # sentence holds the answer; every wrong echo answer was flagged
    assert extractive["supported_wrong"] == 0.0 and extractive["citation_precision"] > 0.5
    assert fake["wrong_flagged"] == 1.0 and fake["supported_wrong"] is None
    assert hybrid["questions"] == 4 and hybrid["errors"] == 0 and 0 <= hybrid["hit"] <= 1

    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert len(rows) == 12 and {r["config"] for r in rows} == {"llm=extractive,k=2", "llm=fake,k=1", "hybrid=1"}
    mine = [r for r in rows if r["config"] == "llm=extractive,k=2"]
    first_hits = [[x["relevant"] for x in r["retrieved"]].index(True) + 1 for r in mine]
    assert extractive["mrr"] == pytest.approx(sum(1 / rank for rank in first_hits) / 4)
    failed = [r for r in rows if r["config"] == "llm=fake,k=1"]
    assert all(r["failure"] == ("answer" if r["retrieved"][0]["relevant"] else "retrieval") for r in failed)
    page = html.read_text()
    assert "citation precision" in page
    assert page.startswith("<!doctype html>") and "<svg" in page and "llm=extractive,k=2" in page and "skipped" in page
    assert "<script" not in page

    # a second run re-embeds nothing
    code, out, _ = cli("eval", str(qa), "--corpus", str(corpus), "--json", "--limit", "2")
    again = json.loads(out)["configs"][0]
    assert again["questions"] == 2 and again["index"]["added"] == 0 and again["index"]["unchanged"] == again["index"]["chunks"]


def test_eval_text_table_sample_and_csv(qa_set, tmp_path: Path, cli):
    _, corpus = qa_set
    csv_file = tmp_path / "qa.csv"
    csv_file.write_text("question,answer\n" + "".join(f'"{q}","{a}"\n' for _, q, a, _, _ in QUESTIONS))
    assert [item.answer for item in load_qa(csv_file)] == [a for _, _, a, _, _ in QUESTIONS]
    code, out, _ = cli("eval", str(csv_file), "--corpus", str(corpus), "--sample", "3", "--seed", "1")
    assert code == 0
    header, rule, line = out.splitlines()[1:4]
    assert header.split()[:2] == ["config", "n"] and set(rule) <= {"-", " "}
    assert line.split()[:2] == ["llm=extractive,k=4", "3"]
    assert "hit@k" not in header  # a CSV without sources has no retrieval ground truth
    assert "acc" in header and "per-question results:" in out


def test_eval_errors_are_one_line(qa_set, tmp_path: Path, cli):
    qa, corpus = qa_set
    code, _, err = cli("eval", str(qa), "--corpus", str(tmp_path / "nope"))
    assert code == 4 and "not a directory" in err and "Traceback" not in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok"}\nnot json\n')
    code, _, err = cli("eval", str(bad), "--corpus", str(corpus))
    assert code == 4 and "bad.jsonl:2" in err
    code, _, err = cli("eval", str(qa), "--corpus", str(corpus), "--compare", "k")
    assert code == 4 and "key=value" in err


def test_config_parsing_routes_settings_and_query_arguments():
    config = parse_config("llm=extractive,k=2,chunk_size=300,temperature=0.5")
    assert config.query == {"llm": "extractive", "k": 2}
    assert config.settings == {"chunk_size": 300, "temperature": 0.5} and config.skipped is None
    assert parse_config("mmr=true").query == {"mmr": True}
    assert "nonsense" in (parse_config("nonsense=1").skipped or "")


def test_relevance_needs_gold_source_and_passage_overlap():
    from langchain_core.documents import Document

    item = QAItem("x", "q?", "4 hours", ["battery.txt"], ["The Zephyr battery charges fully in 4 hours from a wall socket."])
    docs = [
        Document(page_content="Battery. The Zephyr battery charges fully in 4 hours from a wall socket. Keep it dry.", metadata={"source": "/d/battery.txt"}),
        Document(page_content="Battery. Keep it dry and cool in winter, away from frost and heaters.", metadata={"source": "/d/battery.txt"}),
        Document(page_content="The Zephyr battery charges fully in 4 hours from a wall socket.", metadata={"source": "/d/copy.txt"}),
    ]
    flags = [r["relevant"] for r in relevance(item, docs)]
    assert flags == [True, False, False]
    assert score_answer("It charges in 4 hours. [1]", item)["correct"] is True
    assert score_answer("I don't know: the documents do not say.", item)["correct"] is False
    long_item = QAItem("y", "Why indentation?", "Python uses indentation for grouping statements instead of braces, so the layout a reader sees is the one the parser sees.")
    long = score_answer("Python groups statements by indentation, not braces: the parser sees the layout the reader sees.", long_item)
    assert long["kind"] == "long" and long["correct"] is True
    off_topic = score_answer("Braces are fine in C and in Java; Python has decorators and generators.", long_item)
    assert off_topic["correct"] is False and off_topic["key_precision"] < 0.6


def test_dynamic_mode_changes_facts_deletes_a_file_and_measures_staleness(qa_set, tmp_path: Path, cli):
    qa, corpus = qa_set
    before = {p.name: p.read_bytes() for p in corpus.iterdir()}
    code, out, _ = cli(
        "eval", str(qa), "--corpus", str(corpus), "--json", "--dynamic", "--compare", "llm=extractive,k=2",
        "--dynamic-share", "0.5", "--dynamic-delete", "0.25", "--seed", "3", "--results", str(tmp_path / "rows.jsonl"),
    )
    assert code == 0
    dynamic = json.loads(out)["dynamic"]
    assert dynamic["edited_facts"] == 2 and len(dynamic["deleted_files"]) == 1 and dynamic["deleted_questions"] == 1
    assert dynamic["accuracy_new_facts_before"] == 0.0  # the old index cannot know the new facts
    assert dynamic["accuracy_new_facts_after"] == 1.0  # the incremental reindex picked them up
    assert dynamic["stale_edited"] == 0 and dynamic["cites_deleted"] == 0
    assert dynamic["reindex"]["embedded"] == 2 and dynamic["reindex"]["unchanged"] >= 1
    assert {p.name: p.read_bytes() for p in corpus.iterdir()} == before  # the user's corpus is untouched

    rows = [json.loads(line) for line in (tmp_path / "rows.jsonl").read_text().splitlines() if '"phase"' in line]
    edited = [r for r in rows if r["change"] == "edited" and r["phase"] == "after"]
    assert len(edited) == 2
    for row in edited:
        assert row["reference"] != row["old_answer"] and row["reference"] in row["answer"]
        assert row["old_answer"] not in row["answer"]

    # run it again: the copy is restored and the index converges back without surprises
    code, out, _ = cli("eval", str(qa), "--corpus", str(corpus), "--json", "--dynamic", "--compare", "llm=extractive,k=2",
                       "--dynamic-share", "0.5", "--dynamic-delete", "0.25", "--seed", "3")
    assert json.loads(out)["dynamic"]["accuracy_new_facts_after"] == 1.0
