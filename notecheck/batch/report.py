"""The run's summary and its self-contained HTML report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from notecheck.batch.ledger import caps_title, str_or_none
from notecheck.batch.prepare import Prepared
from notecheck.labels import LABELS, NON_BILLABLE

if TYPE_CHECKING:
    # The engine (spaCy, scikit-learn) loads when a batch runs, not when "notecheck --help"
    # builds its parser.
    pass

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
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    mismatch_count: int = 0
    windows_1252: int = 0  # rows whose bytes were read as Windows-1252, not UTF-8

    def add(self, p: Prepared, outcome: Any) -> None:
        """Count one row."""
        self.rows += 1
        self.windows_1252 += p.row.windows_1252
        staff_id = str(p.row.fields.get("staff_id") or "(none)")
        counts = self.staff.setdefault(staff_id, Counter())
        counts["notes"] += 1
        if not isinstance(outcome, dict):
            self.errors += 1
            counts["errors"] += 1
            reason = p.error if p.error else f"{outcome[0]}" if outcome else "error"
            # Every error reads "code: message"; the message may itself hold colons.
            self.errors_by_reason[reason.partition(": ")[0]] += 1
            return
        self.ok += 1
        label = outcome["label"]
        self.by_label[label] += 1
        counts[label] += 1
        self.needs_review += bool(outcome["needs_review"])
        counts["units_at_risk"] += outcome.get("units_at_risk") or 0
        counts["units_supported"] += outcome.get("units_supported") or 0
        counts["split_unknown"] += outcome.get("time_split") == "unknown"
        for rule_id in outcome["non_billable_rules"] + outcome["billable_rules"]:
            self.rules[rule_id] += 1
        if outcome["billed_code_matches"] is False:
            self.mismatch_count += 1
            counts["mismatches"] += 1
            if len(self.mismatches) < MAX_REPORTED_ITEMS:
                self.mismatches.append(
                    {
                        "row": p.row.number,
                        "note_id": str_or_none(p.row.fields.get("note_id")),
                        "staff_id": staff_id,
                        "billed_code": p.billed_code,
                        "label": label,
                        "non_billable_rules": outcome["non_billable_rules"],
                    }
                )

    def to_dict(
        self, findings: dict[str, list[dict[str, Any]]], meta: dict[str, Any]
    ) -> dict[str, Any]:
        """The machine-readable summary."""
        staff = {
            sid: {
                "notes": c["notes"],
                "errors": c["errors"],
                "mismatches": c["mismatches"],
                "non_billable": c[NON_BILLABLE],
                "share_non_billable": round(c[NON_BILLABLE] / max(c["notes"] - c["errors"], 1), 4),
                "units_supported": c["units_supported"],
                "units_at_risk": c["units_at_risk"],
                "time_split_unknown": c["split_unknown"],
                **{label: c[label] for label in LABELS},
            }
            for sid, c in sorted(self.staff.items())
        }
        return {
            **meta,
            "rows": self.rows,
            "ok": self.ok,
            "errors": self.errors,
            "errors_by_reason": dict(self.errors_by_reason),
            "rows_read_as_windows_1252": self.windows_1252,
            "needs_review": self.needs_review,
            "by_label": {label: self.by_label[label] for label in LABELS},
            "staff": staff,
            "units_at_risk": sum(c["units_at_risk"] for c in self.staff.values()),
            "top_rules": self.rules.most_common(15),
            "billed_code_mismatches": {"count": self.mismatch_count, "items": self.mismatches},
            **{k: v[:MAX_REPORTED_ITEMS] for k, v in findings.items()},
            "finding_counts": {k: len(v) for k, v in findings.items()},
        }


def _esc(value: Any) -> str:
    import html

    return html.escape("" if value is None else str(value))


def _bar_chart(by_label: dict[str, int]) -> str:
    width, bar_h, gap = 520, 26, 10
    top = max(by_label.values()) or 1
    colors = {
        "CM-MH": "#1f6feb",
        "CS-IND": "#1e8449",
        "CM-TLA": "#8e44ad",
        "CM-CCC": "#b9770e",
        "NON-BILLABLE": "#c0392b",
    }
    parts = [
        f'<svg role="img" aria-label="Notes per label" width="{width + 160}" '
        f'height="{len(by_label) * (bar_h + gap)}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (label, n) in enumerate(by_label.items()):
        y = i * (bar_h + gap)
        w = int(width * n / top)
        parts.append(f'<text x="0" y="{y + 18}" font-size="14">{_esc(label)}</text>')
        parts.append(
            f'<rect x="120" y="{y}" width="{w}" height="{bar_h}" fill="{colors.get(label, "#555")}"/>'
        )
        parts.append(f'<text x="{126 + w}" y="{y + 18}" font-size="14">{n}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_report(summary: dict[str, Any]) -> str:
    """A self-contained HTML report (inline CSS and SVG, no external assets)."""

    def table(headers: list[str], rows: list[list[Any]]) -> str:
        head = "".join(f"<th scope='col'>{_esc(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body or '<tr><td colspan=99>none</td></tr>'}</tbody></table>"

    staff_rows = [
        [
            sid,
            s["notes"],
            s["errors"],
            f"{s['share_non_billable']:.0%}",
            s["mismatches"],
            s["units_at_risk"],
            s["time_split_unknown"],
        ]
        for sid, s in summary["staff"].items()
    ]
    mismatch_rows = [
        [
            m["row"],
            m["note_id"],
            m["staff_id"],
            m["billed_code"],
            m["label"],
            ", ".join(m["non_billable_rules"]),
        ]
        for m in summary["billed_code_mismatches"]["items"]
    ]
    overlap_rows = [
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
    ]
    cap_rows = [
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
    ]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>notecheck batch report</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #1d2329; padding: 0 1rem; }}
h1 {{ margin-bottom: .2rem; }} .meta {{ color: #52606d; }}
table {{ border-collapse: collapse; width: 100%; margin: .5rem 0 1.5rem; }}
th, td {{ border-bottom: 1px solid #e3e7eb; padding: .3rem .5rem; text-align: left; }}
.cards {{ display: flex; gap: 1rem; flex-wrap: wrap; }} .card {{ background: #f3f5f8; padding: .7rem 1rem; border-radius: 8px; }}
.card b {{ display: block; font-size: 1.4rem; }}
</style></head><body>
<h1>notecheck batch report</h1>
<p class="meta">{_esc(summary["input"])} · {summary["rows"]} rows · model {_esc(summary["model_version"])} · rules {_esc(summary["ruleset_version"])} · {_esc(summary["finished_at"])}</p>
<div class="cards">
<div class="card"><b>{summary["ok"]}</b>scored</div>
<div class="card"><b>{summary["errors"]}</b>error rows</div>
<div class="card"><b>{summary["by_label"].get("NON-BILLABLE", 0)}</b>non-billable</div>
<div class="card"><b>{summary["billed_code_mismatches"]["count"]}</b>billed-code mismatches</div>
<div class="card"><b>{summary["needs_review"]}</b>need review</div>
<div class="card"><b>{summary["units_at_risk"]}</b>units at risk</div>
<div class="card"><b>{summary["finding_counts"]["overlaps"]}</b>time overlaps</div>
<div class="card"><b>{summary["finding_counts"]["caps"]}</b>cap warnings</div>
</div>
<h2>Notes per label</h2>
{_bar_chart(summary["by_label"])}
{table(["label", "notes"], [[k, v] for k, v in summary["by_label"].items()])}
<h2>Per staff member</h2>
{table(["staff", "notes", "error rows", "non-billable share", "billed-code mismatches", "units at risk", "time split unknown"], staff_rows)}
<h2>Billed code vs what the note supports</h2>
{table(["row", "note id", "staff", "billed", "note supports", "non-billable flags"], mismatch_rows)}
<h2>Time overlaps (000 Q1; CCC billed twice: Q40, Q56)</h2>
{table(["kind", "client", "date", "staff", "windows", "notes", "source"], overlap_rows)}
<h2>Annual caps ({caps_title()} per client per year)</h2>
{table(["kind", "client", "year", "service", "hours", "cap", "source"], cap_rows)}
<h2>Most-fired rules</h2>
{table(["rule", "notes"], summary["top_rules"])}
<h2>Error rows by reason</h2>
{table(["reason", "rows"], list(summary["errors_by_reason"].items()))}
<p class="meta">Under Rule 132 each claim stands alone: short same-day contacts are not combined (000 Q54). Lists are capped at {MAX_REPORTED_ITEMS} items; the output file has every row.</p>
</body></html>
"""
