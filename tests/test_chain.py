"""One LCEL chain answers every way you ask; any LangChain chat model plugs in."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from chains.passages import merge_overlapping
from chains.support import strip_markers
from rag_app import RagApp, Settings
from rag_app.cli.repl import Repl

QUESTION = "How long is the warranty on an aluminium frame?"


@pytest.fixture
def indexed(make_app, corpus: Path) -> Path:
    make_app().reindex([corpus])
    return corpus


def ids(documents: list[Document]) -> list[str]:
    return [d.metadata["chunk_id"] for d in documents]


@pytest.mark.env(RAG_LLM="fake")
def test_every_entry_point_gives_the_same_answer_and_streams_tokens(make_app, indexed, env, cli, tmp_path):
    app = make_app()
    answer = app.query(QUESTION, k=3)
    expected, sources = answer.answer, ids(answer.documents)
    assert expected.startswith("Fake answer") and sources

    streaming = app.stream(QUESTION, k=3)
    pieces = list(streaming)
    assert len(pieces) >= 5 and "".join(pieces).strip() == expected
    assert streaming.result.answer == expected and ids(streaming.result.documents) == sources

    batched = app.batch([QUESTION, QUESTION], k=3)
    assert [a.answer for a in batched] == [expected, expected]
    assert asyncio.run(app.aquery(QUESTION, k=3)).answer == expected

    async def astream() -> list[str]:
        return [c["token"] async for c in app.chain(k=3).astream({"question": QUESTION}) if "token" in c]

    async_pieces = asyncio.run(astream())
    assert len(async_pieces) >= 5 and "".join(async_pieces).strip() == expected

    qa = app.qa_chain(k=3)
    result = qa.invoke({"query": QUESTION})
    assert result["result"] == expected and ids(result["source_documents"]) == sources
    chunks = list(qa.stream({"query": QUESTION}))
    tokens = [c["result"] for c in chunks if "result" in c]
    assert len(tokens) >= 5 and "".join(tokens).strip() == expected
    assert ids(chunks[-1]["source_documents"]) == sources

    assert app.settings.persist_dir == str(env / "index")  # the CLI reads the index the app wrote
    printed = cli.json("query", QUESTION, "--k", "3", "--json")
    assert printed["answer"] == expected and [s["chunk_id"] for s in printed["sources"]] == sources
    assert cli("query", QUESTION, "--k", "3", "--stream", code=0).out.split("\n\n")[0] == expected

    out = io.StringIO()
    lines = iter([QUESTION, ":quit"])
    repl = Repl(app, input_fn=lambda prompt: next(lines), out=out)
    repl.k = 3
    repl.run()
    transcript = out.getvalue()
    assert expected in transcript and "Sources:" in transcript


def test_a_langchain_chat_model_plugs_in_by_instance(indexed, tmp_path: Path, make_app):
    persist = make_app().settings.persist_dir
    reply = "The aluminium and steel frames are covered for 10 years."
    model = GenericFakeChatModel(messages=iter([AIMessage(content=reply), AIMessage(content=reply)]))
    app = RagApp(Settings(), llm=model, persist_dir=persist, embeddings="fake")
    answer = app.query(QUESTION)
    assert strip_markers(answer.answer) == reply and answer.sources  # the check adds its own [n]
    assert answer.llm.startswith("GenericFakeChatModel") or "generic" in answer.llm.lower()
    pieces = list(app.stream(QUESTION))
    assert len(pieces) > 3 and "".join(pieces) == answer.answer  # GenericFakeChatModel streams word by word
    assert app.llm("extractive").label == "extractive"  # names still work beside the instance

    again = RagApp.from_env(None, llm=GenericFakeChatModel(messages=iter(["Ten years."])), persist_dir=persist,
                            embeddings="fake")
    assert strip_markers(again.query(QUESTION).answer) == "Ten years."


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.events: list[str] = []
        self.usage: list[dict[str, int]] = []

    def on_retriever_start(self, serialized: Any, query: str, **kwargs: Any) -> None:
        self.events.append("retriever")

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.events.append("chat_model")

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        for generation in response.generations[0]:
            usage = getattr(generation.message, "usage_metadata", None)
            if usage:
                self.usage.append(dict(usage))


def test_callbacks_see_the_retriever_and_the_chat_model_with_its_usage(indexed, make_app):
    persist = make_app().settings.persist_dir
    reported = {"input_tokens": 321, "output_tokens": 7, "total_tokens": 328}
    model = GenericFakeChatModel(messages=iter([AIMessage(content="Ten years.", usage_metadata=reported)]))
    app = RagApp(Settings(), llm=model, persist_dir=persist, embeddings="fake")
    recorder = Recorder()
    answer = app.query(QUESTION, config={"callbacks": [recorder]})
    assert recorder.events == ["retriever", "chat_model"]
    assert recorder.usage == [reported]
    assert answer.usage["counted_by"] == "provider"
    assert (answer.usage["prompt_tokens"], answer.usage["completion_tokens"]) == (321, 7)
    assert answer.usage["estimate_error"] is not None  # our own count, kept beside the provider's


def test_a_provider_whose_package_is_missing_is_one_line(indexed, make_app, env, monkeypatch, cli):
    assert make_app().settings.persist_dir == str(env / "index")
    monkeypatch.setitem(__import__("sys").modules, "langchain_anthropic", None)
    err = cli("query", QUESTION, "--llm", "anthropic:claude-3-5-haiku-latest", code=1).err.strip()
    assert "pip install langchain-anthropic" in err and len(err.splitlines()) == 1 and "Traceback" not in err
    err = cli("query", QUESTION, "--llm", "nope:model", code=1).err.strip()
    assert "LLM backend 'nope' is not known" in err and "google_genai" in err and "extractive" in err


def test_the_index_is_a_langchain_vectorstore(indexed, make_app):
    app = make_app()
    store = app.vectorstore()
    found = store.similarity_search("battery charge", k=3)
    ours = app.retrieve("battery charge", k=3, search="vector")  # exact cosine; Chroma's HNSW on a small set agrees
    assert [d.page_content for d in found] == [d.page_content for d in ours]
    mmr = store.as_retriever(search_type="mmr", search_kwargs={"k": 2}).invoke("battery charge")
    assert len(mmr) == 2 and all(d.metadata["source"] for d in mmr)


def test_sources_are_the_passages_the_model_saw_with_overlaps_merged(make_app, tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    filler = [f"Line {i}: the shop in Utrecht sells saddle model {i} in several colours." for i in range(40)]
    topic = [f"Line {i}: the service centre in Leeds checks battery cell {i} for wear." for i in range(40, 52)]
    (docs / "service.txt").write_text("\n".join(filler[:20] + topic + filler[20:]) + "\n")
    app = make_app(chunk_size=64, chunk_overlap=24)
    app.reindex([docs])
    retrieved = app.retrieve("battery cell wear Leeds", k=6)
    answer = app.query("battery cell wear Leeds", k=6)
    spans = [(s.source, s.start_line, s.end_line) for s in answer.sources]
    for i, (source, start, end) in enumerate(spans):  # no two sources share a line of one file
        assert not any(s == source and start <= e and b <= end for s, b, e in spans[i + 1:])
    assert len(answer.sources) < len(retrieved)
    assert app.llm().model.calls[-1][1] == len(answer.sources)  # the model saw exactly those


def test_merge_overlapping_joins_the_shared_text_once():
    a = Document(page_content="one two three\nfour five six", metadata={"source": "f.txt", "start_line": 1, "end_line": 2, "chunk_id": "a"})
    b = Document(page_content="four five six\nseven eight", metadata={"source": "f.txt", "start_line": 2, "end_line": 3, "chunk_id": "b"})
    c = Document(page_content="elsewhere", metadata={"source": "g.txt", "start_line": 2, "end_line": 3, "chunk_id": "c"})
    merged = merge_overlapping([b, c, a])
    assert [d.metadata["chunk_id"] for d in merged] == ["b", "c"]
    assert merged[0].page_content == "one two three\nfour five six\nseven eight"
    assert (merged[0].metadata["start_line"], merged[0].metadata["end_line"]) == (1, 3)


def test_a_rewrite_that_drops_the_question_is_not_used(make_app):
    from rag_app.answer.conversation import condense

    bad = GenericFakeChatModel(messages=iter(["1. Northwind Bikes - Frequently asked questions"]))
    app = RagApp(Settings(), llm=bad, persist_dir=make_app().settings.persist_dir, embeddings="fake")
    history = [("Who services bikes in Leeds?", "Northwind's Leeds workshop.")]
    searched = condense(app.llm(), "and what about the battery warranty?", history)
    assert searched == "and what about the battery warranty?"  # names its own topic: searched as typed
    bad = GenericFakeChatModel(messages=iter(["1. Northwind Bikes - Frequently asked questions"]))
    app = RagApp(Settings(), llm=bad, persist_dir=make_app().settings.persist_dir, embeddings="fake")
    assert condense(app.llm(), "and what about them?", history) == "and what about them? (services bikes Leeds)"

    good = GenericFakeChatModel(messages=iter(["What is the battery warranty for bikes serviced in Leeds?"]))
    app = RagApp(Settings(), llm=good, persist_dir=make_app().settings.persist_dir, embeddings="fake")
    assert condense(app.llm(), "and what about the battery warranty?", history) == \
        "What is the battery warranty for bikes serviced in Leeds?"


def test_list_markers_are_not_claims():
    from chains.support import SupportChecker

    passage = Document(page_content="The aluminium frame is covered for 10 years. The battery is covered for 2 years.",
                       metadata={"source": "w.md", "start_line": 1, "end_line": 1})
    checker = SupportChecker(lambda texts: [[1.0, 0.0] for _ in texts])
    support = checker.check("warranty?", "1. The aluminium frame is covered for 10 years.\n2. The battery is covered for 2 years.", [passage])
    assert support.status == "supported" and [s.supported for s in support.sentences] == [True, True]
    assert all(not s.text.strip().rstrip(".").isdigit() for s in support.sentences)


def test_a_models_turn_wraps_only_its_generation(indexed, make_app):
    """A server serialises a model that cannot run twice at once: retrieval must not wait for it."""
    from contextlib import contextmanager

    app = make_app()
    events: list[str] = []

    @contextmanager
    def turn():
        events.append("turn")
        yield
        events.append("done")

    class Seen(Recorder):
        def on_retriever_start(self, serialized: Any, query: str, **kwargs: Any) -> None:
            events.append("retriever")

        def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
            events.append("chat_model")

    app.take_turns("fake", turn)
    app.query(QUESTION, config={"callbacks": [Seen()]})
    assert events == ["retriever", "turn", "chat_model", "done"]
    events.clear()
    streaming = app.stream(QUESTION, config={"callbacks": [Seen()]})
    assert events == ["retriever"] and streaming.sources  # retrieved when asked, before any turn
    list(streaming)
    assert events == ["retriever", "turn", "chat_model", "done"]
