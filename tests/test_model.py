from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil

import pytest
import skops.io
from sklearn.preprocessing import FunctionTransformer

from notecheck.data import load_notes
from notecheck.evaluate import fit_engine_model, parse_corpus
from notecheck.model import (
    ARTIFACT_NAME,
    MANIFEST_NAME,
    ModelError,
    default_model_dir,
    load_model,
    save_model,
)


@pytest.fixture(scope="module")
def small_corpus():
    notes = load_notes()
    # Two scenario groups per label: enough to fit, small enough to be quick.
    by_label: dict[str, list] = {}
    for n in notes:
        groups = by_label.setdefault(n.label, [])
        if n.group not in groups and len(groups) < 3:
            groups.append(n.group)
    keep = {g for gs in by_label.values() for g in gs}
    parsed, _ = parse_corpus([n for n in notes if n.group in keep])
    return parsed


def test_training_is_deterministic_and_round_trips(tmp_path, small_corpus):
    index = list(range(len(small_corpus.notes)))
    first = fit_engine_model(small_corpus, index)
    second = fit_engine_model(small_corpus, index)
    rows = small_corpus.rows
    assert (first.predict_proba(rows) == second.predict_proba(rows)).all()

    save_model(first, tmp_path, {"ruleset_sha256": "x"})
    loaded = load_model(tmp_path)
    assert (loaded.pipeline.predict_proba(rows) == first.predict_proba(rows)).all()
    assert loaded.version.startswith("il132-")


@pytest.fixture
def model_copy(tmp_path):
    target = tmp_path / "model"
    shutil.copytree(default_model_dir(), target)
    return target


def test_corrupt_artifact_is_refused_before_unpickling(model_copy):
    artifact = model_copy / ARTIFACT_NAME
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum mismatch"):
        load_model(model_copy)


def _rehash_manifest(model_dir):
    """What an attacker who can write the folder does: make the checksum agree."""
    manifest_path = model_dir / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    digest = hashlib.sha256((model_dir / ARTIFACT_NAME).read_bytes()).hexdigest()
    manifest["files"][ARTIFACT_NAME] = digest
    manifest_path.write_text(json.dumps(manifest))


class _CreatesFileOnUnpickle:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_with_a_rehashed_manifest_does_not_run_code(model_copy, tmp_path):
    marker = tmp_path / "code-ran"
    (model_copy / ARTIFACT_NAME).write_bytes(pickle.dumps(_CreatesFileOnUnpickle(marker)))
    _rehash_manifest(model_copy)
    with pytest.raises(ModelError, match="could not load model artifact"):
        load_model(model_copy)
    assert not marker.exists()


def test_an_artifact_naming_an_untrusted_type_is_refused(model_copy):
    skops.io.dump(FunctionTransformer(func=os.system), model_copy / ARTIFACT_NAME)
    _rehash_manifest(model_copy)
    with pytest.raises(ModelError, match=r"does not trust .*posix\.system"):
        load_model(model_copy)


def test_save_refuses_a_pipeline_that_load_would_not_trust(tmp_path):
    with pytest.raises(ModelError, match="does not trust"):
        save_model(FunctionTransformer(func=os.system), tmp_path, {})
    assert not (tmp_path / ARTIFACT_NAME).exists()


def test_missing_artifact_gives_a_clear_error(model_copy):
    (model_copy / ARTIFACT_NAME).unlink()
    with pytest.raises(ModelError, match="missing"):
        load_model(model_copy)


def test_incompatible_library_version_is_refused(model_copy):
    meta_path = model_copy / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["libraries"]["scikit-learn"] = "0.24.2"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="scikit-learn 0.24.2"):
        load_model(model_copy)


def test_shipped_model_matches_the_shipped_catalog_and_data():
    from notecheck.catalog import load_catalog
    from notecheck.data import corpus_sha256

    meta = json.loads((default_model_dir() / "meta.json").read_text())
    assert meta["ruleset_sha256"] == load_catalog().sha256, "rules changed: run notecheck train"
    assert meta["training_data_sha256"] == corpus_sha256(), "data changed: run notecheck train"
    engine_cv = meta["cv_metrics"]["engine"]
    assert engine_cv["macro_f1"] >= 0.85
    assert engine_cv["per_label"]["NON-BILLABLE"]["recall"] >= 0.90
    assert engine_cv["macro_f1"] > meta["cv_metrics"]["tfidf_lr"]["macro_f1"]


def test_the_shipped_model_records_every_runtime_dependency_it_was_trained_with():
    import re
    import tomllib
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    direct = {
        re.sub(r"[-_.]+", "-", re.split(r"[<>=!~ ;\[]", spec)[0]).lower()
        for spec in pyproject["project"]["dependencies"]
    }
    meta = json.loads((default_model_dir() / "meta.json").read_text())
    assert direct <= set(meta["dependencies"])
    card = (default_model_dir() / "MODEL_CARD.md").read_text()
    assert f"skops=={meta['dependencies']['skops']}" in card


def test_cached_char_ngrams_give_the_pipelines_own_feature_matrix(engine):
    # The per-word cache is a speed-up only: the matrix must be the fitted pipeline's, bit for bit.
    import numpy as np

    from notecheck.engine import context_text, model_text, rule_tokens
    from notecheck.model import make_rows

    texts = [n.text for n in load_notes()[:300]] + [
        "Writer  met clt\tat DHS;\n\nwaited 90 min, ADVOCATED w/ caseworker (café, naïve).",
        "",
        "a b",
    ]
    docs = list(engine.nlp.pipe(texts))
    rows = make_rows(
        [model_text(d, engine.sections) for d in docs],
        [rule_tokens(d, engine.catalog) for d in docs],
        [context_text(d, engine.sections) for d in docs],
    )
    expected = engine.model.pipeline.named_steps["features"].transform(rows).tocsr()
    for _ in range(2):  # cold cache, then warm
        got = engine.model.features(rows)
        assert got.shape == expected.shape
        assert np.array_equal(got.indptr, expected.indptr)
        assert np.array_equal(got.indices, expected.indices)
        assert np.array_equal(got.data, expected.data)


def test_counting_blocks_give_each_vectorizers_own_matrix(engine):
    # Word n-grams from token ids and char n-grams from a sparse product are speed-ups only:
    # every block must be its fitted vectorizer's matrix, bit for bit, in batches and alone.
    import random

    import numpy as np

    from notecheck.model import CachedCharNgrams, TextModel, TokenNgramCounts

    model = TextModel(engine.model.pipeline, engine.model.meta)  # cold caches
    kinds = [type(transformer) for transformer, _, _ in model._blocks]
    assert kinds == [TokenNgramCounts, CachedCharNgrams, TokenNgramCounts, TokenNgramCounts]
    rng = random.Random(0)
    words = [t for b in model._blocks[:2] for t in b[0].vectorizer.vocabulary_][:4000]
    words += [*model._blocks[2][0].vectorizer.vocabulary_, "-x-", "a/b", "'s", "--", "_", "İ"]
    # Unicode spaces, separators and punctuation at token edges, where a regex \b decides.
    gaps = [" ", "  ", "\t", "\n", "\r\n", "\xa0", "\u2009", "\u3000", "\x1c", "\x85", "\u200b"]
    gaps += [",", ".", "-", "/", "'", "", " - ", "ß", "aaaa"]
    texts = ["", " ", "a b", "Writer  met clt\tat DHS;\n\nwaited 90 min (café, naïve)."] + [
        "".join(rng.choice(words) + rng.choice(gaps) for _ in range(rng.randint(0, 40)))
        for _ in range(400)
    ]
    column = np.empty(len(texts), dtype=object)
    column[:] = texts

    def same(got, want) -> bool:
        return (
            got.shape == want.shape
            and got.dtype == want.dtype
            and np.array_equal(got.indptr, want.indptr)
            and np.array_equal(got.indices, want.indices)
            and np.array_equal(got.data, want.data)
        )

    for transformer, _, _ in model._blocks:
        expected = transformer.vectorizer.transform(column)
        assert expected.nnz > 0
        assert same(transformer.transform(column), expected)  # cold
        assert same(transformer.transform(column), expected)  # warm
        for i in range(0, len(texts), 37):
            assert same(transformer.transform(column[i : i + 1]), expected[i : i + 1])


def test_probabilities_are_the_pipelines_own_one_note_and_many(engine):
    # The engine tells scikit-learn its inputs are already valid (no per-call checks): the
    # probabilities must still be the fitted pipeline's, bit for bit, for one note and a batch.
    import numpy as np

    from notecheck.engine import context_text, model_text, rule_tokens
    from notecheck.model import make_rows

    texts = [n.text for n in load_notes()[::40]]
    docs = list(engine.nlp.pipe(texts))
    rows = make_rows(
        [model_text(d, engine.sections) for d in docs],
        [rule_tokens(d, engine.catalog) for d in docs],
        [context_text(d, engine.sections) for d in docs],
    )
    expected = engine.model.pipeline.predict_proba(rows)[:, engine.model._order]
    batch = engine.model.predict_proba_features(engine.model.features(rows))
    assert np.array_equal(batch, expected)
    for i in range(0, len(texts), 7):
        one = engine.model.predict_proba_features(engine.model.features(rows[i : i + 1]))
        assert np.array_equal(one[0], expected[i])
