"""Follow-ups condensed by the rule (tiny, extractive and fake models): dialogues over data/.

Each dialogue lists its turns and, for the last turn, words the searched question must hold and
words it must not (the topic the follow-up replaced). The target is at least 90% right; the
misses are listed so a change that breaks one shows up.
"""

from __future__ import annotations

import pytest

from rag_app.answer.conversation import keyword_condense, looks_like_follow_up, standalone_history, split_question

# (turns, must hold, must not hold) -- over the sample documents in data/
DIALOGUES = [
    (["How long is the warranty on an aluminium frame?", "and the battery?"], {"battery", "warranty", "how long"}, {"aluminium", "frame"}),
    (["How long is the warranty on an aluminium frame?", "what about carbon frames?"], {"carbon", "frames", "warranty"}, {"aluminium"}),
    (["How long is the warranty on an aluminium frame?", "what about carbon frames?", "and the battery?"], {"battery", "warranty", "how long"}, {"carbon", "aluminium", "frame"}),
    (["How long are carbon frames covered?", "and what about aluminium ones?"], {"aluminium", "frames", "covered"}, {"carbon"}),
    (["How long is the warranty on an aluminium frame?", "and on carbon ones?"], {"carbon", "frame", "warranty"}, {"aluminium"}),
    (["How much does the Aero C cost?", "and the City 3?"], {"city 3", "cost"}, {"aero"}),
    (["What is the price of the City 3?", "and the Trail X?"], {"trail x", "price"}, {"city"}),
    (["How heavy is the Trail X?", "what about the e-Commuter?"], {"e-commuter", "how heavy"}, {"trail"}),
    (["How much does the Aero C weigh?", "and how much does it cost?"], {"aero c", "cost"}, {"weigh"}),
    (["Which service centres repair e-bikes?", "and which are open on Saturday?"], {"service", "centres", "saturday"}, set()),
    (["What are the opening hours of the Utrecht service centre?", "and in Rotterdam?"], {"rotterdam", "opening", "hours"}, {"utrecht"}),
    (["What is the phone number of the Amsterdam service centre?", "and its address?"], {"amsterdam", "address"}, {"phone"}),
    (["Where can I get my e-bike repaired in Utrecht?", "and in Groningen?"], {"groningen", "e-bike", "repaired"}, {"utrecht"}),
    (["Tell me about the e-Commuter battery", "Is it waterproof?"], {"e-commuter", "battery", "waterproof"}, {"tell"}),
    (["How far does the e-Commuter go on one charge?", "and in turbo mode?"], {"turbo", "e-commuter", "how far"}, set()),
    (["How often should I oil the chain?", "and the tyre pressure?"], {"tyre", "pressure"}, {"chain", "oil"}),
    (["How often should I replace the chain?", "and the brake pads?"], {"brake", "pads", "how often"}, {"chain"}),
    (["How long is the motor covered?", "what about the display?"], {"display", "how long", "covered"}, {"motor"}),
    (["What does error code E01 mean?", "and E02?"], {"e02", "error", "code"}, {"e01"}),
    (["Can I return a bike?", "how long do I have?"], {"return", "bike", "how long"}, set()),
    (["How long does delivery take?", "and to Germany?"], {"delivery", "germany"}, set()),
    (["Which bikes have an aluminium frame?", "and which of them is the cheapest?"], {"bikes", "aluminium", "cheapest"}, set()),
    (["How long is the battery covered?", "and the motor?", "what about the display?"], {"display", "covered", "how long"}, {"battery", "motor"}),
    (["How should I store the battery?", "for how long?"], {"store", "battery", "how long"}, set()),
]


def searched(turns: list[str]) -> str:
    return standalone_history(turns)


def right(turns: list[str], holds: set[str], lacks: set[str]) -> bool:
    text = searched(turns).lower()
    return all(w in text for w in holds) and not any(w in text for w in lacks)


def test_at_least_nine_in_ten_dialogues_search_the_right_topic():
    assert len(DIALOGUES) >= 20
    misses = [(t, searched(t)) for t, holds, lacks in DIALOGUES if not right(t, holds, lacks)]
    assert len(misses) <= len(DIALOGUES) // 10, f"{len(misses)} of {len(DIALOGUES)} wrong: {misses}"


@pytest.mark.parametrize("turns", [d[0] for d in DIALOGUES[:3]], ids=["battery", "carbon", "three-turn"])
def test_the_issues_dialogue_is_always_right(turns):
    holds, lacks = next((h, l) for t, h, l in DIALOGUES if t == turns)
    assert right(turns, holds, lacks), searched(turns)


def test_questions_that_stand_alone_are_left_alone():
    previous = "How long is the warranty on an aluminium frame?"
    for question in ["How far does the e-Commuter go on one charge?", "How many farms are there in Victoria?",
                     "battery storage", "Which service centres repair e-bikes?"]:
        assert not looks_like_follow_up(question), question
        assert keyword_condense(question, previous) == question


def test_a_question_splits_into_what_is_asked_and_its_topic():
    assert split_question("How long is the warranty on an aluminium frame?") == (["how long", "warranty"], ["aluminium", "frame"])
    assert split_question("Tell me about the e-Commuter battery") == ([], ["e-Commuter", "battery"])
