"""The scoring functions on hand-made cases whose results are worked out in the comments."""

from __future__ import annotations

import math

import pytest

from rag_app.measure import metrics


def test_squad_normalisation_drops_case_punctuation_and_articles():
    assert metrics.normalize_answer("  The Cat, sat!  ") == "cat sat"
    assert metrics.normalize_answer("an apple a day") == "apple day"


def test_exact_match_uses_the_best_reference():
    assert metrics.exact_match("the Melbourne.", ["Sydney", "Melbourne"]) == 1.0
    assert metrics.exact_match("Melbourne city", ["Melbourne"]) == 0.0


def test_token_f1_by_hand():
    # prediction {melbourne, city}, reference {melbourne}: P = 1/2, R = 1, F1 = 2/3
    assert metrics.token_f1("Melbourne city", ["Melbourne"]) == pytest.approx(2 / 3)
    # best over references: "in 1853" vs "1853" -> P 1/2 R 1 = 2/3; vs "in 1853" -> 1
    assert metrics.token_f1("in 1853", ["1853", "in 1853"]) == 1.0
    assert metrics.token_f1("nothing here", ["1853"]) == 0.0


def test_containment_needs_whole_words():
    assert metrics.contains_answer("It is in Melbourne, Victoria.", ["Melbourne"]) == 1.0
    assert metrics.contains_answer("Melbourne", ["Mel"]) == 0.0
    assert metrics.contains_answer("", ["Melbourne"]) == 0.0


def test_key_token_recall_counts_content_words():
    reference = "Python uses indentation for grouping statements."
    # key tokens: python, uses, indentation, group(ing), statement(s); the answer names all but "uses"
    assert metrics.key_token_recall("Indentation groups statements in Python.", reference) == pytest.approx(4 / 5)
    # the answer's key tokens: indentation, group(s), statement(s), python -> all four are the reference's
    assert metrics.key_token_precision("Indentation groups statements in Python.", reference) == 1.0
    # lambda, closure, python, uses -> python and uses are the reference's: 2 of 4
    assert metrics.key_token_precision("Python uses lambda closures.", reference) == pytest.approx(2 / 4)
    assert metrics.is_short("Melbourne") and not metrics.is_short(reference * 3)


def test_passage_overlap_contained_partial_and_unrelated():
    passage = "one two three four five six seven eight nine ten eleven twelve"
    assert metrics.passage_overlap("three four five six seven eight", passage) == 1.0
    assert metrics.passage_overlap(passage, "three four five six seven eight") == 1.0
    assert metrics.passage_overlap("alpha beta gamma delta epsilon zeta", passage) == 0.0
    # chunk "ten eleven twelve a b c d e": 5-grams 4, shared with the passage: none of them fully;
    # "nine ten eleven twelve" with n=4 (shorter text) shares exactly one 4-gram of one
    assert metrics.passage_overlap("nine ten eleven twelve", passage) == 1.0
    half = "seven eight nine ten eleven twelve x1 x2 x3 x4 x5 x6"
    # 8 five-grams in the chunk, 2 of them inside the passage ("seven..eleven", "eight..twelve")
    assert metrics.passage_overlap(half, passage) == pytest.approx(2 / 8)


def test_ranking_metrics_by_hand():
    relevant = [False, True, False, True]
    assert metrics.hit_at_k(relevant, 4) == 1.0 and metrics.hit_at_k(relevant, 1) == 0.0
    assert metrics.reciprocal_rank(relevant, 4) == 0.5 and metrics.reciprocal_rank(relevant, 1) == 0.0
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    assert metrics.ndcg_at_k(relevant, 4, total_relevant=2) == pytest.approx(dcg / (1 + 1 / math.log2(3)))
    # three relevant chunks exist but only two were found: the ideal is higher
    ideal3 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert metrics.ndcg_at_k(relevant, 4, total_relevant=3) == pytest.approx(dcg / ideal3)
    assert metrics.ndcg_at_k([True, True], 2) == 1.0
    assert metrics.ndcg_at_k([False, False], 2, total_relevant=4) == 0.0


def test_percentile_interpolates():
    assert metrics.percentile([4, 1, 3, 2], 50) == 2.5
    assert metrics.percentile(range(1, 101), 95) == pytest.approx(95.05)
    assert math.isnan(metrics.percentile([], 50))
    assert metrics.mean([1.0, None, 3.0]) == 2.0 and metrics.mean([]) is None
