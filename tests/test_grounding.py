""""Supported" means the cited sentence states the claim: each changed fact is caught on sample text."""

from __future__ import annotations

import random

import pytest
from langchain_core.documents import Document

from chains.support import SupportChecker
from rag_app.embeddings import FakeEmbedder
from rag_app.measure.perturb import change_number, drop_qualifier, negate, stitch, swap_name

BIKES = Document(
    page_content=(
        "### Electric bikes\n\n"
        "The motor and the display of the Meridian Voyager are covered for 4 years.\n"
        "The battery is covered for 3 years or 900 full charge cycles, whichever comes first.\n"
        "A battery that still holds at least 75% of its capacity is working as designed."
    ),
    metadata={"source": "/docs/cover.md", "start_line": 30, "end_line": 34, "score": 0.71},
)
HISTORY = Document(
    page_content=(
        "Landing on the coast of Hispania in 218 BC, the Romans fought the Carthaginian garrisons for a decade. "
        "Adult female lynxes in any given forest usually weigh about 30% less than the males. "
        "The old fortress was rebuilt in 1412. It burned down in 1530."
    ),
    metadata={"source": "/docs/history.txt", "start_line": 1, "end_line": 1, "score": 0.55},
)
OTHER = Document(
    page_content="Traders from Gaul and Britannia reached the harbour of Tarraco every summer.",
    metadata={"source": "/docs/trade.txt", "start_line": 5, "end_line": 5, "score": 0.4},
)
DOCS = [BIKES, HISTORY, OTHER]


def check(answer: str, question: str = "What do the documents say?"):
    return SupportChecker(FakeEmbedder().embed_documents).check(question, answer, DOCS)


def verdict(answer: str, question: str = "What do the documents say?") -> str:
    return check(answer, question).sentences[0].verdict


def test_a_number_from_the_next_line_is_caught_and_the_right_line_is_cited():
    stitched = check("The motor and the display of the Meridian Voyager are covered for 3 years.",
                     "How long is the motor of the Voyager covered?")
    sentence = stitched.sentences[0]
    assert stitched.status == "unsupported" and sentence.missing == ("3",)
    assert "[1]" not in stitched.cited_text and stitched.cited_text.endswith("[unsupported]")

    battery = check("The battery is covered for 3 years.", "How long is the battery covered?").sentences[0]
    assert battery.verdict == "supported"
    assert battery.citations[0].start_line == battery.citations[0].end_line == 33  # the battery's line, not the motor's


def test_the_place_of_a_landing_is_not_borrowed_from_another_passage():
    assert verdict("The Romans arrived in Britannia in 218 BC.") == "unsupported"  # Britannia: another passage
    assert verdict("The Romans arrived in Gaul in 218 BC.") == "unsupported"
    assert verdict("The Romans landed on the coast of Hispania in 218 BC.") == "supported"
    assert verdict("The Romans landed on the coast of Hispania in 217 BC.") == "unsupported"


def test_negation_on_one_side_only_breaks_support_and_an_antonym_too():
    assert verdict("The battery is not covered for 3 years or 900 full charge cycles.") == "unsupported"
    assert verdict("The old fortress was not rebuilt in 1412.") == "unsupported"
    assert verdict("The old fortress was rebuilt after 1412.") == "supported"  # "after" alone says nothing opposite
    assert verdict("Adult female lynxes in any given forest usually weigh about 30% more than the males.") == "unsupported"


def test_a_qualifier_or_subject_dropped_is_at_most_partial():
    assert verdict("Lynxes weigh about 30% less than the males.") == "partial"
    assert verdict("Adult female lynxes in any given forest weigh about 30% less than the males.") == "partial"  # "usually"
    assert verdict("The Romans fought the Carthaginian garrisons for a decade.") == "partial"  # the landing left out
    assert verdict("Only the battery is covered for 3 years or 900 full charge cycles.") == "partial"


def test_two_sentences_stitched_are_not_support_but_a_continuing_one_is():
    assert verdict("The motor and the display of the Meridian Voyager are covered for 900 full charge cycles.") == "unsupported"
    joined = check("The old fortress was rebuilt in 1412 and burned down in 1530.").sentences[0]
    assert joined.verdict == "supported"  # "It burned down" continues the fortress sentence
    assert (joined.citations[0].start_line, joined.citations[0].end_line) == (1, 1)


@pytest.mark.parametrize("answer", [
    "The battery is covered for three years or 900 full charge cycles, whichever comes first.",
    "The battery is covered for 3 yrs or 900 full charge cycles, whichever comes first.",
    "The battery has 3-year cover or 900 full charge cycles, whichever comes first.",
])
def test_numbers_as_words_and_units_in_other_forms_match(answer):
    assert verdict(answer) in {"supported", "partial"}
    assert check(answer).sentences[0].missing == ()


def test_a_supported_quote_stays_supported_and_cites_exactly_its_sentence():
    for doc in DOCS:
        from chains.support import passage_spans

        for span in passage_spans([doc]):
            if len(span.text.split()) < 4:
                continue
            got = check(span.text).sentences[0]
            assert got.verdict == "supported", span.text
            cited = got.citations[0]
            assert cited.text == span.text and cited.start_line == span.citation.start_line


def test_each_perturbation_kind_on_sample_sentences_is_caught():
    rng = random.Random(3)
    motor = "The motor and the display of the Meridian Voyager are covered for 4 years."
    battery = "The battery is covered for 3 years or 900 full charge cycles, whichever comes first."
    landing = "Landing on the coast of Hispania in 218 BC, the Romans fought the Carthaginian garrisons for a decade."
    made = {
        "number": change_number(motor, rng),
        "name_corpus": swap_name(motor, ["Gaul"], rng),
        "name_retrieved": swap_name(landing, ["Tarraco"], rng),
        "negation": negate(battery),
        "qualifier": drop_qualifier(landing, rng),
        "stitched": stitch(motor, battery),
    }
    assert all(made.values()), made
    for kind, claim in made.items():
        assert claim != motor and verdict(claim) != "supported", (kind, claim)
    assert verdict(motor) == "supported"


@pytest.mark.parametrize("answer", [
    "", "   ", "[1] [2]", "1. 2. -", "- \n- \n", "[unsupported]",
    "Die Batterie ist für 3 Jahre versichert.", "电池保修三年。", "Батарея покрыта на 3 года.",
    "ten years", "10 yrs", "10-year", "The 3.11.2 release of 192.0.2.1 is -1.",
    "The battery " * 2500,
])
def test_bad_input_is_checked_without_error(answer):
    support = SupportChecker(FakeEmbedder().embed_documents).check("How long?", answer, DOCS)
    assert support.status in {"supported", "partial", "unsupported", "abstained"}
    assert isinstance(support.cited_text, str) and isinstance(support.marked_text, str)


def test_the_optional_llm_judge_can_only_take_support_away(make_app, corpus):
    from langchain_core.language_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from rag_app import ConfigError

    said = "Aluminium frames are covered for 10 years."  # a paraphrase: a verbatim quote needs no judge
    replies = [AIMessage(content=said), AIMessage(content="No."), AIMessage(content=said), AIMessage(content="Yes.")]
    app = make_app(llm=GenericFakeChatModel(messages=iter(replies)), support_judge="llm")
    app.reindex([corpus])
    judged_no = app.query("How long are aluminium frames covered?").support.sentences[0]
    assert judged_no.verdict == "partial" and "LLM judge" in judged_no.reasons[-1]
    assert app.query("How long are aluminium frames covered?").support.status == "supported"
    with pytest.raises(ConfigError, match="RAG_SUPPORT_JUDGE=llm needs a chat model"):
        make_app(llm="extractive", support_judge="llm").query("How long are aluminium frames covered?")
