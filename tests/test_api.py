"""The Python API: what is exported, and RetrievalQA compatibility."""

from __future__ import annotations

from pathlib import Path

import rag_app
from chains import available_llms, create_llm


def test_public_names_are_pinned():
    assert sorted(rag_app.__all__) == sorted(
        [
            "Answer", "ConfigError", "IndexMismatch", "IndexMissing", "LLMError", "LockBusy",
            "RagApp", "RagError", "Settings", "Source", "SourceMissing", "StreamingAnswer", "__version__",
        ]
    )


def test_query_returns_typed_answer_and_retrievalqa_view(make_app, corpus: Path):
    app = make_app(llm="extractive")
    app.reindex([corpus])
    answer = app.query("How long does a full charge take?", k=6)
    assert isinstance(answer, rag_app.Answer)
    assert answer.result == answer.answer and "4.5 hours" in answer.answer
    assert answer.source_documents and answer.source_documents[0].metadata["chunk_id"] == answer.sources[0].chunk_id
    legacy = app.qa_chain(k=6).invoke({"query": "How long does a full charge take?"})
    assert legacy["result"] == answer.answer
    assert [d.id for d in legacy["source_documents"]] == [d.id for d in answer.source_documents]


def test_streaming_yields_pieces_then_the_full_answer(make_app, corpus: Path):
    app = make_app()
    app.reindex([corpus])
    streaming = app.stream("battery", k=2)
    pieces = list(streaming)
    assert len(pieces) > 3
    assert streaming.result is not None and streaming.result.answer == "".join(pieces)


def test_settings_precedence_dotenv_env_overrides(tmp_path: Path, monkeypatch):
    dotenv = tmp_path / ".env"
    dotenv.write_text("RAG_K=7\nRAG_COLLECTION=from-dotenv\nRAG_LLM=extractive\n")
    monkeypatch.setenv("RAG_COLLECTION", "from-env")
    settings = rag_app.Settings.load(dotenv, llm="fake")
    assert (settings.k, settings.collection, settings.llm) == (7, "from-env", "fake")


def test_env_example_documents_every_setting():
    text = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    for env, default, _ in rag_app.Settings.describe():
        assert f"{env}=" in text, env


def test_registry_lists_backends_and_unknown_names_list_them():
    names = available_llms()
    assert {"local", "extractive", "openai", "fake"} <= set(names)
    import pytest

    from chains import UnknownBackend

    with pytest.raises(UnknownBackend, match="Available: .*extractive"):
        create_llm("nope")
