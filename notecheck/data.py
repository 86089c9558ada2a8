"""The training corpus: loading, validation and the grouped cross-validation split.

Every record is one progress note written from a passage of the seed documents. The validator
keeps the corpus honest: schema and label codes, unique ids, citations that resolve, no copied
seed sentences, no near-duplicates across scenario groups.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from notecheck.labels import LABELS
from notecheck.seeds import SEED_FILES, parse_citation, seed_index, seeds_dir

REQUIRED_KEYS = {"id", "text", "label", "source", "group", "hard", "kind"}
OPTIONAL_KEYS = {"minutes"}
KINDS = ("scenario", "note", "augmented")
COPY_RUN_WORDS = 12  # no run of this many words may be copied from a seed
NEAR_DUPLICATE_JACCARD = 0.8  # word-trigram Jaccard at or above this across groups is a defect
MAX_AUGMENTED_SHARE = 0.25

_WORD_RE = re.compile(r"[a-z0-9']+")

#: Rule 132 Q&As that state policy rather than describe an activity, and what encodes each.
#: Every other Q&A of 000 must have one scenario record and at least 4 note variants.
POLICY_QAS: dict[int, str] = {
    1: "batch: time-overlap finding (one client, one time unit, two staff)",
    3: "batch: annual cap, CM-TLA 40 h per client across providers",
    6: "out of scope: LOCUS administration (not a case-management label)",
    9: "documentation check: goal/objective named (CM must be on the ITP)",
    11: "out of scope: transfer summary and ITP modification",
    13: "batch: annual caps, CM-TLA 40 h and other CM 240 h",
    15: "documentation check: goal/objective named",
    23: "out of scope: CM up to 30 days before the assessment (timing)",
    24: "out of scope: billing when the client disengages before assessment",
    25: "batch: CM-MH + CM-CCC share the 240 h annual cap",
    26: "batch: annual cap, CM-TLA 40 h",
    30: "out of scope: certification for CM-LOCUS",
    32: "out of scope: minimum services a provider must offer",
    33: "rule other.therapy / hint: psychiatric services are not Rule 132",
    34: "out of scope: off-site coding",
    42: "out of scope: payment when no assessment follows",
    43: "out of scope: ACT clients",
    46: "batch: annual caps",
    47: "out of scope: deferred diagnosis",
    54: "batch: each claim stands alone under Rule 132 (no same-day bundling)",
    61: "out of scope: staff credentials",
    62: "out of scope: LOCUS billed as an event",
    66: "batch: annual cap, CM-MH 240 h",
    70: "out of scope: LOCUS at crisis",
    82: "documentation check: goal/objective named",
    84: "out of scope: LOCUS frequency",
    85: "out of scope: LOCUS reassessment",
    90: "out of scope: LOCUS requirement",
    91: "out of scope: MCO prior-authorization policy (defers to the MCO)",
}
MIN_VARIANTS_PER_QA = 4


def default_data_dir() -> Path:
    """``training_data/`` of the repository this package lives in."""
    return Path(__file__).resolve().parent.parent / "training_data"


@dataclass(frozen=True)
class Note:
    """One labeled training note."""

    id: str
    text: str
    label: str
    source: str
    group: str
    hard: bool
    kind: str
    minutes: float | None = None


@dataclass
class ValidationReport:
    """What the validator found: problems (each a sentence) and the corpus balance."""

    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # checks that could not run here, and why
    n_records: int = 0
    by_label: Counter[str] = field(default_factory=Counter)
    by_seed: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    n_groups: int = 0
    n_hard: int = 0

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def balance_table(self) -> str:
        """A plain-text balance report (counts per label, seed and kind)."""
        lines = [
            f"records: {self.n_records}   groups: {self.n_groups}   "
            f"hard: {self.n_hard} ({self.n_hard / max(self.n_records, 1):.0%})"
        ]
        lines.append("per label:")
        lines += [f"  {label:<13} {self.by_label.get(label, 0):>5}" for label in LABELS]
        lines.append("per seed document:")
        lines += [f"  {seed:<28} {n:>5}" for seed, n in sorted(self.by_seed.items())]
        lines.append("per kind:")
        lines += [f"  {kind:<13} {n:>5}" for kind, n in sorted(self.by_kind.items())]
        return "\n".join(lines)


def words(text: str) -> list[str]:
    """Lower-cased word tokens used for overlap checks."""
    return _WORD_RE.findall(text.lower())


def _iter_raw(data_dir: Path) -> Iterator[tuple[str, int, str]]:
    files = sorted((data_dir / "notes").glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no training notes under {data_dir / 'notes'}")
    for path in files:
        with path.open(encoding="utf-8") as handle:
            for line_no, line in enumerate(handle, 1):
                if line.strip():
                    yield f"{path.name}:{line_no}", line_no, line


# A note must show the activity and leave the verdict to the reader: "(not billed)", "Billed as
# CM-CCC", "not CCC" teach the model the phrase instead of the activity.
VERDICT_RE = re.compile(
    r"\b(?:non-?billable|not billable|billable|not billed|unbilled|not counted|billed as|bill as|"
    r"not claimable|not (?:a )?(?:separate )?(?:CM-MH|CM-TLA|CM-CCC|CS-IND|CSI|CM|CCC|TLA|"
    r"case management)\b)",
    re.IGNORECASE,
)


def _check_record(raw: Any, where: str) -> list[str]:
    if not isinstance(raw, dict):
        return [f"{where}: a record must be a JSON object"]
    problems = []
    missing = REQUIRED_KEYS - raw.keys()
    unknown = raw.keys() - REQUIRED_KEYS - OPTIONAL_KEYS
    if missing:
        problems.append(f"{where}: missing {sorted(missing)}")
    if unknown:
        problems.append(f"{where}: unknown keys {sorted(unknown)}")
    for key in ("id", "text", "group", "source"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key].strip()):
            problems.append(f"{where}: '{key}' must be a non-empty string")
    if raw.get("label") not in LABELS:
        problems.append(f"{where}: label {raw.get('label')!r} is not one of {LABELS}")
    if raw.get("kind") not in KINDS:
        problems.append(f"{where}: kind {raw.get('kind')!r} is not one of {KINDS}")
    if "hard" in raw and not isinstance(raw["hard"], bool):
        problems.append(f"{where}: 'hard' must be true or false")
    minutes = raw.get("minutes")
    if minutes is not None and (
        isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or minutes <= 0
    ):
        problems.append(f"{where}: 'minutes' must be a positive number")
    if isinstance(raw.get("source"), str):
        try:
            parse_citation(raw["source"])
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    verdict = VERDICT_RE.search(raw["text"]) if isinstance(raw.get("text"), str) else None
    if verdict:
        problems.append(f"{where}: the note states its own verdict ({verdict.group(0)!r})")
    return problems


def load_notes(data_dir: str | Path | None = None) -> list[Note]:
    """Load every record of ``training_data/notes/*.jsonl`` (raises on a malformed record)."""
    base = Path(data_dir) if data_dir else default_data_dir()
    notes = []
    for where, _, line in _iter_raw(base):
        raw = json.loads(line)
        problems = _check_record(raw, where)
        if problems:
            raise ValueError(problems[0])
        notes.append(
            Note(
                id=raw["id"],
                text=raw["text"],
                label=raw["label"],
                source=raw["source"],
                group=raw["group"],
                hard=raw["hard"],
                kind=raw["kind"],
                minutes=raw.get("minutes"),
            )
        )
    return notes


def _seed_ngrams(n: int) -> set[tuple[str, ...]] | None:
    folder = seeds_dir()
    if folder is None:
        return None
    grams: set[tuple[str, ...]] = set()
    for name in SEED_FILES.values():
        tokens = words((folder / name).read_text(encoding="utf-8"))
        grams.update(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def _seed_anchor_present(source: str) -> bool:
    """The cited passage is located in the shipped seed index (a Q&A question opens there)."""
    file_name, anchor = parse_citation(source)
    if not anchor.startswith("Q"):
        return True
    return seed_index()["documents"][file_name[:3]]["passages"].get(anchor) is not None


def _trigrams(text: str) -> set[tuple[str, ...]]:
    tokens = words(text)
    return {tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)}


def near_duplicates(
    notes: Sequence[Note], threshold: float = NEAR_DUPLICATE_JACCARD
) -> list[tuple[Note, Note, float]]:
    """Pairs of notes in *different* groups whose word-trigram Jaccard is >= ``threshold``."""
    shingles = [_trigrams(n.text) for n in notes]
    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, grams in enumerate(shingles):
        for gram in grams:
            index[gram].append(i)
    pairs = []
    for i, grams in enumerate(shingles):
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(j for j in index[gram] if j > i)
        for j, overlap in shared.items():
            if notes[i].group == notes[j].group:
                continue
            union = len(grams) + len(shingles[j]) - overlap
            score = overlap / union if union else 0.0
            if score >= threshold:
                pairs.append((notes[i], notes[j], score))
    return pairs


def validate(data_dir: str | Path | None = None) -> ValidationReport:
    """Run every corpus check and return the report (never raises on bad data)."""
    base = Path(data_dir) if data_dir else default_data_dir()
    report = ValidationReport()
    records: list[Note] = []
    ids: set[str] = set()
    texts: dict[str, str] = {}
    try:
        raw_lines = list(_iter_raw(base))
    except FileNotFoundError as exc:
        report.problems.append(str(exc))
        return report
    for where, _, line in raw_lines:
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            report.problems.append(f"{where}: not valid JSON ({exc.msg})")
            continue
        problems = _check_record(raw, where)
        report.problems += problems
        if problems:
            continue
        note = Note(**{k: raw.get(k) for k in REQUIRED_KEYS | OPTIONAL_KEYS})
        if note.id in ids:
            report.problems.append(f"{where}: duplicate id {note.id!r}")
        ids.add(note.id)
        key = " ".join(words(note.text))
        if key in texts:
            report.problems.append(f"{where}: same text as {texts[key]!r}")
        texts[key] = note.id
        records.append(note)

    grams = _seed_ngrams(COPY_RUN_WORDS)
    if grams is None:
        report.skipped.append(
            "copied-text check: the seed documents are not here "
            "(../shared/seeds or NOTECHECK_SEEDS_DIR)"
        )
    else:
        for note in records:
            tokens = words(note.text)
            for i in range(len(tokens) - COPY_RUN_WORDS + 1):
                if tuple(tokens[i : i + COPY_RUN_WORDS]) in grams:
                    run = " ".join(tokens[i : i + COPY_RUN_WORDS])
                    report.problems.append(
                        f"{note.id}: {COPY_RUN_WORDS}-word run copied from a seed: {run!r}"
                    )
                    break
    for source in sorted({n.source for n in records}):
        if not _seed_anchor_present(source):
            report.problems.append(f"source {source!r} names a question the seed does not have")

    for a, b, score in near_duplicates(records):
        report.problems.append(
            f"near-duplicate texts across groups: {a.id} ({a.group}) ~ {b.id} ({b.group}), "
            f"Jaccard {score:.2f}"
        )
    scenario_counts = Counter(n.group for n in records if n.kind == "scenario")
    for group, count in scenario_counts.items():
        if count > 1:
            report.problems.append(f"group {group!r} has {count} scenario records (expected 1)")
    per_qa: dict[int, Counter[str]] = defaultdict(Counter)
    for note in records:
        file_name, anchor = parse_citation(note.source)
        if file_name == SEED_FILES["000"]:
            per_qa[int(anchor[1:])][note.kind] += 1
    for number in range(1, 95):
        if number in POLICY_QAS:
            continue
        kinds = per_qa.get(number, Counter())
        if kinds["scenario"] < 1 or kinds["note"] < MIN_VARIANTS_PER_QA:
            report.problems.append(
                f"000 Q{number} describes an activity but has {kinds['scenario']} scenario and "
                f"{kinds['note']} note records (need 1 and {MIN_VARIANTS_PER_QA})"
            )
    augmented = sum(n.kind == "augmented" for n in records)
    if records and augmented / len(records) > MAX_AUGMENTED_SHARE:
        report.problems.append(f"augmented records are {augmented / len(records):.0%} (> 25%)")

    report.n_records = len(records)
    report.by_label = Counter(n.label for n in records)
    report.by_seed = Counter(n.source.split("#")[0] for n in records)
    report.by_kind = Counter(n.kind for n in records)
    report.n_groups = len({n.group for n in records})
    report.n_hard = sum(n.hard for n in records)
    return report


def grouped_folds(
    notes: Sequence[Note], n_splits: int = 5, seed: int = 0
) -> list[tuple[list[int], list[int]]]:
    """Deterministic stratified grouped k-fold: paraphrases of one scenario never straddle a split.

    Returns ``[(train_indices, test_indices), ...]``.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    labels = [n.label for n in notes]
    groups = [n.group for n in notes]
    return [
        (train.tolist(), test.tolist())
        for train, test in splitter.split(list(range(len(notes))), labels, groups)
    ]


def corpus_sha256(data_dir: str | Path | None = None) -> str:
    """SHA-256 over the note files (sorted by name): the training-data hash in model cards."""
    import hashlib

    base = Path(data_dir) if data_dir else default_data_dir()
    digest = hashlib.sha256()
    for path in sorted((base / "notes").glob("*.jsonl")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


CARD_START, CARD_END = "<!-- counts:start -->", "<!-- counts:end -->"


def render_counts(report: ValidationReport, baseline: dict[str, Any] | None = None) -> str:
    """The data card's generated section: counts per label/seed/kind and the baseline floor."""
    lines = [CARD_START, "", "| label | notes |", "|---|---|"]
    lines += [f"| {label} | {report.by_label.get(label, 0)} |" for label in LABELS]
    lines += [f"| total | {report.n_records} |", ""]
    lines += [
        f"Scenario groups: {report.n_groups}. Hard cases: {report.n_hard} "
        f"({report.n_hard / max(report.n_records, 1):.0%}). "
        + ", ".join(f"{kind}: {n}" for kind, n in sorted(report.by_kind.items()))
        + ".",
        "",
        "| seed document | notes |",
        "|---|---|",
    ]
    lines += [f"| `{seed}` | {n} |" for seed, n in sorted(report.by_seed.items())]
    if baseline:
        lines += [
            "",
            "Floor to beat — plain TF-IDF + logistic regression, grouped 5-fold CV "
            f"(macro-F1 {baseline['macro_f1']:.3f}, accuracy {baseline['accuracy']:.3f}):",
            "",
            "| label | precision | recall | F1 |",
            "|---|---|---|---|",
        ]
        for label in LABELS:
            row = baseline["per_label"][label]
            lines.append(
                f"| {label} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} |"
            )
    lines += ["", CARD_END]
    return "\n".join(lines)


def update_card(data_dir: str | Path | None = None, baseline: dict[str, Any] | None = None) -> bool:
    """Rewrite the generated section of ``training_data/README.md``; True when it changed."""
    base = Path(data_dir) if data_dir else default_data_dir()
    card = base / "README.md"
    text = card.read_text(encoding="utf-8")
    start, end = text.index(CARD_START), text.index(CARD_END) + len(CARD_END)
    new = text[:start] + render_counts(validate(base), baseline) + text[end:]
    if new != text:
        card.write_text(new, encoding="utf-8")
    return new != text
