"""The run's summary and its self-contained HTML report."""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from notecheck.batch.ledger import caps_title, str_or_none
from notecheck.batch.prepare import Prepared
from notecheck.batch.score import Failed, Outcome
from notecheck.labels import LABELS, NON_BILLABLE

MAX_REPORTED_ITEMS = 500  # per finding list in the report; the output file has every row


# ------------------------------------------------------------------------------ summary & report


@dataclass
class Summary:
    """Counters kept while streaming (memory grows with staff count, not with rows)."""

    rows: int = 0
    ok: int = 0
    errors: int = 0
    by_label: Counter[str] = field(default_factory=Counter)
    errors_by_reason: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    needs_review: int = 0
    staff: dict[str, Counter[str]] = field(default_factory=dict)
    # The largest by units at stake (a bounded heap: memory does not grow with rows).
    mismatches: list[tuple[int, int, dict[str, Any]]] = field(default_factory=list)
    mismatch_count: int = 0
    review: list[tuple[float, int, dict[str, Any]]] = field(default_factory=list)
    staff_reasons: dict[str, Counter[str]] = field(default_factory=dict)
    windows_1252: int = 0  # rows whose bytes were read as Windows-1252, not UTF-8
    labels: tuple[str, ...] = LABELS  # the profile's labels, in order
    non_billable: str = NON_BILLABLE

    def add(self, p: Prepared, outcome: Outcome) -> None:
        """Count one row."""
        self.rows += 1
        self.windows_1252 += p.row.windows_1252
        staff_id = str(p.row.fields.get("staff_id") or "(none)")
        counts = self.staff.setdefault(staff_id, Counter())
        counts["notes"] += 1
        if isinstance(outcome, Failed):
            self.errors += 1
            counts["errors"] += 1
            self.errors_by_reason[outcome.code] += 1
            return
        self.ok += 1
        label = outcome.label
        self.by_label[label] += 1
        counts[label] += 1
        self.needs_review += outcome.needs_review
        counts["units_at_risk"] += outcome.units_at_risk or 0
        counts["units_supported"] += outcome.units_supported or 0
        counts["split_unknown"] += outcome.time_split == "unknown"
        for rule_id in outcome.non_billable_rules + outcome.billable_rules:
            self.rules[rule_id] += 1
        reasons = self.staff_reasons.setdefault(staff_id, Counter())
        reasons.update(outcome.non_billable_rules)
        for check in outcome.documentation_failures:
            counts[f"doc:{check}"] += 1
        note = {
            "row": p.row.number,
            "note_id": str_or_none(p.row.fields.get("note_id")),
            "staff_id": staff_id,
            "billed_code": p.billed_code,
            "label": label,
            "units_at_risk": outcome.units_at_risk or 0,
            "non_billable_rules": list(outcome.non_billable_rules),
        }
        if outcome.billed_code_matches is False:
            self.mismatch_count += 1
            counts["mismatches"] += 1
            _keep(self.mismatches, (note["units_at_risk"], -p.row.number, note))
        if outcome.needs_review:
            item = {**note, "confidence": outcome.confidence, "decided_by": outcome.decided_by}
            item["reasons"] = list(outcome.review_reasons)
            _keep(self.review, (-outcome.confidence, -p.row.number, item))

    def to_dict(
        self, findings: dict[str, list[dict[str, Any]]], meta: dict[str, Any]
    ) -> dict[str, Any]:
        """The machine-readable summary."""
        staff: dict[str, dict[str, Any]] = {
            sid: {
                "notes": c["notes"],
                "errors": c["errors"],
                "mismatches": c["mismatches"],
                "non_billable": c[self.non_billable],
                "share_non_billable": round(
                    c[self.non_billable] / max(c["notes"] - c["errors"], 1), 4
                ),
                "units_supported": c["units_supported"],
                "units_at_risk": c["units_at_risk"],
                "time_split_unknown": c["split_unknown"],
                **{label: c[label] for label in self.labels},
            }
            for sid, c in sorted(self.staff.items())
        }
        for sid, entry in staff.items():
            scored = max(entry["notes"] - entry["errors"], 1)
            counts = self.staff[sid]
            entry["documentation_failure_rates"] = {
                k[4:]: round(v / scored, 4)
                for k, v in sorted(counts.items())
                if k.startswith("doc:")
            }
            entry["top_reasons"] = self.staff_reasons.get(sid, Counter()).most_common(3)
        return {
            **meta,
            "rows": self.rows,
            "ok": self.ok,
            "errors": self.errors,
            "errors_by_reason": dict(self.errors_by_reason),
            "rows_read_as_windows_1252": self.windows_1252,
            "needs_review": self.needs_review,
            "by_label": {label: self.by_label[label] for label in self.labels},
            "staff": staff,
            "units_at_risk": sum(c["units_at_risk"] for c in self.staff.values()),
            "top_rules": self.rules.most_common(15),
            "billed_code_mismatches": {
                "count": self.mismatch_count,
                "items": [m for *_, m in sorted(self.mismatches, reverse=True)],
            },
            "needs_review_items": [r for *_, r in sorted(self.review, reverse=True)],
            **{k: v[:MAX_REPORTED_ITEMS] for k, v in findings.items()},
            "finding_counts": {k: len(v) for k, v in findings.items()},
        }


def _keep(heap: list[Any], item: tuple[Any, ...]) -> None:
    """Keep the ``MAX_REPORTED_ITEMS`` largest items (by the tuple's leading keys)."""
    entry = (*item[:-1], id(item[-1]), item[-1])  # id: never compare the dicts themselves
    if len(heap) < MAX_REPORTED_ITEMS:
        heapq.heappush(heap, entry)
    elif entry > heap[0]:
        heapq.heapreplace(heap, entry)


def _percent(share: float) -> str:
    return f"{share:.0%}"


def _staff_rows(summary: dict[str, Any], titles: dict[str, str]) -> list[list[Any]]:
    rows = []
    for sid, s in sorted(summary["staff"].items(), key=lambda kv: -kv[1]["units_at_risk"]):
        reasons = ", ".join(
            f"{titles.get(rule, rule)} ({n})" for rule, n in s.get("top_reasons", [])
        )
        failures = ", ".join(
            f"{check.replace('_', ' ')} {_percent(rate)}"
            for check, rate in sorted(
                s.get("documentation_failure_rates", {}).items(), key=lambda kv: -kv[1]
            )[:3]
        )
        rows.append(
            [
                sid,
                s["notes"],
                s["errors"],
                _percent(s["share_non_billable"]),
                s["mismatches"],
                s["units_at_risk"],
                s["time_split_unknown"],
                reasons,
                failures,
            ]
        )
    return rows


def render_report(summary: dict[str, Any]) -> str:
    """The self-contained HTML report (Jinja2, autoescaped; no external assets, no note text)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    from notecheck.catalog import load_catalog
    from notecheck.profiles import load_profile

    profile = load_profile(summary.get("profile") or "il132")
    titles = {
        rule.id: rule.title for rule in load_catalog(profile.folder.joinpath("rules.toml")).rules
    }
    env = Environment(
        loader=PackageLoader("notecheck.batch", "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    trend = summary.get("trend") or []
    return env.get_template("report.html.j2").render(
        summary=summary,
        caps_title=caps_title() if profile.services_file else None,
        profile=profile,
        limit_rows=[
            [c["kind"], c["client_id"], c["period"], c["units"], c["limit"], c["citation"]]
            for c in summary.get("limits", [])
        ],
        max_items=MAX_REPORTED_ITEMS,
        staff_rows=_staff_rows(summary, titles),
        mismatch_rows=[
            [
                m["row"],
                m["note_id"],
                m["staff_id"],
                m["billed_code"],
                m["label"],
                m.get("units_at_risk"),
                ", ".join(titles.get(r, r) for r in m["non_billable_rules"]),
            ]
            for m in summary["billed_code_mismatches"]["items"]
        ],
        review_rows=[
            [
                r["row"],
                r["note_id"],
                r["staff_id"],
                r["label"],
                # The model's probability of a label the rules chose is not a confidence; the
                # number stays first so the column still sorts as numbers.
                f"{r['confidence']:.2f} (the model's; the rules decided)"
                if r.get("decided_by") == "rules"
                else f"{r['confidence']:.2f}",
                "; ".join(r.get("reasons", [])),
            ]
            for r in summary.get("needs_review_items", [])
        ],
        trend=trend,
        trend_rows=[
            [w["week"], w["notes"], w["non_billable"], _percent(w["share"]), w["billed_hours"]]
            for w in trend
        ],
        overlap_rows=[
            [
                o["kind"],
                o["client_id"],
                o["service_date"],
                " / ".join(map(str, o["staff_ids"])),
                " / ".join(o["windows"]),
                " / ".join(map(str, o["note_ids"])),
                o["citation"],
            ]
            for o in summary["overlaps"]
        ],
        cap_rows=[
            [
                c["kind"],
                c["client_id"],
                c["year"],
                c["service"],
                c["hours"],
                c["cap_hours"],
                c["citation"],
            ]
            for c in summary["caps"]
        ],  # fmt: skip
        label_rows=[[k, v] for k, v in summary["by_label"].items()],
        rule_rows=[[rule, titles.get(rule, ""), n] for rule, n in summary["top_rules"]],
        error_rows=list(summary["errors_by_reason"].items()),
    )
