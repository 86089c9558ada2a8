"""CDS Hooks cards from a Result: what an EHR shows when a note is signed.

One card per kind of finding, most urgent first (CDS Hooks "Card Attributes"):

- ``critical``: the note supports no billable service;
- ``warning``: the billed code is not what the note supports, or billed units are at risk;
- ``info``: documentation checks that fail.

A card quotes no more of the note than its evidence phrases, each with the rule it meets and
that rule's source passage.
"""

from __future__ import annotations

import uuid
from typing import Any

from notecheck.profiles import load_profile
from notecheck.result import Result

SUMMARY_LIMIT = 140  # "One-sentence, <140-character summary"
INDICATORS = ("info", "warning", "critical")
_PHRASES_SHOWN = 6


def _summary(text: str) -> str:
    """A summary under the specification's limit (cut at a word, with an ellipsis)."""
    if len(text) < SUMMARY_LIMIT:
        return text
    cut = text[: SUMMARY_LIMIT - 2].rsplit(" ", 1)[0]
    return cut + "…"


def _md(text: str) -> str:
    """Text safe inside Markdown: the characters GFM would read as markup or HTML are escaped."""
    return "".join("\\" + c if c in "\\`*_[]<>#|~" else c for c in text)


def _why(result: Result, effects: tuple[str, ...]) -> list[str]:
    """One Markdown line per counted evidence phrase: the words, the rule and its source."""
    fired = {r.rule_id: r for r in result.rules_fired}
    lines: list[str] = []
    for evidence in result.evidence:
        rule = fired.get(evidence.rule_id)
        if not evidence.active or evidence.effect not in effects or rule is None:
            continue
        lines.append(f"- “{_md(evidence.text)}” — {_md(rule.title)} ({_md(rule.source)})")
        if len(lines) == _PHRASES_SHOWN:
            break
    return lines


def cards_for(result: Result) -> list[dict[str, Any]]:
    """The cards for one checked note (an empty list when there is nothing to say)."""
    profile = load_profile(result.profile)
    source = {
        "label": f"notecheck · {profile.title} ({profile.name})",
        "topic": {
            "system": "https://notecheck.invalid/label",
            "code": result.label,
            "display": result.display_name,
        },
    }
    cards: list[dict[str, Any]] = []

    def card(indicator: str, summary: str, detail: list[str]) -> None:
        cards.append(
            {
                "uuid": str(uuid.uuid4()),
                "summary": _summary(summary),
                "indicator": indicator,
                "detail": "\n".join(detail),
                "source": source,
            }
        )

    if result.label == profile.non_billable:
        why = _why(result, ("non-billable", "other-service"))
        card(
            "critical",
            f"{result.display_name}: the note describes no billable intervention.",
            [
                f"**{result.label}** under {_md(profile.title)}.",
                *(["", "What was found:", *why] if why else []),
                *(["", *[f"- {_md(h)}" for h in result.hints]] if result.hints else []),
            ],
        )
    else:
        mismatch = result.billed_code is not None and result.billed_code_matches is False
        at_risk = result.time.units_at_risk if result.time is not None else None
        if mismatch or at_risk:
            headline = (
                f"Billed as {result.billed_code}; the note supports {result.label}."
                if mismatch
                else f"{at_risk} billed unit(s) are not supported by the note's time."
            )
            why = _why(result, ("billable-cue", "non-billable"))
            card(
                "warning",
                headline,
                [
                    f"The note reads as **{result.label}** ({_md(result.display_name)}).",
                    *(["", *why] if why else []),
                    *(["", *[f"- {_md(h)}" for h in result.hints]] if result.hints else []),
                ],
            )
    failing = [d for d in result.documentation if d.status == "fail"]
    if failing:
        card(
            "info",
            f"Documentation: {len(failing)} check(s) fail ("
            + ", ".join(d.check.replace("_", " ") for d in failing)
            + ").",
            [f"- **{d.check.replace('_', ' ')}**: {_md(d.detail)}" for d in failing],
        )
    return cards
