"""The text classifier: a plain scikit-learn Pipeline, its versioned artifact and its evidence.

Input rows are ``[text, rule_tokens]`` where ``rule_tokens`` names the rule hits of the note
(``transport.transporting`` when active, ``transport.transporting~negated`` when a context
modifier switched it off), so the model learns how far to trust each rule.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import skops.io
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from skops.io.exceptions import UntrustedTypesFoundException

from notecheck.errors import ModelError  # re-exported: notecheck.model.ModelError
from notecheck.labels import LABELS
from notecheck.versions import runtime_versions

ARTIFACT_NAME = "model.skops"
MANIFEST_NAME = "manifest.json"
META_NAME = "meta.json"
FORMAT_VERSION = 2
# skops rebuilds only types it trusts (builtins, numpy, scipy, public scikit-learn estimators)
# plus these, so a swapped artifact cannot run code on load the way a pickle can. Kept to what
# the Pipeline above needs; ``save_model`` refuses to write an artifact that would need more.
TRUSTED_TYPES = (
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
)
WORD_TOKEN_PATTERN = r"(?u)\b[\w/'-]+\b"


MODEL_DIR_ENV = "NOTECHECK_MODEL_DIR"


def default_model_dir(name: str = "il132") -> Path:
    """``$NOTECHECK_MODEL_DIR``, else the wheel's copy, else ``models/<name>`` of the checkout.

    One rule for the CLI, the server and the library: a deployment that points the variable at
    its own model gets that model everywhere, never the shipped one by surprise.
    """
    override = os.environ.get(MODEL_DIR_ENV)
    if override:
        return Path(override)
    package = Path(__file__).resolve().parent
    bundled = package / "models" / name
    return bundled if bundled.is_dir() else package.parent / "models" / name


def make_rows(
    texts: Sequence[str], rule_tokens: Sequence[str], context: Sequence[str] | None = None
) -> np.ndarray:
    """Pack texts, rule tokens (and goal/plan context text) into the object array the Pipeline expects."""
    rows = np.empty((len(texts), 2 if context is None else 3), dtype=object)
    rows[:, 0] = list(texts)
    rows[:, 1] = list(rule_tokens)
    if context is not None:
        rows[:, 2] = list(context)
    return rows


def _word_tfidf(max_n: int) -> TfidfVectorizer:
    return TfidfVectorizer(
        ngram_range=(1, max_n), min_df=2, sublinear_tf=True, token_pattern=WORD_TOKEN_PATTERN
    )


def build_pipeline(
    *,
    use_rules: bool = True,
    use_chars: bool = True,
    C: float = 10.0,
    class_weight: str | None = None,
    calibration_cv: Any = 5,
    calibrate: bool = True,
    rule_weight: float = 0.1,
    context_weight: float | None = None,
) -> Pipeline:
    """The classifier, unfitted. ``calibration_cv`` may be an iterable of grouped splits."""
    features: list[tuple[str, Any, int]] = [("words", _word_tfidf(max_n=2), 0)]
    if use_chars:
        features.append(
            (
                "chars",
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(3, 5), min_df=3, sublinear_tf=True
                ),
                0,
            )
        )
    if use_rules:
        features.append(
            ("rules", CountVectorizer(token_pattern=r"\S+", lowercase=False, binary=True), 1)
        )
    weights: dict[str, float] = {}
    if use_rules:
        weights["rules"] = rule_weight
    if context_weight is not None:
        # Goal, plan and assessment text in a block of its own, down-weighted: it may say what
        # the note is about, never what was done.
        features.append(("context", _word_tfidf(max_n=1), 2))
        weights["context"] = context_weight
    classifier = LogisticRegression(C=C, max_iter=5000, class_weight=class_weight)
    return Pipeline(
        [
            (
                "features",
                ColumnTransformer(
                    features,
                    sparse_threshold=1.0,
                    # Binary rule hits would swamp the L2-normalized TF-IDF blocks otherwise.
                    transformer_weights=weights or None,
                ),
            ),
            (
                "classifier",
                CalibratedClassifierCV(
                    classifier, method="sigmoid", cv=calibration_cv, ensemble=False
                )
                if calibrate
                else classifier,
            ),
        ]
    )


def baseline_pipeline() -> Pipeline:
    """The plain TF-IDF + logistic regression floor the engine must beat (text only)."""
    return Pipeline(
        [
            ("features", ColumnTransformer([("words", TfidfVectorizer(), 0)])),
            ("classifier", LogisticRegression(max_iter=5000)),
        ]
    )


@dataclass(frozen=True)
class TermContribution:
    """One model feature's push toward the predicted label (``coef * value``)."""

    term: str
    kind: str  # "word", "chars" or "rule"
    weight: float


def _count_matrix(
    rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int], dtype: Any
) -> sparse.csr_matrix:
    """Occurrence counts as a canonical CSR matrix: duplicates summed, columns sorted per row.

    That is the layout the vectorizers' own counting leaves, so their TF-IDF weighting and
    normalisation see the same values in the same order.
    """
    counts = sparse.csr_matrix(
        (np.ones(len(rows), dtype=dtype), (rows, columns)), shape=shape, dtype=dtype
    )
    counts.sum_duplicates()
    return counts


def _weighted(vectorizer: CountVectorizer, counts: sparse.csr_matrix) -> Any:
    """What ``vectorizer.transform`` makes of these counts (binary, then TF-IDF if any)."""
    if vectorizer.binary:
        counts.data.fill(1)
    if isinstance(vectorizer, TfidfVectorizer):
        return vectorizer._tfidf.transform(counts, copy=False)
    return counts


# Below this many words a batch is counted word by word: the sparse product's fixed cost
# (a few matrix conversions) outweighs it for a note or two.
_SPARSE_PRODUCT_MIN_WORDS = 2_000


class CachedCharNgrams:
    """A fitted ``char_wb`` TF-IDF vectorizer whose n-gram counts come from a per-word cache.

    ``char_wb`` n-grams never cross a word, so a note's counts are the sum of its words'; the
    words of case notes repeat across notes, so each word's vocabulary columns are worked out
    once. A batch's counts are then one sparse product, (notes x words) @ (words x columns),
    instead of a Python loop over every n-gram; a note or two still take the loop. The TF-IDF
    weighting is the vectorizer's own.
    """

    def __init__(self, vectorizer: TfidfVectorizer, max_words: int = 200_000) -> None:
        self.vectorizer = vectorizer
        self._preprocess = vectorizer.build_preprocessor()
        self._vocabulary = vectorizer.vocabulary_
        self._columns: dict[str, tuple[int, ...]] = {}
        self._max_words = max_words  # bounded: a long-running server sees many words

    def _word_columns(self, word: str) -> tuple[int, ...]:
        found = self._columns.get(word)
        if found is None:
            vocabulary = self._vocabulary
            grams = self.vectorizer._char_wb_ngrams(word)
            found = tuple(vocabulary[g] for g in grams if g in vocabulary)
            if len(self._columns) < self._max_words:
                self._columns[word] = found
        return found

    def transform(self, texts: Any) -> Any:
        """The same matrix as ``vectorizer.transform(texts)``."""
        words_per_text = [self._preprocess(text).split() for text in texts]
        words = list(chain.from_iterable(words_per_text))
        if len(words) < _SPARSE_PRODUCT_MIN_WORDS:
            counts = self._counts_by_word(words_per_text)
        else:
            counts = self._counts_by_product(words_per_text, words)
        counts.sort_indices()  # the layout ``vectorizer.transform`` leaves (the L2 norm sums in it)
        return _weighted(self.vectorizer, counts)

    def _counts_by_word(self, words_per_text: list[list[str]]) -> sparse.csr_matrix:
        indices: list[int] = []
        values: list[int] = []
        indptr = [0]
        for words in words_per_text:
            counter: dict[int, int] = {}
            for word in words:
                for column in self._word_columns(word):
                    counter[column] = counter.get(column, 0) + 1
            indices.extend(counter)
            values.extend(counter.values())
            indptr.append(len(indices))
        return sparse.csr_matrix(
            (
                np.asarray(values, dtype=np.intc),
                np.asarray(indices, dtype=np.int32),
                np.asarray(indptr, dtype=np.int32),
            ),
            shape=(len(words_per_text), len(self._vocabulary)),
            dtype=self.vectorizer.dtype,
        )

    def _counts_by_product(
        self, words_per_text: list[list[str]], words: list[str]
    ) -> sparse.csr_matrix:
        # Each distinct word of the batch once, in first-seen order.
        distinct = {word: i for i, word in enumerate(dict.fromkeys(words))}
        columns = [self._word_columns(word) for word in distinct]
        # Built transposed, (columns x words) @ (words x notes): converting that product to
        # CSC leaves every note's columns in order without sorting each row.
        columns_of_words = sparse.csc_matrix(
            (
                np.ones(sum(map(len, columns)), dtype=np.int64),
                np.fromiter(chain.from_iterable(columns), dtype=np.int32),
                np.concatenate(([0], np.cumsum([len(c) for c in columns]))),
            ),
            shape=(len(self._vocabulary), len(distinct)),
        )
        # Repeated words stay repeated entries here: the product sums them, as it sums a
        # word's repeated n-grams ("aaaa").
        words_in_notes = sparse.csc_matrix(
            (
                np.ones(len(words), dtype=np.int64),
                np.fromiter(map(distinct.__getitem__, words), dtype=np.int32, count=len(words)),
                np.concatenate(([0], np.cumsum([len(w) for w in words_per_text]))),
            ),
            shape=(len(distinct), len(words_per_text)),
        )
        product = (columns_of_words.tocsr() @ words_in_notes.tocsr()).tocsc()
        return sparse.csr_matrix(product.T, dtype=self.vectorizer.dtype)

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        """The vectorizer's feature names."""
        return self.vectorizer.get_feature_names_out(input_features)


class _ChunkTokenIds(dict[str, tuple[int, ...]]):
    """Whitespace-separated chunk of text -> the token ids the tokenizer finds in it.

    Filled on first sight; bounded, since a long-running server sees many chunks.
    """

    def __init__(
        self, tokenize: Callable[[str], list[str]], token_ids: dict[str, int], max_size: int
    ) -> None:
        super().__init__()
        self._tokenize = tokenize
        self._token_ids = token_ids
        self._max_size = max_size

    def __missing__(self, chunk: str) -> tuple[int, ...]:
        # -1: a token in no vocabulary n-gram, so no n-gram holding it can count.
        ids = tuple(self._token_ids.get(token, -1) for token in self._tokenize(chunk))
        if len(self) < self._max_size:
            self[chunk] = ids
        return ids


# Token patterns that never match whitespace and only look at the characters they match (and
# at \b, for which whitespace and the end of the text are alike): a text's tokens are then its
# whitespace-separated chunks' tokens, in order.
_CHUNKWISE_TOKEN_PATTERNS = frozenset({WORD_TOKEN_PATTERN, r"(?u)\b\w\w+\b", r"\S+"})


class TokenNgramCounts:
    """A fitted word-analyzer vectorizer whose n-gram counts come from token ids, not strings.

    The vectorizer runs its token regex over each text, joins each run of tokens into a string
    ("client transported") and looks it up. Here each vocabulary token gets an integer id once
    and each vocabulary n-gram an integer key made from its tokens' ids; the tokens of a
    whitespace-separated chunk ("transported,") are found once and kept as ids, and a batch's
    n-grams are looked up with numpy, never joined. Tokens are the vectorizer's own (its
    preprocessor and tokenizer); the weighting after counting is the vectorizer's own.
    """

    def __init__(self, vectorizer: CountVectorizer, max_chunks: int = 200_000) -> None:
        self.vectorizer = vectorizer
        self._preprocess = vectorizer.build_preprocessor()
        self._n_columns = len(vectorizer.vocabulary_)
        token_ids: dict[str, int] = {}
        by_length: dict[int, tuple[list[tuple[int, ...]], list[int]]] = {}
        for term, column in vectorizer.vocabulary_.items():
            ids = tuple(token_ids.setdefault(t, len(token_ids)) for t in term.split(" "))
            terms = by_length.setdefault(len(ids), ([], []))
            terms[0].append(ids)
            terms[1].append(column)
        self._radix = max(len(token_ids), 1)
        # Per n-gram length: the sorted keys of the vocabulary's n-grams and their columns.
        self._tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for n, (id_tuples, columns) in by_length.items():
            keys = np.array([self._key(ids) for ids in id_tuples], dtype=np.int64)
            by_key = np.argsort(keys)
            self._tables[n] = (keys[by_key], np.asarray(columns, dtype=np.int32)[by_key])
        self._chunk_ids = _ChunkTokenIds(vectorizer.build_tokenizer(), token_ids, max_chunks)

    def _key(self, ids: Sequence[int]) -> int:
        key = 0
        for token_id in ids:
            key = key * self._radix + token_id
        return key

    @classmethod
    def supports(cls, vectorizer: Any) -> bool:
        """Whether the vectorizer's analysis is plain enough to count this way.

        A word analyzer with the default preprocessor, a token pattern known to read chunks
        independently (so a vocabulary n-gram also splits back into its tokens) and no stop
        words.
        """
        if not isinstance(vectorizer, CountVectorizer) or vectorizer.analyzer != "word":
            return False
        if (
            vectorizer.tokenizer is not None
            or vectorizer.preprocessor is not None
            or vectorizer.stop_words is not None
            or vectorizer.input != "content"
            or vectorizer.token_pattern not in _CHUNKWISE_TOKEN_PATTERNS
        ):
            return False
        max_n = vectorizer.ngram_range[1]
        # Keys fit in int64: there are at most max_n tokens per vocabulary entry.
        return bool((max_n * len(vectorizer.vocabulary_)) ** max_n < 2**62)

    def transform(self, texts: Any) -> Any:
        """The same matrix as ``vectorizer.transform(texts)``."""
        chunk_ids = self._chunk_ids.__getitem__
        ids_per_text = [
            list(chain.from_iterable(map(chunk_ids, self._preprocess(text).split())))
            for text in texts
        ]
        n_texts = len(ids_per_text)
        ids = np.fromiter(chain.from_iterable(ids_per_text), dtype=np.int64)
        text_of = np.repeat(np.arange(n_texts), [len(t) for t in ids_per_text])
        min_n, max_n = self.vectorizer.ngram_range
        rows: list[np.ndarray] = []
        columns: list[np.ndarray] = []
        for n in range(min_n, max_n + 1):
            table = self._tables.get(n)
            starts = len(ids) - n + 1
            if table is None or starts <= 0:
                continue
            keys = np.zeros(starts, dtype=np.int64)
            known = text_of[:starts] == text_of[n - 1 :]  # the n tokens are of one text
            for offset in range(n):
                part = ids[offset : offset + starts]
                keys = keys * self._radix + part
                known &= part >= 0
            keys, texts_of_keys = keys[known], text_of[:starts][known]
            table_keys, table_columns = table
            at = np.minimum(np.searchsorted(table_keys, keys), len(table_keys) - 1)
            found = table_keys[at] == keys
            rows.append(texts_of_keys[found])
            columns.append(table_columns[at[found]])
        counts = _count_matrix(
            np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64),
            np.concatenate(columns) if columns else np.zeros(0, dtype=np.int32),
            (n_texts, self._n_columns),
            self.vectorizer.dtype,
        )
        return _weighted(self.vectorizer, counts)

    def get_feature_names_out(self, input_features: Any = None) -> Any:
        """The vectorizer's feature names."""
        return self.vectorizer.get_feature_names_out(input_features)


def _checked_inputs() -> Any:
    """scikit-learn told what the engine's own inputs already are: finite, valid parameters.

    It otherwise checks both on every call: a tenth of a single note's time. The values are
    the same either way (tested).
    """
    return sklearn.config_context(assume_finite=True, skip_parameter_validation=True)


class TextModel:
    """A fitted Pipeline plus the metadata it was trained with."""

    def __init__(self, pipeline: Pipeline, meta: dict[str, Any]) -> None:
        self.pipeline = pipeline
        self.meta = meta
        classes = list(pipeline.classes_)
        if sorted(classes) != sorted(LABELS):
            raise ModelError(f"model labels {classes} do not match {list(LABELS)}")
        # Column order of predict_proba -> our fixed LABELS order.
        self._order = [classes.index(label) for label in LABELS]
        self._names: np.ndarray | None = None
        self._blocks = self._feature_blocks()

    def _feature_blocks(self) -> list[tuple[Any, int, float | None]]:
        """The fitted feature transformers, their input column and weight, in stacking order.

        A ``char_wb`` block reads through ``CachedCharNgrams``, a plain word block through
        ``TokenNgramCounts``: the same matrices, faster.
        """
        features = self.pipeline.named_steps["features"]
        weights = features.transformer_weights or {}
        blocks = []
        for name, transformer, column in features.transformers_:
            if transformer == "drop":
                continue
            if getattr(transformer, "analyzer", None) == "char_wb":
                transformer = CachedCharNgrams(transformer)
            elif TokenNgramCounts.supports(transformer):
                transformer = TokenNgramCounts(transformer)
            blocks.append((transformer, column, weights.get(name)))
        return blocks

    @property
    def version(self) -> str:
        """Short identifier of this artifact (derived from its checksum)."""
        return str(self.meta.get("model_version", "unversioned"))

    def features(self, rows: np.ndarray) -> Any:
        """The feature matrix of ``rows`` (computed once, shared by probabilities and evidence)."""
        stacked = []
        with _checked_inputs():
            for transformer, column, weight in self._blocks:
                block = transformer.transform(rows[:, column])
                stacked.append(block * weight if weight is not None else block)
        return sparse.hstack(stacked).tocsr()

    def predict_proba_features(self, matrix: Any) -> np.ndarray:
        """Probabilities (``LABELS`` order) from an already computed feature matrix."""
        with _checked_inputs():
            probabilities = self.pipeline.named_steps["classifier"].predict_proba(matrix)
        return probabilities[:, self._order]

    def _linear(self) -> LogisticRegression:
        calibrated = self.pipeline.named_steps["classifier"]
        return calibrated.calibrated_classifiers_[0].estimator

    def top_terms_features(
        self, matrix: Any, labels: Sequence[str], k: int = 6
    ) -> list[list[TermContribution]]:
        """``top_terms`` from an already computed feature matrix."""
        if self._names is None:
            self._names = self.pipeline.named_steps["features"].get_feature_names_out()
        linear = self._linear()
        classes = list(linear.classes_)
        out: list[list[TermContribution]] = []
        for i, label in enumerate(labels):
            lo, hi = matrix.indptr[i], matrix.indptr[i + 1]
            indices, data = matrix.indices[lo:hi], matrix.data[lo:hi]
            coef = linear.coef_[classes.index(label)]
            scores = data * coef[indices]
            best = np.argsort(-scores)[:k]
            terms = []
            for j in best:
                if scores[j] <= 0:
                    break
                kind, _, term = str(self._names[indices[j]]).partition("__")
                terms.append(TermContribution(term=term, kind=kind, weight=float(scores[j])))
            out.append(terms)
        return out


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries an artifact depends on."""
    versions = {}
    for package in ("notecheck", "scikit-learn", "spacy", "numpy", "scipy", "skops"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


def save_model(pipeline: Pipeline, model_dir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """Write the artifact, a checksum manifest and ``meta.json``; returns the final meta."""
    model_dir.mkdir(parents=True, exist_ok=True)
    artifact = model_dir / ARTIFACT_NAME
    skops.io.dump(pipeline, artifact, compression=zipfile.ZIP_DEFLATED, compresslevel=6)
    needed = set(skops.io.get_untrusted_types(file=artifact)) - set(TRUSTED_TYPES)
    if needed:
        artifact.unlink()
        raise ModelError(f"the pipeline needs types load_model does not trust: {sorted(needed)}")
    checksum = _sha256(artifact)
    meta = {
        **meta,
        "format_version": FORMAT_VERSION,
        "model_version": f"il132-{checksum[:12]}",
        "labels": list(LABELS),
        "libraries": library_versions(),
        "dependencies": runtime_versions(),
    }
    manifest = {"files": {ARTIFACT_NAME: checksum}, "format_version": FORMAT_VERSION}
    (model_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    (model_dir / META_NAME).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


def _minor(version: str) -> str:
    return ".".join(re.findall(r"\d+", version)[:2])


def load_model(model_dir: str | Path | None = None) -> TextModel:
    """Verify the artifact's checksum and library versions, then rebuild it with skops.

    The checksum catches corruption; skops' allow-list catches tampering (an artifact that
    names any type outside ``TRUSTED_TYPES`` and skops' defaults is refused, not executed).

    Raises
    ------
    ModelError
        Missing files, a checksum mismatch, untrusted types, an artifact that is not a skops
        file, or a scikit-learn version other than the one the artifact was trained with.
    """
    folder = Path(model_dir) if model_dir else default_model_dir()
    artifact, manifest_path, meta_path = (
        folder / ARTIFACT_NAME,
        folder / MANIFEST_NAME,
        folder / META_NAME,
    )
    for path in (artifact, manifest_path, meta_path):
        if not path.is_file():
            raise ModelError(f"model file missing: {path} (run 'notecheck train')")
    try:
        manifest = json.loads(manifest_path.read_text())
        meta = json.loads(meta_path.read_text())
        expected = manifest["files"][ARTIFACT_NAME]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"unreadable model manifest or meta in {folder}: {exc}") from exc
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ModelError(f"model format {manifest.get('format_version')} is not {FORMAT_VERSION}")
    actual = _sha256(artifact)
    if actual != expected:
        raise ModelError(
            f"model artifact checksum mismatch in {folder}: expected {expected[:12]}…, "
            f"found {actual[:12]}… — the file is corrupt or was replaced; refusing to load it"
        )
    trained_with = meta.get("libraries", {}).get("scikit-learn", "")
    installed = library_versions()["scikit-learn"]
    if _minor(trained_with) != _minor(installed):
        raise ModelError(
            f"model was trained with scikit-learn {trained_with}, this installation has "
            f"{installed}; reinstall the pinned version or run 'notecheck train'"
        )
    try:
        pipeline = skops.io.load(artifact, trusted=list(TRUSTED_TYPES))
    except UntrustedTypesFoundException as exc:
        raise ModelError(
            f"model artifact {artifact} names types notecheck does not trust ({exc}); "
            "refusing to load it"
        ) from exc
    except Exception as exc:  # not a zip, not a skops schema, a malformed tree: no common base
        raise ModelError(f"could not load model artifact {artifact}: {type(exc).__name__}") from exc
    return TextModel(pipeline, meta)
