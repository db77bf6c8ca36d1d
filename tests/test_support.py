"""Answers you can trust: per-sentence citations, unsupported claims, "not in the documents"."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from langchain_core.documents import Document

from chains.support import DROPPED_TEXT, FALLBACK_NOTE, NOT_IN_DOCUMENTS_TEXT, SupportChecker, strip_markers
from helpers import DATA
from rag_app import ConfigError, RagApp, Settings
from rag_app.embeddings import FakeEmbedder
from rag_app.cli.repl import Repl

QUESTION = "How long are aluminium frames covered?"
PASSAGES = [
    Document(
        page_content=(
            "### Frame and fork\n\n"
            "The aluminium and steel frames are covered against manufacturing defects for 10 years.\n"
            "Carbon frames and all forks are covered for 5 years.\n"
            "Damage from crashes, racing or jumps is not covered."
        ),
        metadata={"source": "/docs/warranty.md", "start_line": 8, "end_line": 12, "score": 0.69},
    ),
    Document(
        page_content="Store the battery at 40 to 60 percent charge.\nA full charge takes 4.5 hours.",
        metadata={"source": "/docs/battery.md", "start_line": 20, "end_line": 21, "score": 0.41},
    ),
]


class CountingEmbedder(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def _embed(self, texts: list[str]) -> list[list[float]]:
        self.batches.append(len(texts))
        return super()._embed(texts)


def checker(mode: str = "flag", embedder: FakeEmbedder | None = None) -> SupportChecker:
    return SupportChecker((embedder or FakeEmbedder()).embed_documents, mode=mode)


def test_each_sentence_is_matched_to_its_supporting_line():
    embedder = CountingEmbedder()
    answer = (
        "The aluminium and steel frames are covered for 10 years against manufacturing defects [2]. "
        "Carbon frames are covered for 7 years. "
        "Frames are hand painted by Picasso in Madrid. "
        "Crash and racing damage is excluded from the cover."
    )
    support = checker(embedder=embedder).check(QUESTION, answer, PASSAGES)
    good, wrong_number, made_up, paraphrase = support.sentences
    assert good.supported and good.score >= 0.5
    citation = good.citations[0]
    # Passage 1 starts at line 8; the supporting sentence is two newlines further down.
    assert (citation.passage, citation.source, citation.start_line, citation.end_line) == (1, "/docs/warranty.md", 10, 10)
    assert citation.text.startswith("The aluminium and steel frames")
    assert not wrong_number.supported and wrong_number.missing == ("7",)
    assert not made_up.supported and set(made_up.missing) == {"madrid", "picasso"}
    assert support.status == "partial" and 0 < support.score < good.score
    # The backend's own marker is replaced by the canonical one; unsupported sentences are flagged.
    assert support.cited_text == (
        "The aluminium and steel frames are covered for 10 years against manufacturing defects. [1] "
        "Carbon frames are covered for 7 years. [unsupported] "
        "Frames are hand painted by Picasso in Madrid. [unsupported] "
        "Crash and racing damage is excluded from the cover. [1]"
    )
    # Words alone settle the first three; the paraphrase needs the embedding model: one call.
    assert paraphrase.supported and paraphrase.citations[0].start_line == 12
    assert len(embedder.batches) == 1


def test_a_verbatim_quote_needs_no_embedding_and_a_fragment_is_judged_with_its_question():
    embedder = CountingEmbedder()
    quote = checker(embedder=embedder).check(QUESTION, "A full charge takes 4.5 hours. [1]", PASSAGES)
    assert quote.status == "supported" and quote.sentences[0].citations[0].passage == 2
    assert quote.sentences[0].citations[0].start_line == 21 and embedder.batches == []
    assert checker().check(QUESTION, "10 years.", PASSAGES).status == "supported"
    assert checker().check(QUESTION, "12 years.", PASSAGES).status == "unsupported"


def test_markers_of_every_shape_are_stripped():
    assert strip_markers("A [1]. B [2, 3] C [?] D [unsupported].") == "A. B C D."


@pytest.mark.parametrize(
    "answer", ["I don't know: the documents do not say.", "The context does not mention it."]
)
def test_saying_the_documents_do_not_answer_is_not_flagged(answer):
    text, support = checker("drop").finish(QUESTION, answer, PASSAGES)
    assert text == answer and support.status == "abstained" and support.action == "none"


def test_the_three_modes_for_a_wholly_unsupported_answer():
    made_up = "Frames are hand painted by Picasso in Madrid."
    text, support = checker("flag").finish(QUESTION, made_up, PASSAGES)
    assert text == made_up and (support.status, support.action) == ("unsupported", "flag")
    assert support.cited_text.endswith("[unsupported]") and support.generated is None

    text, support = checker("fallback").finish(QUESTION, made_up, PASSAGES)
    assert support.action == "fallback" and support.note == FALLBACK_NOTE and support.generated == made_up
    assert "10 years" in text and "[1]" in text
    assert support.quotes and all(q.supported for q in support.quotes)
    assert support.quotes[0].citations[0].start_line == 10

    text, support = checker("drop").finish(QUESTION, made_up, PASSAGES)
    assert text == DROPPED_TEXT and support.action == "drop" and support.generated == made_up


def test_a_partly_supported_answer_is_shown_marked_in_every_mode():
    answer = "Aluminium frames are covered against manufacturing defects for 10 years. Frames are painted by Picasso."
    for mode in ("flag", "fallback", "drop"):
        text, support = checker(mode).finish(QUESTION, answer, PASSAGES)
        assert text == "Aluminium frames are covered against manufacturing defects for 10 years. [1] Frames are painted by Picasso."
        assert support.action == "flag" and len(support.unsupported) == 1


def test_irrelevant_question_is_answered_without_calling_the_backend(make_app, corpus: Path):
    app = make_app(min_relevance="0.99")
    app.reindex([corpus])
    backend = app.llm().model
    answer = app.query("battery storage")
    assert answer.answer == NOT_IN_DOCUMENTS_TEXT and answer.support.action == "not_in_documents"
    streaming = app.stream("battery storage")
    assert "".join(streaming) == NOT_IN_DOCUMENTS_TEXT
    assert streaming.result.support.status == "not_in_documents"
    assert backend.calls == []  # the LLM was never asked
    assert answer.sources  # the closest passages are still shown

    relevant = make_app(min_relevance="0")
    relevant.query("battery storage")
    assert len(relevant.llm().model.calls) == 1


def test_streaming_and_query_agree_on_support(make_app, corpus: Path):
    app = make_app(llm="extractive")
    app.reindex([corpus])
    answer = app.query("How long does a full charge take?")
    streaming = app.stream("How long does a full charge take?")
    list(streaming)
    assert answer.support.status == streaming.result.support.status == "supported"
    assert answer.support.to_dict()["sentences"] == streaming.result.support.to_dict()["sentences"]


def test_settings_reject_unknown_modes_and_thresholds(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAG_UNSUPPORTED", "hide")
    with pytest.raises(ConfigError, match="RAG_UNSUPPORTED must be"):
        Settings.load(None)
    monkeypatch.delenv("RAG_UNSUPPORTED")
    monkeypatch.setenv("RAG_MIN_RELEVANCE", "high")
    with pytest.raises(ConfigError, match="RAG_MIN_RELEVANCE must be"):
        Settings.load(None)


def test_auto_mode_falls_back_only_for_the_local_model(make_app):
    from rag_app.answer.support import min_relevance, unsupported_mode

    app = make_app()
    assert unsupported_mode(app.settings, app.llm("fake")) == "flag"
    assert unsupported_mode(app.settings.with_overrides(unsupported="drop"), app.llm("fake")) == "drop"

    from chains import LLM

    inventive = LLM(label="local:tiny.gguf", quotes_when_unsupported=True)  # what the local factory sets
    assert unsupported_mode(app.settings, inventive) == "fallback"
    assert min_relevance(app.settings, app.embedder) == 0.0  # not calibrated for fake embeddings


def test_cli_json_has_per_sentence_citations_and_scores(env, corpus, cli):
    cli("reindex", str(corpus), code=0)
    answer = cli.json("query", "How long does a full charge take?", "--llm", "extractive", "--json")
    assert {"answer", "sources", "timings_ms", "llm", "cited_answer", "support"} <= set(answer)
    support = answer["support"]
    assert support["status"] == "supported" and support["action"] == "none"
    assert 0.5 <= support["score"] <= 1 and support["threshold"] == 0.5
    sentence = support["sentences"][0]
    assert sentence["supported"] and sentence["score"] >= 0.5 and sentence["missing"] == []
    citation = sentence["citations"][0]
    assert {"passage", "source", "start_line", "end_line", "score", "text"} == set(citation)
    source = answer["sources"][citation["passage"] - 1]
    assert citation["source"] == source["source"]
    assert source["start_line"] <= citation["start_line"] <= citation["end_line"] <= source["end_line"]
    assert citation["text"] in " ".join(source["text"].split())


def test_cli_human_output_marks_and_lists_unsupported_sentences(env, corpus, cli):
    cli("reindex", str(corpus))
    out = cli("query", "How long does a full charge take?", "--llm", "extractive", code=0).out
    answer, sources = out.split("\n\nSources:\n")
    assert answer.endswith("[1]") and "Not supported" not in out
    first = sources.splitlines()
    assert first[0].startswith("  [1] ") and first[1].lstrip().startswith("“")

    out = cli("query", "How long does a full charge take?", "--llm", "fake", code=0).out
    assert "[unsupported]" in out and "\n\nNot supported by the sources:\n  - Fake answer to" in out

    out = cli("query", "How long does a full charge take?", "--llm", "fake", "--unsupported", "drop", "--stream", code=0).out
    assert out.startswith("Fake answer to") and DROPPED_TEXT in out

    answer = cli.json("query", "How long does a full charge take?", "--llm", "fake", "--min-relevance", "0.99", "--json")
    assert answer["support"]["status"] == "not_in_documents" and answer["answer"] == NOT_IN_DOCUMENTS_TEXT


def test_repl_why_shows_the_supporting_spans(make_app, corpus: Path):
    from test_repl import scripted

    app = make_app(llm="extractive")
    app.reindex([corpus])
    out = io.StringIO()
    Repl(app, scripted([":why", "How long does a full charge take?", ":why", ":llm fake", "battery storage", ":why"]), out).run()
    text = out.getvalue()
    assert "No answer yet." in text
    # the extractive answer: supported, with the file, line and quoted text
    assert "supported (1.00) by [1] " in text and ".md:" in text and "“" in text
    assert "Support 1.00 (a sentence needs 0.50): supported." in text
    # the fake answer: flagged after it is streamed, and :why says why
    assert "Not supported by the sources:\n  - Fake answer to 'battery storage'" in text
    assert "NOT supported" in text and "closest is [" in text and "Support 0." in text


@pytest.mark.slow
def test_real_minilm_flags_a_wrong_number_and_skips_the_llm_for_irrelevant_questions(tmp_path: Path):
    with RagApp(Settings(), persist_dir=str(tmp_path / "idx"), llm="fake") as app:
        app.reindex([DATA])
        question = "How long is the warranty on an aluminium frame?"
        documents = app.retrieve(question)
        check = app.support_checker()
        right = check.check(question, "The aluminium frame is covered for 10 years against defects.", documents)
        assert right.status == "supported", right.to_dict()
        cited = right.sentences[0].citations[0]
        assert Path(cited.source).name == "warranty.md" and cited.start_line == cited.end_line == 10
        assert check.check(question, "The aluminium frame is covered for 25 years.", documents).status == "unsupported"
        assert check.check(question, "Frames are painted by Picasso in Madrid.", documents).status == "unsupported"

        answer = app.query("What is the capital of Peru?")
        assert answer.support.status == "not_in_documents" and app.llm().model.calls == []
        app.query(question)
        assert len(app.llm().model.calls) == 1
