"""``notecheck`` command line: a thin layer over the library."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from notecheck import __version__

EXIT_OK, EXIT_USAGE, EXIT_INPUT, EXIT_MODEL, EXIT_DATA = 0, 2, 2, 3, 4
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug, reported without its details

_COLORS = {
    "non-billable": "\033[1;31m",
    "billable-cue": "\033[1;32m",
    "other-service": "\033[1;33m",
    "excludes": "\033[1;35m",
    "model-cue": "\033[4m",
}
_DIM, _RESET = "\033[2m", "\033[0m"


def _err(message: str) -> None:
    print(f"notecheck: {message}", file=sys.stderr)


def highlight(text: str, evidence: Sequence[Any], *, color: bool) -> str:
    """The note with evidence marked: ANSI colours on a terminal, ``[span]{rule}`` otherwise."""
    spans = sorted(
        (e for e in evidence if e.effect != "model-cue"), key=lambda e: (e.start, -e.end)
    )
    out, pos = [], 0
    for ev in spans:
        if ev.start < pos:
            continue  # overlapping spans: the first (longest) one is shown
        out.append(text[pos : ev.start])
        chunk = text[ev.start : ev.end]
        if color:
            style = _COLORS.get(ev.effect, "") if ev.active else _DIM
            out.append(f"{style}{chunk}{_RESET}")
        else:
            mark = ev.rule_id if ev.active else f"{ev.rule_id}, not counted"
            out.append(f"[{chunk}]{{{mark}}}")
        pos = ev.end
    out.append(text[pos:])
    return "".join(out)


def _confidence(result: Any) -> str:
    if result.extra.get("decided_by") == "rules":
        # The model's probability of a label the rules chose over it is not a confidence.
        return f"decided by the rules (the model gave it {result.confidence:.2f})"
    return f"confidence {result.confidence:.2f}"


def _print_result(result: Any, text: str, stream: TextIO, *, color: bool) -> None:
    review = "  (needs review)" if result.needs_review else ""
    print(
        f"{result.label} — {result.display_name}  {_confidence(result)}{review}",
        file=stream,
    )
    print("", file=stream)
    print(highlight(text, result.evidence, color=color), file=stream)
    print("", file=stream)
    if result.rules_fired:
        print("Rules:", file=stream)
        for rule in result.rules_fired:
            counted = "" if rule.active_matches else "  [not counted: context or section]"
            print(f"  - {rule.rule_id}: {rule.title}{counted}", file=stream)
            print(f"      {rule.source} [{rule.citation}]", file=stream)
    not_counted = [sec for sec in result.sections if not sec.counts]
    if not_counted:
        print("Not counted as activity:", file=stream)
        for sec in not_counted:
            snippet = " ".join(text[sec.start : sec.end].split())
            snippet = snippet if len(snippet) <= 70 else snippet[:69] + "…"
            print(f"  {sec.kind:<10} {snippet}", file=stream)
    if result.activities:
        print("Activities:", file=stream)
        for act in result.activities:
            minutes = "" if act.minutes is None else f"  {act.minutes:g} min"
            snippet = act.text if len(act.text) <= 60 else act.text[:59] + "…"
            kind = "no rule" if act.kind == "none" else act.kind
            print(f"  {kind:<12} {snippet}{minutes}", file=stream)
    time = result.time
    if time is not None and time.total_minutes is not None:
        parts = [f"{time.total_minutes:g} min ({time.total_source})"]
        if time.billable_minutes is not None:
            parts.append(f"billable {time.billable_minutes:g}")
        if time.non_billable_minutes:
            parts.append(f"non-billable {time.non_billable_minutes:g}")
        if time.unallocated_minutes:
            parts.append(f"unallocated {time.unallocated_minutes:g}")
        units = "?" if time.units_supported is None else str(time.units_supported)
        risk = "?" if time.units_at_risk is None else str(time.units_at_risk)
        parts.append(f"units supported {units}, billed {time.units_billed}, at risk {risk}")
        print("Time: " + " · ".join(parts), file=stream)
    for reason in result.review_reasons:
        print(f"Review: {reason}", file=stream)
    for hint in result.hints:
        print(f"Hint: {hint}", file=stream)
    print("Documentation:", file=stream)
    for check in result.documentation:
        print(f"  {check.status:<7} {check.check}: {check.detail}", file=stream)
    print(f"model {result.model_version} · rules {result.ruleset_version}", file=stream)


def _names_a_file(arg: str) -> bool:
    """True when ``arg`` is the path of an existing file (a one-line note is too long for one)."""
    if "\n" in arg or len(arg) > 4096:
        return False
    try:
        return Path(arg).is_file()
    except (OSError, ValueError):  # a name too long for the file system, or a NUL byte
        return False


def _note_text(arg: str) -> str | None:
    """The note: the argument itself, the text file it names, or stdin for "-" (None: error)."""
    if arg == "-":
        raw, source = sys.stdin.buffer.read(), "stdin"
    elif _names_a_file(arg):
        # "notecheck check note.txt": a path to a note is read, not checked as the note.
        try:
            raw, source = Path(arg).read_bytes(), arg
        except OSError as exc:
            _err(f"cannot read {arg}: {exc.strerror}")
            return None
    else:
        return arg
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        _err(f"{source} is not valid UTF-8 text")
        return None


def cmd_check(args: argparse.Namespace) -> int:
    """Run ``notecheck check``."""
    from notecheck.engine import Engine, InputError

    text = _note_text(args.text)
    if text is None:
        return EXIT_INPUT
    engine = Engine(args.model_dir, profile=args.profile)
    try:
        result = engine.check(
            text, billed_code=args.billed_code, minutes=args.minutes, staff_level=args.staff_level
        )
    except InputError as exc:
        _err(f"{exc.code}: {exc.message}")
        return EXIT_INPUT
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        _print_result(result, text, sys.stdout, color=sys.stdout.isatty() and not args.no_color)
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    """Run ``notecheck train``."""
    from notecheck.evaluate import format_report, train
    from notecheck.profiles import load_profile

    profile = load_profile(args.profile)
    if profile.own_model is None:
        _err(
            f"profile {profile.name!r} has no training data of its own: it borrows the "
            f"{profile.borrowed_model!r} model and its own rules decide where they speak "
            f"(notecheck/profiles/{profile.name}/profile.toml). Train {profile.borrowed_model!r}."
        )
        return EXIT_DATA
    meta = train(args.data_dir, args.model_dir, with_cv=not args.no_cv, progress=_err)
    print(f"wrote model {meta['model_version']}")
    if meta.get("cv_metrics"):
        print(format_report(meta["cv_metrics"]))
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Run ``notecheck evaluate``."""
    from notecheck.data import load_notes
    from notecheck.evalset import evaluate_split, format_split_report, load_eval_notes
    from notecheck.evaluate import cross_validate_with_v1, format_report

    if args.profile and args.profile != "il132":
        return _evaluate_profile(args)
    notes = load_notes(args.data_dir)
    report: dict[str, Any] = {}
    if not args.split_only:
        report["cross_validation"] = cross_validate_with_v1(
            notes, n_splits=args.folds, progress=_err
        )
    if not args.cv_only:
        report["structured_split"] = evaluate_split(
            notes, load_eval_notes(args.data_dir), progress=_err
        )
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return EXIT_OK
    if "cross_validation" in report:
        print(
            f"grouped {args.folds}-fold cross-validation on {len(notes)} notes "
            f"({len({n.group for n in notes})} scenario groups)\n"
        )
        print(format_report(report["cross_validation"]))
    if "structured_split" in report:
        print()
        print(format_split_report(report["structured_split"]))
    return EXIT_OK


def _evaluate_profile(args: argparse.Namespace) -> int:
    """``notecheck evaluate --profile NAME`` for a profile without a corpus of its own."""
    from notecheck.profiles.evaluation import evaluate_profile, format_profile_report

    report = evaluate_profile(args.profile, args.data_dir, progress=_err)
    if args.write_card:
        from notecheck.profiles import load_profile
        from notecheck.profiles.evaluation import profile_card

        card = Path(str(load_profile(args.profile).folder.joinpath("CARD.md")))
        card.write_text(profile_card(report), encoding="utf-8")
        _err(f"wrote {card}")
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print(format_profile_report(report))
    return EXIT_OK


def cmd_profiles(args: argparse.Namespace) -> int:
    """Run ``notecheck profiles``: the shipped rule profiles."""
    from notecheck.profiles import default_profile_name, load_profile, profile_names

    summaries = [load_profile(name).summary() for name in profile_names()]
    if args.json:
        json.dump(summaries, sys.stdout, indent=2, ensure_ascii=False)
        print()
        return EXIT_OK
    chosen = default_profile_name()
    for item in summaries:
        mark = "  (default)" if item["name"] == chosen else ""
        print(f"{item['name']:<11} {item['title']}{mark}")
        print(f"{'':<11} labels: {', '.join(label['code'] for label in item['labels'])}")
        print(f"{'':<11} sources: {', '.join(item['sources'])} · model: {item['model']}")
    return EXIT_OK


def cmd_versions(args: argparse.Namespace) -> int:
    """Run ``notecheck versions``: the installed run-time dependencies, auditable."""
    from notecheck.model import default_model_dir
    from notecheck.versions import runtime_versions

    meta_path = default_model_dir() / "meta.json"
    trained = (
        json.loads(meta_path.read_text()).get("dependencies", {}) if meta_path.is_file() else {}
    )
    for name, version in runtime_versions().items():
        was = trained.get(name)
        note = f"  # the model was trained with {was}" if was and was != version else ""
        print(f"{name}=={version}{note}")
    return EXIT_OK


def cmd_rules(args: argparse.Namespace) -> int:
    """Run ``notecheck rules``."""
    from notecheck.catalog import load_catalog
    from notecheck.profiles import load_profile

    catalog = load_catalog(load_profile(args.profile).folder.joinpath("rules.toml"))
    if args.json:
        json.dump(catalog.to_dict(include_disabled=True), sys.stdout, indent=2)
        print()
        return EXIT_OK
    print(f"{catalog.title} — {catalog.version} ({len(catalog.rules)} rules)\n")
    for rule in catalog.rules:
        target = (
            f" → {rule.label}" if rule.label else (f" → {rule.service}" if rule.service else "")
        )
        print(f"{rule.id}  [{rule.effect}{target}]  {rule.title}")
        print(f"    {rule.citation}")
    return EXIT_OK


def cmd_audit(args: argparse.Namespace) -> int:
    """Run ``notecheck audit``."""
    from notecheck.audit import audit_rules, format_audit
    from notecheck.data import load_notes
    from notecheck.profiles import load_profile

    profile = load_profile(args.profile)
    if profile.own_model is None:
        # No corpus of its own: the profile's rules are audited on its evaluation notes.
        from notecheck.profiles.evaluation import load_profile_notes

        notes: Any = load_profile_notes(profile, args.data_dir)
    else:
        notes = load_notes(args.data_dir)
    rows = audit_rules(notes, profile.folder.joinpath("rules.toml"))
    if args.json:
        json.dump([row.__dict__ for row in rows], sys.stdout, indent=2)
        print()
    else:
        print(format_audit(rows))
    return EXIT_OK


def cmd_data_validate(args: argparse.Namespace) -> int:
    """Run ``notecheck data validate``."""
    from notecheck.data import validate

    report = validate(args.data_dir)
    print(report.balance_table())
    for skipped in report.skipped:
        print(f"skipped: {skipped}")
    if report.ok:
        print("validation: OK")
        return EXIT_OK
    for problem in report.problems:
        print(f"problem: {problem}")
    print(f"validation: {len(report.problems)} problem(s)")
    return EXIT_DATA


def cmd_data_card(args: argparse.Namespace) -> int:
    """Run ``notecheck data card``."""
    from notecheck.data import update_card
    from notecheck.model import default_model_dir

    meta_path = default_model_dir() / "meta.json"
    baseline = None
    if meta_path.is_file():
        baseline = json.loads(meta_path.read_text()).get("cv_metrics", {}).get("tfidf_lr")
    changed = update_card(args.data_dir, baseline)
    print("training_data/README.md updated" if changed else "training_data/README.md up to date")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """Run ``notecheck serve``."""
    from notecheck.api.server import serve

    return serve(host=args.host, port=args.port, workers=args.workers)


def cmd_batch(args: argparse.Namespace) -> int:
    """Run ``notecheck batch``."""
    from notecheck.batch import run_batch_cli

    return run_batch_cli(args)


def cmd_report(args: argparse.Namespace) -> int:
    """Run ``notecheck report``."""
    from notecheck.batch import report_cli

    return report_cli(args)


def _profile_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        default=None,
        help="rule profile: il132 (default, or $NOTECHECK_PROFILE), ok-t1017, ca-sf-tcm, "
        "ca-la-sapc, csc (see 'notecheck profiles')",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="notecheck",
        description="Which Medicaid service does a case-management progress note support?",
    )
    parser.add_argument("--version", action="version", version=f"notecheck {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="classify one note (TEXT, or - for stdin)")
    p.add_argument(
        "text", help="the note text, a path to a text file, or - to read it from standard input"
    )
    p.add_argument("--billed-code", help="the code the note was billed as (CM-MH, CS-IND, ...)")
    p.add_argument("--minutes", type=float, help="minutes billed, if not stated in the note")
    p.add_argument(
        "--staff-level",
        help="the writer's Rule 132 staff level (RSA, MHP, QMHP, LPHA): checks 000 Q61",
    )
    p.add_argument("--json", action="store_true", help="print the JSON result contract")
    p.add_argument("--no-color", action="store_true", help="no ANSI colours on a terminal")
    p.add_argument("--model-dir", help="model directory (default: the shipped model)")
    _profile_argument(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("train", help="cross-validate and write the model to models/")
    p.add_argument("--data-dir", help="training data directory (default: training_data/)")
    p.add_argument("--model-dir", help="output directory (default: models/il132)")
    p.add_argument("--no-cv", action="store_true", help="skip cross-validation")
    _profile_argument(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "evaluate",
        help="grouped CV (engine vs baselines) and the structured evaluation split",
    )
    p.add_argument("--data-dir")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--json", action="store_true")
    only = p.add_mutually_exclusive_group()
    only.add_argument("--cv-only", action="store_true", help="skip the structured split")
    only.add_argument("--split-only", action="store_true", help="skip cross-validation")
    p.add_argument(
        "--write-card",
        action="store_true",
        help="with --profile (not il132): write the measured figures to the profile's CARD.md",
    )
    _profile_argument(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("profiles", help="list the rule profiles (jurisdictions) notecheck ships")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_profiles)

    p = sub.add_parser(
        "versions", help="installed run-time dependencies as name==version (for pip-audit -r)"
    )
    p.set_defaults(func=cmd_versions)

    p = sub.add_parser("rules", help="list the rule catalog with citations")
    p.add_argument("--json", action="store_true")
    _profile_argument(p)
    p.set_defaults(func=cmd_rules)

    p = sub.add_parser("audit", help="per-rule audit against the labeled corpus")
    p.add_argument("--data-dir")
    p.add_argument("--json", action="store_true")
    _profile_argument(p)
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("data", help="training-data tools")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    v = data_sub.add_parser("validate", help="validate training_data/ and print its balance")
    v.add_argument("--data-dir")
    v.set_defaults(func=cmd_data_validate)
    c = data_sub.add_parser("card", help="refresh the counts section of the data card")
    c.add_argument("--data-dir")
    c.set_defaults(func=cmd_data_card)

    p = sub.add_parser("serve", help="run the HTTP API and the reviewer page")
    p.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes, each with its own engine (default: one per CPU, at most 4)",
    )
    p.set_defaults(func=cmd_serve)

    from notecheck.batch.arguments import add_batch_arguments

    p = sub.add_parser("batch", help="score a CSV/JSONL export: every row back, findings, report")
    add_batch_arguments(p)
    _profile_argument(p)
    p.set_defaults(func=cmd_batch)

    from notecheck.batch.arguments import add_report_arguments

    p = sub.add_parser("report", help="HTML report of a ledger over a period: trend, staff, caps")
    add_report_arguments(p)
    p.set_defaults(func=cmd_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``notecheck`` command."""
    from notecheck.errors import ModelError, ProfileEvalError
    from notecheck.profiles import ProfileError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ModelError as exc:
        _err(str(exc))
        return EXIT_MODEL
    except ProfileError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except ProfileEvalError as exc:
        _err(str(exc))
        return EXIT_DATA
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the reader went away: not an error worth a traceback.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep interpreter shutdown quiet
        return EXIT_OK
    except Exception as exc:
        # A traceback or an exception message can quote the note: name the type only, unless
        # the operator asks for the details on a machine where PHI on stderr is acceptable.
        if os.environ.get("NOTECHECK_DEBUG") == "1":
            raise
        _err(
            f"internal error ({type(exc).__name__}); details withheld because they may quote "
            "a note (set NOTECHECK_DEBUG=1 to see them)"
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
