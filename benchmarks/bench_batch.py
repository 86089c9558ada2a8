"""Batch benchmark: score a generated CSV export with ``notecheck batch``, --jobs 1 and 2.

    python benchmarks/bench_batch.py [--rows 100000]

Prints rows per second and the peak resident memory of the whole process tree (the batch
command and its workers), sampled from /proc every 0.2 s.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notes import iter_notes  # noqa: E402

from notecheck.batch import FIELDS  # noqa: E402

CODES = ["CM-MH", "CS-IND", "CM-TLA", "CM-CCC", "CM-MH"]


def write_export(path: Path, rows: int, seed: int = 11) -> None:
    """A week's export: 400 clients, 25 staff, times on the quarter hour."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for i, text in enumerate(iter_notes(rows, seed), 1):
            start = rng.randrange(8 * 4, 17 * 4) * 15
            length = rng.choice([15, 30, 45, 60])
            row = {
                "note_id": f"n{i}",
                "client_id": f"c{rng.randrange(400)}",
                "staff_id": f"s{rng.randrange(25)}",
                "service_date": f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
                "start_time": f"{start // 60:02d}:{start % 60:02d}",
                "end_time": f"{(start + length) // 60:02d}:{(start + length) % 60:02d}",
                "billed_code": rng.choice(CODES),
                "text": text,
            }
            # Every column of the batch's own layout, by name: a column added later stays empty.
            writer.writerow([row.get(field, "") for field in FIELDS])


def tree_rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            for line in (Path("/proc") / str(current) / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def run(export: Path, out_dir: Path, jobs: int) -> tuple[float, int]:
    cmd = [
        sys.executable,
        "-m",
        "notecheck",
        "batch",
        str(export),
        "--out",
        str(out_dir / f"out{jobs}.csv"),
        "--report",
        str(out_dir / f"report{jobs}.html"),
        "--ledger",
        str(out_dir / f"ledger{jobs}.sqlite"),
        "--jobs",
        str(jobs),
        "--quiet",
    ]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kib(proc.pid))
        time.sleep(0.2)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.read().decode()[-2000:])
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        export = tmp_path / "export.csv"
        t0 = time.perf_counter()
        write_export(export, args.rows)
        size = export.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} notes ({size:.0f} MB CSV) in {time.perf_counter() - t0:.0f} s; "
            f"{os.cpu_count()} cores\n"
        )
        print("| --jobs | wall time | notes/s | peak RSS (process tree) |")
        print("|---|---|---|---|")
        for jobs in (1, 2):
            elapsed, peak = run(export, tmp_path, jobs)
            lines = sum(1 for _ in (tmp_path / f"out{jobs}.csv").open()) - 1
            assert lines == args.rows, f"{lines} output rows for {args.rows} input rows"
            print(
                f"| {jobs} | {elapsed:.0f} s | {args.rows / elapsed:,.0f} | {peak / 1024:.0f} MiB |",
                flush=True,
            )


if __name__ == "__main__":
    main()
