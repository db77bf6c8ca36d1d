"""Retrieval options, chain types and the prompt budget: each test fails if its option is ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from chains import combine
from chains.passages import merge_overlapping
from rag_app import ConfigError


@pytest.fixture
def app(make_app, corpus):
    app = make_app()
    app.reindex([corpus])
    return app


def ids(documents) -> list[str]:
    return [d.id for d in documents]


def test_k_sets_how_many_chunks_come_back(app):
    assert len(app.retrieve("battery charge", k=2)) == 2
    assert len(app.retrieve("battery charge", k=5)) == 5


def test_min_score_drops_less_similar_chunks(app):
    ranked = app.retrieve("How long does a full charge take?", k=8)
    scores = [d.metadata["score"] for d in ranked]
    threshold = (scores[1] + scores[-1]) / 2
    kept = app.retrieve("How long does a full charge take?", k=8, min_score=threshold)
    assert 0 < len(kept) < len(ranked)
    assert ids(kept) == [d.id for d in ranked if d.metadata["score"] >= threshold]


def test_where_globs_on_the_source_path(app, corpus: Path):
    csv_only = app.retrieve("service centre opening hours", k=4, where="source:*.csv")
    assert csv_only and all(d.metadata["source"].endswith(".csv") for d in csv_only)
    md_under_corpus = app.retrieve("warranty", k=10, where="source:corpus/*.md")
    assert md_under_corpus and {Path(d.metadata["source"]).name for d in md_under_corpus} == {"warranty.md"}
    unfiltered = app.retrieve("warranty", k=10)
    assert {Path(d.metadata["source"]).suffix for d in unfiltered} != {".md"}
    with pytest.raises(ConfigError, match="No indexed chunk has source matching"):
        app.retrieve("warranty", where="source:*.docx")
    with pytest.raises(ConfigError, match="FIELD:GLOB"):
        app.retrieve("warranty", where="nonsense")


@pytest.fixture
def duplicates(make_app, tmp_path: Path):
    docs = tmp_path / "dups"
    docs.mkdir()
    for name in "abc":
        (docs / f"{name}.txt").write_text("The battery charge takes four hours from empty.\n")
    (docs / "d.txt").write_text("Store the battery half charged in a cool place over winter.\n")
    (docs / "e.txt").write_text("Brake pads wear faster in wet weather.\n")
    app = make_app()
    app.reindex([docs])
    return app


def test_mmr_picks_diverse_chunks_where_plain_search_repeats_itself(duplicates):
    plain = duplicates.retrieve("battery charge hours", k=2)
    assert {d.page_content for d in plain} == {"The battery charge takes four hours from empty."}
    diverse = duplicates.retrieve("battery charge hours", k=2, mmr=True)
    assert len({d.page_content for d in diverse}) == 2
    assert diverse[0].page_content.startswith("The battery charge")  # still the most relevant first


@pytest.fixture
def keywords(make_app, tmp_path: Path):
    docs = tmp_path / "kw"
    docs.mkdir()
    (docs / "a.txt").write_text("what is it that the\n")  # stopwords only: close as vectors, no keywords
    (docs / "b.txt").write_text("what is it that the thing\n")
    (docs / "z.txt").write_text("A zygomorphic flower has bilateral symmetry and grows in gardens near rivers and lakes.\n")
    (docs / "f.txt").write_text("Brake pads wear faster in wet weather.\n")
    app = make_app()
    app.reindex([docs])
    return app, docs


def test_hybrid_fuses_keyword_ranking_with_vector_ranking(keywords):
    app, _ = keywords
    question = "what is it that the zygomorphic flower is"
    plain = app.retrieve(question, k=2, search="vector")
    assert not any("zygomorphic" in d.page_content for d in plain)  # vectors alone miss it
    hybrid = app.retrieve(question, k=2, hybrid=True)
    assert "zygomorphic" in hybrid[0].page_content
    assert [d.id for d in app.retrieve(question, k=2)] == [d.id for d in hybrid]  # hybrid is the default
    assert all(-1 <= d.metadata["score"] <= 1 for d in hybrid)  # still cosine similarity


def test_bm25_index_is_cached_and_rebuilt_when_the_collection_changes(keywords):
    app, docs = keywords
    app.retrieve("zygomorphic", hybrid=True)
    app.retrieve("flower", hybrid=True)
    assert app.searcher.corpus_builds == 1
    (docs / "n.txt").write_text("Quokkas are small marsupials.\n")
    app.reindex([docs])
    found = app.retrieve("quokkas marsupials", k=1, hybrid=True)
    assert app.searcher.corpus_builds == 2 and "Quokkas" in found[0].page_content


def test_mmr_and_hybrid_together_is_a_usage_error(app):
    with pytest.raises(ConfigError, match="one of --mmr and --hybrid"):
        app.retrieve("x", mmr=True, hybrid=True)


def test_map_reduce_asks_each_passage_then_combines(app):
    stuffed = app.query("battery charge", k=3)
    model = app.llm().model
    assert [n for _, n in model.calls] == [len(stuffed.sources)]
    model.calls.clear()
    answer = app.query("battery charge", k=3, chain="map_reduce")
    passages = len(answer.sources)
    assert passages == len(stuffed.sources) >= 2  # three chunks, overlapping ones of one file merged
    assert [n for _, n in model.calls] == [1] * passages + [passages]
    assert answer.answer.startswith("Fake answer")


def test_map_reduce_with_extractive_keeps_the_cited_sentence(make_app, corpus):
    app = make_app(llm="extractive")
    app.reindex([corpus])
    answer = app.query("How long does a full charge take?", k=6, chain="map_reduce")
    assert "4.5 hours" in answer.answer


def test_prompt_is_cut_to_the_context_window_dropping_lowest_ranked_first(make_app, corpus):
    question = "How long is the warranty on an aluminium frame?"
    wide = make_app()
    wide.reindex([corpus])
    ranked = merge_overlapping(wide.retrieve(question, k=4))  # the passages the model is offered
    backend = wide.llm()
    two, three = (combine.prompt_tokens(backend, question, ranked[:n]) for n in (2, 3))
    assert two < three
    narrow = make_app(context_window=50 + (two + three) // 2, max_tokens=50)
    answer = narrow.query(question, k=4)
    # the two best-ranked survive the cut, listed best score first
    kept = ids(sorted(ranked[:2], key=lambda d: -float(d.metadata["score"])))
    assert [s.chunk_id for s in answer.sources] == kept
    assert narrow.llm().model.calls[-1][1] == 2
    streamed = narrow.stream(question, k=4)
    assert "".join(streamed) and [s.chunk_id for s in streamed.sources] == kept


def test_a_single_passage_too_long_for_the_window_is_shortened(make_app, corpus):
    app = make_app(context_window=120, max_tokens=20)
    app.reindex([corpus])
    answer = app.query("How long is the warranty on an aluminium frame?", k=3)
    assert len(answer.sources) == 1
    backend = app.llm()
    assert combine.prompt_tokens(backend, answer.question, answer.documents) <= 100
    assert answer.documents[0].metadata.get("truncated") is True


def test_openai_counts_tokens_with_the_models_tiktoken_encoding():
    from chains import BackendOptions, create_llm
    from loaders.tokens import get_encoding

    backend = create_llm("openai:gpt-4o-mini", BackendOptions(api_key="sk-x"))
    text = "Zygomorphic flowers, ünïcode and numbers 12345."
    assert backend.count_tokens(text) == len(get_encoding("o200k_base").encode(text))
    assert backend.context_window == 128_000


# --- the CLI passes the flags through ------------------------------------------------------

@pytest.fixture
def indexed(env, corpus: Path, cli) -> None:
    cli("reindex", str(corpus), code=0)


def cli_query(cli, *argv: str) -> dict:
    return cli.json("query", *argv, "--json")


@pytest.mark.env(RAG_LLM="fake")
def test_cli_flags_reach_retrieval(indexed, cli):
    assert len(cli_query(cli, "battery", "--k", "2")["sources"]) == 2
    assert {Path(s["source"]).suffix for s in cli_query(cli, "battery", "--k", "6", "--where", "source:*.txt")["sources"]} == {".txt"}
    assert cli_query(cli, "battery", "--min-score", "0.999")["sources"] == []
    mmr = cli_query(cli, "battery", "--k", "3", "--mmr", "--fetch-k", "10")["sources"]
    hybrid = cli_query(cli, "battery", "--k", "3", "--hybrid")["sources"]
    assert len(mmr) == len(hybrid) == 3
    streamed = cli_query(cli, "battery", "--k", "2", "--stream", "--chain", "map_reduce")
    assert streamed["answer"].startswith("Fake answer") and len(streamed["sources"]) == 2


@pytest.mark.env(RAG_LLM="fake")
def test_cli_rejects_mmr_with_hybrid(indexed, cli):
    with pytest.raises(SystemExit) as info:
        cli("query", "battery", "--mmr", "--hybrid")
    assert info.value.code == 2


@pytest.mark.slow
def test_local_model_budget_uses_its_own_tokenizer_and_never_overflows(make_app, corpus):
    """Eight 200-token chunks do not fit SmolLM2 with n_ctx=512; without the budget llama.cpp refuses."""
    app = make_app(llm="local", context_window=512, max_tokens=32)
    app.reindex([corpus])
    answer = app.query("How long is the warranty on an aluminium frame?", k=8)
    backend = app.llm()
    assert 1 <= len(answer.sources) < 8
    used = combine.prompt_tokens(backend, answer.question, answer.documents)
    assert used <= 512 - 32
    one_more = merge_overlapping(app.retrieve(answer.question, k=8))[: len(answer.sources) + 1]
    assert combine.prompt_tokens(backend, answer.question, one_more) > 512 - 32  # the next chunk would not have fit
