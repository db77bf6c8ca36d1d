"""Follow-up questions in the REPL: condensed with the history, :reset, bounded history."""

from __future__ import annotations

import io
from pathlib import Path

from rag_app.answer.conversation import CONDENSE_SYSTEM, Conversation, keyword_condense
from rag_app.cli.repl import Repl
from test_repl import scripted


def test_follow_ups_are_condensed_until_reset(make_app, corpus: Path):
    app = make_app()
    app.reindex([corpus])
    out = io.StringIO()
    lines = ["How long are carbon frames covered?", "and what about aluminium ones?", ":reset", "and what about aluminium ones?", "battery storage"]
    assert Repl(app, scripted(lines), out).run() == 0
    text = out.getvalue()
    condensed = "and what about aluminium ones? (how long covered frames)"  # carbon replaced, what was asked kept
    assert f"(searching: {condensed})" in text
    assert f"Fake answer to '{condensed}'" in text  # retrieval and answer used the standalone question
    assert "Conversation cleared." in text
    after_reset = text.split("Conversation cleared.")[1]
    assert "(searching:" not in after_reset and "Fake answer to 'and what about aluminium ones?'" in after_reset
    assert "Fake answer to 'battery storage'" in text  # a fresh question is left alone


def test_history_is_bounded():
    conversation = Conversation(max_turns=2)
    for n in range(5):
        conversation.add(f"q{n}", f"a{n}")
    assert list(conversation.turns) == [("q3", "a3"), ("q4", "a4")]


def test_repl_keeps_at_most_history_turns(make_app, corpus: Path):
    app = make_app(history_turns=1)
    app.reindex([corpus])
    repl = Repl(app, scripted(["frame warranty", "battery storage", "brake pads"]), io.StringIO())
    repl.run()
    assert [q for q, _ in repl.conversation.turns] == ["brake pads"]


def test_keyword_fallback_only_touches_follow_ups():
    assert keyword_condense("battery storage", "How long are carbon frames covered?") == "battery storage"
    assert keyword_condense("Is it waterproof?", "Tell me about the E-Commuter battery") == "Is it waterproof? (E-Commuter battery)"
    assert keyword_condense("and on saturday?", "Which service centres are open?") == "and on saturday? (which open service centres)"
    # a follow-up naming its own topic is not pulled back to the previous one
    assert keyword_condense("and what about the battery warranty?", "Who services bikes in Leeds?") == \
        "and what about the battery warranty?"


def test_generative_backends_condense_with_the_model(make_app, corpus: Path, stub_server):
    stub = stub_server(completion="How long is the aluminium frame warranty?")
    app = make_app(llm="openai", openai_base_url=f"{stub.url}/v1", openai_api_key="sk-test", max_retries=0)
    app.reindex([corpus])
    out = io.StringIO()
    Repl(app, scripted(["How long are carbon frames covered?", "and aluminium?"]), out).run()
    text = out.getvalue()
    assert "(searching: How long is the aluminium frame warranty?)" in text
    chats = [body for _, path, body in stub.requests if path.endswith("/chat/completions")]
    assert len(chats) == 3  # answer, condense, answer
    condense = chats[1]["messages"]
    assert condense[0]["content"] == CONDENSE_SYSTEM
    assert "User: How long are carbon frames covered?" in condense[1]["content"] and "and aluminium?" in condense[1]["content"]
    assert "Question: How long is the aluminium frame warranty?" in chats[2]["messages"][-1]["content"]


def test_repl_uses_the_retrieval_options_it_was_started_with(make_app, corpus: Path):
    app = make_app()
    app.reindex([corpus])
    out = io.StringIO()
    repl = Repl(app, scripted(["opening hours", "and on saturday?"]), out, options={"where": "source:*.csv", "mmr": None})
    repl.run()
    assert repl.last is not None and repl.last.sources
    assert all(s.source.endswith(".csv") for s in repl.last.sources)
