"""The advisor: recommendations follow from the answers, and every answer gives its reason."""

from __future__ import annotations


import pytest

from rag_app.tuning.advise import CRITERIA, advise, interview
from rag_app.errors import ConfigError


def test_fresh_facts_with_sources_is_rag():
    advice = advise({"need": "knowledge", "changes": "daily", "attribution": "yes", "update": "immediate"})
    assert advice.recommendation == "rag"
    assert advice.scores == {"rag": 12, "finetune": 0}
    assert [r[0] for r in advice.reasons] == ["need", "changes", "attribution", "update"]


def test_a_house_style_on_static_data_is_fine_tuning():
    advice = advise({"need": "style", "changes": "never", "size": "small", "attribution": "no",
                     "latency": "tight", "cost": "upfront", "update": "rarely"})
    assert advice.recommendation == "finetune"
    assert advice.scores["finetune"] > advice.scores["rag"] == 0


def test_style_and_knowledge_is_hybrid():
    assert advise({"need": "both"}).recommendation == "hybrid"
    # style wanted, but the answers must cite sources and stay fresh: the facts come from retrieval
    advice = advise({"need": "style", "attribution": "yes", "changes": "weekly"})
    assert advice.recommendation == "hybrid"
    assert any("cite" in r[4] for r in advice.reasons)


def test_static_small_knowledge_on_a_tight_budget_can_be_fine_tuned():
    advice = advise({"changes": "never", "size": "small", "latency": "tight", "cost": "upfront", "update": "rarely"})
    assert advice.recommendation == "finetune"


def test_a_wrong_answer_names_the_choices():
    with pytest.raises(ConfigError, match="--changes must be one of never, monthly, weekly, daily"):
        advise({"changes": "hourly"})


def test_interview_asks_what_flags_left_open():
    replies = iter(["sty", "bogus", "large", "y", "", "", ""])
    said: list[str] = []
    answers = interview({"changes": "daily"}, ask=lambda prompt: (said.append(prompt), next(replies))[1],
                        out=said.append)
    assert answers == {"need": "style", "changes": "daily", "size": "large", "attribution": "yes",
                       "latency": None, "cost": None, "update": None}
    assert any("please answer one of: small, medium, large" in line for line in said)
    assert sum(line.startswith("How much knowledge") for line in said) == 2
    assert not any(line.startswith("How often does the data change") for line in said)


def test_cli_flags_and_json(cli):
    out = cli.json("advise", "--need", "both", "--attribution", "yes", "--no-input", "--json")
    assert out["recommendation"] == "hybrid"
    assert {r["criterion"] for r in out["reasons"]} == {"need", "attribution"}
    text = cli("advise", "--need", "knowledge", "--no-input", code=0).out
    assert text.startswith("Recommendation: RAG") and "need=knowledge" in text and "rag-app reindex" in text


def test_every_choice_has_a_rule_or_is_deliberately_neutral():
    from rag_app.tuning.advise import RULES

    neutral = {("attribution", "no"), ("latency", "moderate"), ("cost", "either")}
    for criterion in CRITERIA:
        for value in criterion.choices:
            assert (criterion.name, value) in RULES or (criterion.name, value) in neutral
