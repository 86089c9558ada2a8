"""Misspelt rule words are read as the word meant; real words and names are left alone."""

from __future__ import annotations

import pytest

from notecheck.spelling import Speller, shipped_speller


@pytest.mark.parametrize(
    "typed, meant",
    [
        ("transproted", "transported"),  # two letters swapped
        ("adovcated", "advocated"),
        ("recieved", "received"),
        ("voicemial", "voicemail"),
        ("advocted", "advocated"),  # a letter dropped
        ("scheduleing", "scheduling"),  # a letter added
        ("lanldord", "landlord"),
        ("appointmnet", "appointment"),
    ],
)
def test_a_misspelt_rule_word_is_corrected(typed, meant):
    assert shipped_speller().correct(typed) == meant


@pytest.mark.parametrize(
    "word",
    [
        "example",  # an English word (a lemma the table knows)
        "reviewed",  # an inflected form the table knows
        "paperwork",  # a rule word itself
        "kalomiren",  # a name: no rule word one edit away
        "faxxed",  # too short a target ("faxed" has five letters)
        "dransported",  # one edit from "transported", but the first letters differ
        "rec'd",  # not letters only
    ],
)
def test_real_words_names_and_short_words_are_left_alone(word):
    assert shipped_speller().correct(word) is None


def test_a_misspelling_two_rule_words_could_mean_is_left_alone():
    speller = Speller(["coached", "couched"])
    assert speller.correct("coacked") == "coached"
    assert speller.correct("coxched") is None  # "coached" and "couched" both one change away


def test_inflections_of_a_lemma_are_targets_only_when_the_lemma_table_confirms_them():
    speller = Speller([], ["advocate"])
    assert {"advocated", "advocates", "advocating"} <= speller.targets
    assert "advocatted" not in speller.targets
