"""The change step's facts: found in any corpus, replaced by a value of the same kind taken from the corpus."""

from __future__ import annotations

import random

from rag_app.measure.dynamic import plan_edits
from rag_app.measure.facts import ValuePool, find_all, kind, locate
from rag_app.measure.qa_sets import QAItem

FILES = {
    "harbour.txt": "Harbour\n\nThe Kestrel harbour opened on 4 March 1871. Its pier is 412 metres long.\n\n"
                   "It was designed by Edwin Marsh, an engineer from Hull.\n",
    "mill.txt": "Mill\n\nThe Dunmore mill opened on 19 August 1903 and employed 235 people. It was run by "
                "Agnes Pollard until 1922.\n",
    "faq.txt": "Why is the bridge red?\n\nThe paint was chosen in 1954 by the engineer Otto Brenner, because red "
               "lead primer was cheap.\nIt has been repainted every 7 years since.\n",
}


def test_kinds_and_case_whitespace_insensitive_search():
    assert [kind(v) for v in ("4 March 1871", "1871", "412 metres", "Edwin Marsh", "red lead")] == \
        ["date", "date", "number", "name", "phrase"]
    text = FILES["harbour.txt"]
    assert find_all("edwin   MARSH", text) == [(text.index("Edwin Marsh"), text.index("Edwin Marsh") + 11)]
    assert find_all("Marsh", "Marshall Marsh") == [(9, 14)]  # whole words only


def test_located_in_the_gold_source_the_retrieved_one_or_anywhere():
    loc = locate("412 metres", [], ["harbour.txt"], FILES)
    assert loc is not None and (loc.file, loc.fact, loc.kind, loc.found_by) == ("harbour.txt", "412 metres", "number", "sources")
    assert FILES["harbour.txt"][loc.start:loc.end] == "The Kestrel harbour opened on 4 March 1871. Its pier is 412 metres long."
    assert locate("agnes pollard", [], [], FILES, retrieved=["mill.txt"]).found_by == "retrieved"
    assert locate("Agnes Pollard", [], [], FILES).file == "mill.txt"  # no source known: searched
    assert locate("Nobody Here", [], ["mill.txt"], FILES) is None
    # a long answer (a whole FAQ entry): the fact to change is a date inside it
    long = ("The paint was chosen in 1954 by the engineer Otto Brenner, because red lead primer was cheap. "
            "It has been repainted every 7 years since.")
    loc = locate(long, [], ["faq.txt"], FILES)
    assert loc is not None and (loc.fact, loc.kind) == ("1954", "date")


def test_replacements_are_of_the_same_kind_from_the_corpus_and_new_to_the_file():
    pool = ValuePool(FILES.values())
    rng = random.Random(0)
    assert pool.replacement("4 March 1871", FILES["harbour.txt"], rng) == "19 August 1903"
    year = pool.replacement("1954", FILES["faq.txt"], rng)
    assert kind(year) == "date" and year in {"1871", "1903", "1922"}
    assert pool.replacement("412 metres", FILES["harbour.txt"], rng) == "235 metres"
    name = pool.replacement("Edwin Marsh", FILES["harbour.txt"], rng)
    assert name in {"Agnes Pollard", "Otto Brenner"}
    # a capitalised plain word is no name: "Iteration" is also written "iteration"
    assert ValuePool(["We like Iteration and Usenet. Then the iteration ends."]).names == ["Usenet"]
    # nothing of the kind elsewhere: the number is shifted, never left as it was
    assert ValuePool(["only 5 here"]).replacement("12 boats", "12 boats", rng) == "43 boats"


def test_dates_and_numbers_are_replaced_by_plausible_neighbours_not_far_fetched_values():
    years = " ".join(str(y) for y in (1266, 1320, 1540, 1700, 1845, 1849, 1852, 1856, 1860, 1862, 1990, 2010))
    amounts = "It weighs 101 kg, 380 kg, 402 kg, 415 kg, 430 kg, 447 kg, 455 kg, 990 kg."
    pool = ValuePool([years, amounts])
    for seed in range(20):
        rng = random.Random(seed)
        assert pool.replacement("1851", "In 1851 the indicator was first used.", rng) in \
            {"1845", "1849", "1852", "1856", "1860"}
        assert pool.replacement("412 metres", "The pier is 412 metres long.", rng) in \
            {"380 metres", "402 metres", "415 metres", "430 metres", "447 metres"}


def test_plan_edits_records_each_edit_and_changes_only_that_passage():
    items = [QAItem("h1", "How long is the pier?", "412 metres", ["harbour.txt"]),
             QAItem("h2", "Who designed the harbour?", "Edwin Marsh", ["harbour.txt"]),
             QAItem("m1", "When did the mill open?", "19 August 1903", ["mill.txt"]),
             QAItem("f1", "Why is the bridge red?", FILES["faq.txt"].split("\n\n")[1].strip(), ["faq.txt"])]
    texts, pairs, edits = plan_edits(items, FILES, share=0.3, pool=[], rng=random.Random(1), min_edits=4)
    assert len(edits) == len(pairs) == 4
    by = {e["id"]: e for e in edits}
    assert by["h1"]["kind"] == "number" and by["m1"]["kind"] == "date" and by["h2"]["kind"] == "name"
    assert by["f1"]["answer"] == "long (a fact inside it)" and by["f1"]["old"] == "1954"
    for edit in edits:
        assert edit["old"] not in texts[edit["file"]].split("\n\n")[-1] or edit["kind"] == "name"
        assert edit["new"] in texts[edit["file"]] and edit["new"] not in FILES[edit["file"]]
    new = {n.id: n for _, n in pairs}
    old = {o.id: o for o, _ in pairs}
    assert new["f1"].answer == by["f1"]["new"] and old["f1"].answer == "1954"  # scored on the fact, not the entry
    assert "Harbour" in texts["harbour.txt"] and texts["harbour.txt"].count("\n\n") == FILES["harbour.txt"].count("\n\n")


def test_plan_edits_edits_the_facts_answered_correctly_before_first():
    items = [QAItem("h1", "How long is the pier?", "412 metres", ["harbour.txt"]),
             QAItem("h2", "Who designed the harbour?", "Edwin Marsh", ["harbour.txt"]),
             QAItem("m1", "When did the mill open?", "19 August 1903", ["mill.txt"])]
    for known, said in (("m1", "It opened on 19 August 1903."), ("h2", "Edwin Marsh did.")):
        for seed in range(4):  # whatever order the random draw gives, the fact an answer stated is edited
            said_by = {"h1": "It is long.", "h2": "Nobody knows.", "m1": "In spring.", known: said}
            _, _, edits = plan_edits(items, FILES, share=0.3, pool=[], rng=random.Random(seed), said=said_by)
            assert [e["id"] for e in edits] == [known]
