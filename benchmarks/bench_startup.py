"""How long `notecheck --version` and `notecheck --help` take: median of N runs, in seconds.

The CLI must answer these in well under a second, so it imports spaCy and scikit-learn only
when a command needs them. Run: python benchmarks/bench_startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    exe = shutil.which("notecheck") or str(Path(sys.executable).parent / "notecheck")
    print("| command | median s | max s |")
    print("|---|---|---|")
    for flag in ("--version", "--help"):
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([exe, flag], check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        print(f"| notecheck {flag} | {statistics.median(times):.3f} | {max(times):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
