"""The five source documents and the passage anchors that rules and training notes cite.

A citation is ``<seed file name>#<anchor>``, e.g. ``000_7327f7de9bed1889.txt#Q10`` or
``003_8477259baaf409aa.txt#non-billable``. The anchor vocabulary below mirrors the structure of
each document, so a citation can be checked without the documents being installed.
"""

from __future__ import annotations

import json
import os
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

SEED_FILES: dict[str, str] = {
    "000": "000_7327f7de9bed1889.txt",
    "001": "001_1e3297cce69ec401.txt",
    "002": "002_eaedd03f0945d383.txt",
    "003": "003_8477259baaf409aa.txt",
    "004": "004_8a8b51b219add6ca.txt",
}

_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")

ANCHORS: dict[str, frozenset[str]] = {
    # Rule 132 Q&A: 94 numbered questions.
    "000": frozenset(f"Q{i}" for i in range(1, 95)),
    # CSC billing memo: preamble and numbered sections 1-6.
    "001": frozenset({"intro"} | {f"§{i}" for i in range(1, 7)}),
    # LA SAPC scenario table and checklist, by core function.
    "002": frozenset(
        f"{part}-{fn}"
        for part in ("scenarios", "checklist")
        for fn in ("connection", "coordination", "communication")
    ),
    # SF BHS TCM definition: activity types, non-billable list, care plan.
    "003": frozenset(
        {
            "definition",
            "assessment",
            "plan-development",
            "referral-linkage",
            "monitoring",
            "non-billable",
            "care-plan",
        }
    ),
    # Oklahoma T1017: reimbursable items (I)-(VIII), limitations (I)-(X).
    "004": frozenset(
        # "residence": the closing paragraph on residents of nursing facilities, residential,
        # group and foster homes and ICF/MRs; "unit-limits": the daily/monthly limits table.
        {"requirement", "travel-time", "documentation", "residence", "unit-limits"}
        | {f"reimbursable-{r}" for r in _ROMAN[:8]}
        | {f"limitation-{r}" for r in _ROMAN}
    ),
}

_CITATION_RE = re.compile(r"^(?P<file>(?P<key>\d{3})_[0-9a-f]{16}\.txt)#(?P<anchor>\S+)$")


def parse_citation(citation: str) -> tuple[str, str]:
    """Split a citation into ``(seed file name, anchor)`` after checking both exist.

    Raises
    ------
    ValueError
        If the file is not one of the five seeds or the anchor is not one of its passages.
    """
    match = _CITATION_RE.match(citation)
    if not match:
        raise ValueError(f"citation {citation!r} is not '<seed file>#<anchor>'")
    key, file_name, anchor = match["key"], match["file"], match["anchor"]
    if SEED_FILES.get(key) != file_name:
        raise ValueError(f"citation {citation!r} names no known seed document")
    if anchor not in ANCHORS[key]:
        raise ValueError(f"citation {citation!r}: {anchor!r} is not a passage of {file_name}")
    return file_name, anchor


def short_citation(citation: str) -> str:
    """The form reviewers quote: ``000_7327f7de9bed1889.txt#Q61`` -> ``000 Q61``."""
    file_name, _, anchor = citation.partition("#")
    return f"{file_name.split('_', 1)[0]} {anchor}".strip()


def seeds_dir() -> Path | None:
    """Locate the seed documents: ``$NOTECHECK_SEEDS_DIR`` or ``../shared/seeds`` of the repo."""
    env = os.environ.get("NOTECHECK_SEEDS_DIR")
    candidates = [Path(env)] if env else []
    repo = Path(__file__).resolve().parent.parent
    candidates += [repo.parent / "shared" / "seeds", repo / "shared" / "seeds"]
    for path in candidates:
        if (path / SEED_FILES["000"]).is_file():
            return path
    return None


@cache
def seed_index() -> dict[str, Any]:
    """The shipped index of the seed documents (``rules/seed_index.json``).

    Facts about each document (title, issuer, jurisdiction, profile, length) and where each
    cited passage lives (the line a Q&A question opens on), so citations resolve and read well
    on a machine that does not have the documents themselves.
    """
    data = resources.files("notecheck.rules").joinpath("seed_index.json").read_text("utf-8")
    index: dict[str, Any] = json.loads(data)
    return index


@cache
def describe(citation: str) -> str:
    """A citation a reviewer can follow without the file.

    ``000_7327f7de9bed1889.txt#Q15`` → ``Illinois, Rule 132 Q&A, question 15 (line 268)``; the
    document's full title, issuer and profile are in the index.
    """
    file_name, anchor = parse_citation(citation)
    key = file_name[:3]
    doc = seed_index()["documents"][key]
    where = f"question {anchor[1:]}" if key == "000" and anchor.startswith("Q") else anchor
    line = doc["passages"].get(anchor)
    place = f" (line {line})" if line else ""
    return f"{doc['jurisdiction']}, {doc['short_title']}, {where}{place}"
