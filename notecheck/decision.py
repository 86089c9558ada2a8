"""Combine the model's probabilities and the rules' votes into one decision (pure functions).

Policy, in order:

1. Rules vote. Active billable cues vote for their label (most cues wins; a tie between labels
   abstains). With no billable cue, any active non-billable or other-service hit votes
   NON-BILLABLE. No active hit abstains.
2. The label is the model's most probable label: the model already sees the rule hits as
   features, so it has learned how far to trust each rule from the corpus.
3. Exception: when the model is unsure (top probability below ``override_below``) and the rules
   cast a vote for a different label that the model rates at least ``override_floor``, the rule
   vote wins. Ties in probability resolve in ``LABELS`` order.
   A second, wider exception for the error users feel most (a non-billable note passed as
   billable): when the rules find only non-billable activity (their vote is NON-BILLABLE, no
   billable cue counted) and the model's billable label is below ``non_billable_below``,
   NON-BILLABLE wins (000 Q8, Q10: faxing, transporting or waiting "for aftercare" is still
   not an intervention). Chosen by grouped cross-validation: at 0.70 macro-F1 held and
   NON-BILLABLE recall rose (README, Accuracy).
4. A decisive non-billable rule (one the seed states without exception, such as case
   management for a need with no objective on the ITP, 000 Q15) makes the note NON-BILLABLE
   whatever the model says, with the rule named as the reason.
5. A note with no activity text at all (only goal, plan, assessment or header sections) is
   NON-BILLABLE whatever the model says: nothing was done (000 Q38).
6. A label a decisive "excludes" rule rules out (a move to a nursing home for post-operative
   care is no TLA, 000 Q5; a deflection back to the same home is no TLA, Q57; a settled
   placement is no longer TLA, Q58) does not win while the rule applies: the next most
   probable label does, and the note is flagged for review. Other excludes rules (a family
   member in a "CCC") only raise a review: their wording is not categorical enough.
7. ``needs_review`` is raised when confidence is below ``review_below``, when the rules voted
   for another label, or when a rule excludes the chosen label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from notecheck.labels import LABELS, NON_BILLABLE

REVIEW_BELOW = 0.60
OVERRIDE_BELOW = 0.50
OVERRIDE_FLOOR = 0.15
NON_BILLABLE_BELOW = 0.70


@dataclass(frozen=True)
class RuleVotes:
    """Active (not discounted) rule hits of one note, by effect."""

    non_billable: tuple[str, ...] = ()
    cues: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    other_services: tuple[str, ...] = ()  # names of the other Rule 132 services suggested
    excludes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    decisive: tuple[str, ...] = ()  # active non-billable rules that decide the label
    decisive_for: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # only these labels
    rules_out: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # decisive excludes


@dataclass(frozen=True)
class Decision:
    """The combined verdict and why it needs (or does not need) a human look."""

    label: str
    confidence: float
    needs_review: bool
    review_reasons: tuple[str, ...]
    rules_vote: str | None
    overridden: bool = False


def rules_vote(
    votes: RuleVotes, labels: Sequence[str] = LABELS, non_billable: str = NON_BILLABLE
) -> str | None:
    """The rules' own verdict, or None when they abstain."""
    counts = {label: len(ids) for label, ids in votes.cues.items() if ids}
    if counts:
        best = max(counts.values())
        leaders = [label for label in labels if counts.get(label) == best]
        return leaders[0] if len(leaders) == 1 else None
    if votes.non_billable or votes.other_services:
        return non_billable
    return None


def decide(
    probabilities: Mapping[str, float],
    votes: RuleVotes,
    *,
    review_below: float = REVIEW_BELOW,
    override_below: float = OVERRIDE_BELOW,
    override_floor: float = OVERRIDE_FLOOR,
    has_activity: bool = True,
    non_billable_below: float = NON_BILLABLE_BELOW,
    labels: Sequence[str] = LABELS,
    non_billable: str = NON_BILLABLE,
) -> Decision:
    """Apply the policy in this module's docstring to a profile's ``labels``."""
    order = tuple(labels)
    model_label = max(order, key=lambda label: (probabilities[label], -order.index(label)))
    vote = rules_vote(votes, order, non_billable)
    excluded = {label for label, ids in votes.rules_out.items() if ids}
    ruled_out = model_label if model_label in excluded else None
    if ruled_out:
        allowed = [label for label in order if label not in excluded]
        model_label = max(allowed, key=lambda label: (probabilities[label], -order.index(label)))
    label, overridden = model_label, ruled_out is not None
    if not has_activity:
        return Decision(
            label=non_billable,
            confidence=float(probabilities[non_billable]),
            needs_review=True,
            review_reasons=(
                "the note describes no activity: only goal, plan, assessment or header text",
            ),
            rules_vote=vote,
            overridden=model_label != non_billable,
        )
    deciding = [
        rule_id
        for rule_id in votes.decisive
        if model_label in votes.decisive_for.get(rule_id, order)
    ]
    if deciding:
        return Decision(
            label=non_billable,
            confidence=float(probabilities[non_billable]),
            needs_review=True,
            review_reasons=(f"{', '.join(deciding)} applies: the service cannot be billed",),
            rules_vote=vote,
            overridden=model_label != non_billable,
        )
    if (
        vote is not None
        and vote != model_label
        and vote not in excluded
        and probabilities[model_label] < override_below
        and probabilities[vote] >= override_floor
    ):
        label, overridden = vote, True
    elif (
        vote == non_billable
        and model_label != non_billable
        and probabilities[model_label] < non_billable_below
    ):
        label, overridden = non_billable, True
    confidence = float(probabilities[label])
    reasons: list[str] = []
    if confidence < review_below:
        reasons.append(f"low confidence ({confidence:.2f} < {review_below:.2f})")
    if vote is not None and vote != label:
        reasons.append(f"the rules point to {vote}, the model to {label}")
    excluded_by = votes.excludes.get(label, ())
    if excluded_by:
        reasons.append(f"{label} is unlikely when {', '.join(excluded_by)} applies")
    if ruled_out:
        reasons.append(
            f"{ruled_out} is ruled out by {', '.join(votes.rules_out[ruled_out])}; "
            f"{label} is the next most probable label"
        )
    elif overridden:
        reasons.append(
            f"the model was unsure ({probabilities[model_label]:.2f} for {model_label}); the rules decided"
        )
    return Decision(
        label=label,
        confidence=confidence,
        needs_review=bool(reasons),
        review_reasons=tuple(reasons),
        rules_vote=vote,
        overridden=overridden,
    )
