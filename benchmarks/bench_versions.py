"""Throughput of this checkout against another git revision, on the same notes, in one run.

    python benchmarks/bench_versions.py --ref 52272d0 [--notes 2000] [--rounds 3]

The other revision is checked out into a temporary git worktree and imported from there (its
own code and shipped model, this environment's libraries). The two engines run alternately,
each round in a fresh process, on one fixed list of generated notes (30–250 words) plus the
corpus-length notes; the medians and their ratio are printed. Alternating rounds keep a noisy
machine from favouring one side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notes import generate_notes  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

RUN = """
import json, sys, time
from notecheck.engine import Engine
texts = json.load(open(sys.argv[1]))
engine = Engine()
list(engine.check_many(texts[:50]))  # warm caches
start = time.perf_counter()
n = sum(1 for _ in engine.check_many(texts))
print(n / (time.perf_counter() - start))
"""


def rate(source: Path, notes_file: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", RUN, str(notes_file)],
        cwd=source,
        env={"PYTHONPATH": str(source), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", required=True, help="git revision to compare against")
    parser.add_argument("--notes", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from notecheck.data import load_notes

    with tempfile.TemporaryDirectory() as tmp:
        other = Path(tmp) / "other"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(other), args.ref],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        try:
            sets = {
                "generated notes, 30–250 words": generate_notes(args.notes),
                "corpus notes": [n.text for n in load_notes()][: args.notes],
            }
            print(f"| notes | {args.ref} notes/s | this checkout notes/s | ratio |")
            print("|---|---|---|---|")
            for name, texts in sets.items():
                notes_file = Path(tmp) / "notes.json"
                notes_file.write_text(json.dumps(texts))
                old, new = [], []
                for _ in range(args.rounds):
                    old.append(rate(other, notes_file))
                    new.append(rate(ROOT, notes_file))
                a, b = statistics.median(old), statistics.median(new)
                print(f"| {name} ({len(texts)}) | {a:,.0f} | {b:,.0f} | {b / a:.2f} |")
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(other)], cwd=ROOT, check=False
            )


if __name__ == "__main__":
    main()
