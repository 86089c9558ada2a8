from __future__ import annotations

import json
import shutil

import pytest

from notecheck.data import default_data_dir, grouped_folds, load_notes, validate
from notecheck.labels import LABELS
from notecheck.seeds import seeds_dir

# Validating the corpus reads the seed documents (copied runs, cited anchors). A bare clone has
# no ../shared beside it: these tests skip and say why instead of failing.
needs_seeds = pytest.mark.skipif(
    seeds_dir() is None,
    reason="the seed documents are not beside this checkout (../shared/seeds); "
    "set NOTECHECK_SEEDS_DIR to run the corpus validation tests",
)


def test_shipped_corpus_passes_validation_and_meets_size_targets():
    report = validate()
    assert report.ok, report.problems[:5]
    assert report.n_records >= 1500
    assert all(report.by_label[label] >= 200 for label in LABELS)
    assert report.n_hard / report.n_records >= 0.30


def test_data_card_counts_match_the_files():
    report = validate()
    card = (default_data_dir() / "README.md").read_text()
    assert f"| total | {report.n_records} |" in card
    for label in LABELS:
        assert f"| {label} | {report.by_label[label]} |" in card


@pytest.fixture
def corpus_copy(tmp_path):
    target = tmp_path / "training_data"
    shutil.copytree(default_data_dir(), target)
    return target


def append(corpus, record):
    with (corpus / "notes" / "zz_bad.jsonl").open("w") as handle:
        handle.write(json.dumps(record) + "\n")


GOOD = {
    "id": "zz-1",
    "text": "Writer linked the client to a sliding-scale dentist on Elm St today.",
    "label": "CM-MH",
    "source": "000_7327f7de9bed1889.txt#Q80",
    "group": "zz-new",
    "hard": False,
    "kind": "note",
}


def test_a_fresh_valid_record_passes(corpus_copy):
    append(corpus_copy, GOOD)
    assert validate(corpus_copy).ok


@pytest.mark.parametrize(
    "change, message",
    [
        ({"label": "CM"}, "label"),
        ({"source": "000_7327f7de9bed1889.txt#Q200"}, "not a passage"),
        ({"source": "009_0000000000000000.txt#Q1"}, "no known seed"),
        ({"text": "   "}, "non-empty"),
        ({"hard": "yes"}, "true or false"),
        ({"minutes": -3}, "positive"),
        ({"colour": "red"}, "unknown keys"),
        ({"id": "a-q02-01"}, "duplicate id"),
        ({"text": "Drove clt to the clinic (not billed), then linked him to a PCP."}, "verdict"),
        ({"text": "Spoke with clt's guardian about school. Billed as CM-CCC."}, "verdict"),
        ({"text": "Called his former therapist for history; not CCC."}, "verdict"),
        (
            {
                "text": "Answer: Your interpretation is correct. 3. Does the Case Management Transition "
                "Linkage and Aftercare limit of 40 hours per calendar year"
            },
            "copied from a seed",
        ),
    ],
)
def test_corrupted_record_fails_validation(corpus_copy, change, message):
    if message in ("copied from a seed", "not a passage") and seeds_dir() is None:
        pytest.skip("the seed documents are not beside this checkout (../shared/seeds)")
    append(corpus_copy, {**GOOD, **change})
    report = validate(corpus_copy)
    assert not report.ok
    assert any(message in p for p in report.problems), report.problems[:3]


def test_near_duplicate_across_groups_fails(corpus_copy):
    original = load_notes(corpus_copy)[10]
    append(corpus_copy, {**GOOD, "text": original.text + " ok"})
    report = validate(corpus_copy)
    assert any("near-duplicate" in p or "same text" in p for p in report.problems)


def test_malformed_json_line_is_reported(corpus_copy):
    (corpus_copy / "notes" / "zz_bad.jsonl").write_text('{"id": "x", \n')
    assert any("not valid JSON" in p for p in validate(corpus_copy).problems)


def test_grouped_folds_never_split_a_group_and_are_deterministic():
    notes = load_notes()
    folds = grouped_folds(notes)
    assert folds == grouped_folds(notes)
    seen = set()
    for train, test in folds:
        train_groups = {notes[i].group for i in train}
        test_groups = {notes[i].group for i in test}
        assert not train_groups & test_groups
        seen.update(test)
    assert seen == set(range(len(notes)))


def test_without_the_seed_documents_only_the_copied_text_check_is_skipped(monkeypatch):
    import notecheck.data as data

    monkeypatch.setattr(data, "_seed_ngrams", lambda n: None)
    report = validate()
    assert report.ok, report.problems[:3]
    assert len(report.skipped) == 1 and "copied-text" in report.skipped[0]


def test_the_shipped_seed_index_locates_every_cited_question():
    from notecheck.seeds import describe, seed_index

    passages = seed_index()["documents"]["000"]["passages"]
    assert all(passages[f"Q{i}"] for i in range(1, 95))
    assert passages["Q15"] < passages["Q16"]
    text = describe("000_7327f7de9bed1889.txt#Q15")
    assert text == "Illinois, Rule 132 Q&A, question 15 (line 268)"


@needs_seeds
def test_the_seed_index_matches_the_documents():
    import re

    from notecheck.seeds import SEED_FILES, seed_index

    folder = seeds_dir()
    assert folder is not None
    lines = (folder / SEED_FILES["000"]).read_text(encoding="utf-8").splitlines()
    for anchor, line in seed_index()["documents"]["000"]["passages"].items():
        assert re.match(rf"^\s*{anchor[1:]}\.\s", lines[line - 1]), anchor
    for key, doc in seed_index()["documents"].items():
        assert doc["lines"] == len(
            (folder / doc["file"]).read_text(encoding="utf-8").splitlines()
        ), key
