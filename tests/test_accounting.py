"""Tokens, cost, the query ledger, `rag-app stats` and `rag-app cost`.

Provider-reported usage is tested against a real local HTTP server speaking the
OpenAI chat-completions protocol, not a patched client.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chains.support.evidence import strip_markers
from loaders.tokens import count_tokens
from rag_app.errors import ConfigError
from rag_app.measure.ledger import Ledger, summarize
from rag_app.measure.usage import PriceTable

REPORTED = {"prompt_tokens": 400, "completion_tokens": 10}


@pytest.fixture
def chat_server(stub_server) -> str:
    """An OpenAI-compatible chat endpoint that reports its own token usage; its base URL (…/v1)."""
    return f"{stub_server(completion='yes, it lasts 10 years', usage=REPORTED).url}/v1"


@pytest.fixture
def price_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({
        "taken": "test",
        "chat": {"tiny-model": {"input": 1.0, "output": 2.0, "training": 10.0, "ft_input": 2.0, "ft_output": 4.0}},
        "embeddings": {"emb-x": {"input": 1.0}},
    }))
    return path


def test_price_table_merges_user_file_and_matches_snapshots(price_file: Path, tmp_path: Path):
    shipped = PriceTable.load()
    assert shipped.taken and shipped.chat_price("gpt-4o-mini-2024-07-18") == shipped.chat_price("gpt-4o-mini")
    assert shipped.chat_price("ft:gpt-4o-mini:acme::abc") == shipped.chat_price("gpt-4o-mini")
    assert shipped.chat_cost("no-such-model", 10, 10) is None
    gpt = shipped.chat_price("gpt-4o-mini")
    assert shipped.chat_cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(gpt["input"] + gpt["output"])
    merged = PriceTable.load(price_file, local_cost_per_hour=3.6)
    assert merged.chat_cost("tiny-model", 1000, 500) == pytest.approx((1000 * 1.0 + 500 * 2.0) / 1e6)
    assert merged.chat_price("gpt-4o-mini") == gpt  # the shipped entries stay
    assert merged.local_cost(1000.0) == pytest.approx(0.001)  # 1 s at 3.6 $/h
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        PriceTable.load(bad)


def test_every_query_and_stream_lands_in_the_ledger(make_app, corpus: Path, capsys):
    app = make_app(llm="extractive")
    app.reindex([corpus])
    answer = app.query("How long does a full charge take?", k=3)
    second = app.query("What does error code E01 mean?", k=2)
    streaming = app.stream("aluminium frame warranty", k=2)
    "".join(streaming)
    assert answer.usage["counted_by"] == "estimate:cl100k_base" and answer.usage["cost"] == 0.0
    from chains.prompt import format_context

    assert answer.usage["context_tokens"] == count_tokens(format_context(answer.documents))
    assert answer.usage["completion_tokens"] == count_tokens(answer.answer)
    rows = Ledger(Path(app.settings.persist_dir) / "ledger.sqlite3").rows()
    # k: the passages the model was given (overlapping chunks of one file are merged into one)
    assert [(r["backend"], r["streamed"]) for r in rows] == [("extractive", 0), ("extractive", 0), ("extractive", 1)]
    assert [r["k"] for r in rows] == [len(answer.sources), len(second.sources), len(streaming.result.sources)]
    assert all(r["retrieve_ms"] > 0 and r["context_tokens"] > 0 and r["cost"] == 0.0 for r in rows)
    assert "question" not in rows[0]  # the ledger keeps numbers, not what people asked

    off = make_app(llm="extractive", ledger=False, persist_dir=str(Path(app.settings.persist_dir).parent / "other"))
    off.reindex([corpus])
    off.query("battery")
    assert not (Path(off.settings.persist_dir) / "ledger.sqlite3").exists()


def test_provider_usage_is_recorded_with_the_estimate_error(make_app, corpus: Path, chat_server: str, price_file: Path):
    app = make_app(llm="openai:tiny-model", openai_base_url=chat_server, prices_file=str(price_file))
    app.reindex([corpus])
    answer = app.query("How long is the frame warranty?", k=2)
    assert answer.answer == "yes, it lasts 10 years"
    usage = answer.usage
    assert usage["counted_by"] == "provider"
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (400, 10)
    assert usage["cost"] == pytest.approx((400 * 1.0 + 10 * 2.0) / 1e6)
    assert usage["estimate_error"] is not None and -1 < usage["estimate_error"] < 1
    row = Ledger(Path(app.settings.persist_dir) / "ledger.sqlite3").rows()[-1]
    assert row["backend"] == "openai:tiny-model" and row["cost"] == pytest.approx(usage["cost"])


def test_stats_summarises_per_day_and_backend(env: Path, tmp_path: Path, monkeypatch, cli):
    from rag_app.results import Answer
    from rag_app.measure.usage import Usage

    ledger = Ledger(tmp_path / "index" / "ledger.sqlite3")
    ledger.path.parent.mkdir()
    day1, day2 = 1_700_000_000.0, 1_700_000_000.0 + 86400
    for ts, llm, generate, cost in [(day1, "extractive", 1.0, 0.0), (day1, "extractive", 3.0, 0.0),
                                    (day1, "openai:tiny-model", 100.0, 0.5), (day2, "openai:tiny-model", 300.0, None)]:
        answer = Answer("q", "a", [], {"retrieve": 10.0, "generate": generate}, llm)
        ledger.record(answer, Usage(100, 80, 5, "x", cost), ts=ts)
    groups = summarize(ledger.rows(), ("backend",))
    by_backend = {g["backend"]: g for g in groups}
    assert by_backend["extractive"]["queries"] == 2 and by_backend["extractive"]["generate_p50_ms"] == 2.0
    assert by_backend["openai:tiny-model"]["cost_total"] == 0.5 and by_backend["openai:tiny-model"]["unpriced"] == 1
    assert by_backend["openai:tiny-model"]["total_p95_ms"] == pytest.approx(10 + 100 + 0.95 * 200)

    per_day = cli.json("stats", "--json")  # the env fixture's index: tmp_path / "index"
    assert [(g["backend"], g["queries"]) for g in per_day] == [("extractive", 2), ("openai:tiny-model", 1), ("openai:tiny-model", 1)]
    text = cli("stats", code=0).out
    assert "extractive" in text and "total: 4 queries, $0.500000" in text and "(+1 unpriced)" in text
    monkeypatch.setenv("RAG_PERSIST_DIR", str(tmp_path / "empty"))
    assert "No queries recorded" in cli("stats", code=0).out


def test_cost_estimates_embedding_queries_and_finetuning(make_app, corpus: Path, price_file: Path, tmp_path: Path, monkeypatch, cli):
    app = make_app(llm="extractive")
    app.reindex([corpus])
    documents = app.vector_index().collection().get(include=["documents"])["documents"]
    corpus_tokens = sum(count_tokens(d) for d in documents)
    app.query("How long does a full charge take?", k=2)
    ledger_row = Ledger(Path(app.settings.persist_dir) / "ledger.sqlite3").rows()[0]
    app.close()

    examples = tmp_path / "train.jsonl"
    chats = [
        {"messages": [{"role": "user", "content": "How long is the warranty?"}, {"role": "assistant", "content": "Ten years."}]},
        {"question": "What does E01 mean?", "answer": "The battery is not detected."},
    ]
    examples.write_text("".join(json.dumps(c) + "\n" for c in chats))
    per_example = [
        count_tokens("How long is the warranty?", "o200k_base") + count_tokens("Ten years.", "o200k_base") + 2 * 3 + 3,
        count_tokens("What does E01 mean?", "o200k_base") + count_tokens("The battery is not detected.", "o200k_base") + 2 * 3 + 3,
    ]
    monkeypatch.setenv("RAG_PERSIST_DIR", app.settings.persist_dir)
    monkeypatch.setenv("RAG_EMBEDDINGS", "fake")
    monkeypatch.setenv("RAG_PRICES", str(price_file))
    result = cli.json("cost", "--json", "--queries-per-day", "100", "--finetune-examples", str(examples), "--epochs", "2")
    assert result["corpus"] == {"chunks": len(documents), "tokens": corpus_tokens}
    embedding = {row["model"]: row["cost"] for row in result["embedding"]}
    assert embedding["emb-x"] == pytest.approx(corpus_tokens / 1e6)
    profile = result["query_profile"]
    assert profile["source"].startswith("measured over 1") and profile["prompt_tokens"] == ledger_row["prompt_tokens"]
    tiny = next(row for row in result["backends"] if row["backend"] == "openai:tiny-model")
    expected = (ledger_row["prompt_tokens"] * 1.0 + ledger_row["completion_tokens"] * 2.0) / 1e6
    assert tiny["per_query"] == pytest.approx(expected) and tiny["per_month"] == pytest.approx(expected * 3000)
    ft = result["finetune"]
    assert ft["examples"] == 2 and ft["tokens_per_epoch"] == sum(per_example)
    run = next(r for r in ft["runs"] if r["model"] == "tiny-model")
    assert run["training_cost"] == pytest.approx(sum(per_example) * 2 * 10.0 / 1e6)

    text = cli("cost", code=0).out
    assert "One-time embedding cost" in text and "emb-x" in text and "Fine-tuning" not in text


def test_eval_asks_an_llm_judge_over_http(corpus: Path, chat_server: str, tmp_path: Path, monkeypatch, cli):
    monkeypatch.setenv("RAG_EMBEDDINGS", "fake")
    monkeypatch.setenv("OPENAI_BASE_URL", chat_server)
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"id": "w", "question": "How long is the warranty on an aluminium frame?", "answer": "10 years",
                              "sources": ["warranty.md"], "contexts": []}) + "\n")
    summary = cli.json("eval", str(qa), "--corpus", str(corpus), "--llm", "extractive", "--judge", "openai:tiny-model", "--json")["configs"][0]
    assert summary["judge_correct"] == 1.0 and summary["judge_faithful"] == 1.0
    assert summary["cost_per_query"] == 0.0  # the judge's tokens are not the answer's


@pytest.mark.slow
def test_local_backend_counts_with_its_own_tokenizer(make_app, corpus: Path):
    app = make_app(llm="local", max_tokens=24)
    app.reindex([corpus])
    answer = app.query("How long is the warranty on an aluminium frame?", k=2)
    llm = app.llm()
    # llama.cpp reports its own token counts (usage_metadata); ours, with the GGUF vocabulary, is kept beside them
    assert answer.usage["counted_by"] == "provider" and answer.usage["cost"] == 0.0
    # the quotes fallback may have replaced it; the [n] markers are the check's, not the model's words
    generated = strip_markers(answer.support.generated or answer.answer)
    assert abs(answer.usage["completion_tokens"] - llm.count_tokens(generated)) <= 2
    assert answer.usage["estimate_error"] is not None and abs(answer.usage["estimate_error"]) < 0.2
    assert answer.usage["prompt_tokens"] > answer.usage["context_tokens"] > 0


def test_query_json_reports_usage(env: Path, corpus: Path, tmp_path: Path, cli):
    cli("reindex", str(corpus), code=0)
    usage = cli.json("query", "What does error code E01 mean?", "--llm", "extractive", "--json")["usage"]
    assert usage["cost"] == 0.0 and usage["prompt_tokens"] > usage["context_tokens"] > 0
    assert len(Ledger(tmp_path / "index" / "ledger.sqlite3").rows()) == 1
