"""Engine benchmarks: throughput, latency (library and HTTP), load time, memory.

    python benchmarks/bench_engine.py [--notes 4000] [--requests 400]

Prints markdown tables. The HTTP part starts ``notecheck serve`` on 127.0.0.1 (one worker, then
the default number of workers when that is more) and sends a bounded number of requests from a
local client (concurrency 1 and 8). Per-stage costs: ``bench_speed.py``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notes import generate_notes  # noqa: E402

from notecheck.api.server import default_workers  # noqa: E402
from notecheck.data import load_notes  # noqa: E402
from notecheck.engine import Engine  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(round(q / 100 * (len(ordered) - 1))), len(ordered) - 1)]


def _worker(texts: list[str]) -> int:
    engine = Engine()
    return sum(1 for _ in engine.check_many(texts))


def throughput(texts: list[str], processes: int) -> float:
    if processes == 1:
        engine = Engine()
        start = time.perf_counter()
        count = sum(1 for _ in engine.check_many(texts))
        return count / (time.perf_counter() - start)
    shards = [texts[i::processes] for i in range(processes)]
    with mp.get_context("fork").Pool(processes) as pool:
        pool.map(_worker, [shard[:10] for shard in shards])  # warm: load the model in each worker
        start = time.perf_counter()
        count = sum(pool.map(_worker, shards))
        return count / (time.perf_counter() - start)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def http_bench(
    texts: list[str], requests: int, workers: int
) -> tuple[list[list[str]], dict[str, float]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "NOTECHECK_API_KEYS"}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "notecheck",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.perf_counter() - started > 60:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.05)
        ready_s = time.perf_counter() - started

        def one(text: str) -> float:
            body = json.dumps({"text": text}).encode()
            req = urllib.request.Request(
                url + "/v1/check", data=body, headers={"Content-Type": "application/json"}
            )
            t0 = time.perf_counter()
            with urllib.request.urlopen(req, timeout=30) as r:
                r.read()
                assert r.status == 200
            return (time.perf_counter() - t0) * 1000

        rows = []
        for concurrency in (1, 8):
            sample = texts[:requests]
            deadline = time.monotonic() + 120  # bounded in time as well as in count
            t0 = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                timed = pool.map(
                    lambda t, end=deadline: one(t) if time.monotonic() < end else -1, sample
                )
                latencies = [lat for lat in timed if lat >= 0]
            wall = time.perf_counter() - t0
            rows.append(
                [
                    f"HTTP /v1/check, {workers} worker(s), concurrency {concurrency}",
                    f"{percentile(latencies, 50):.1f}",
                    f"{percentile(latencies, 95):.1f}",
                    f"{percentile(latencies, 99):.1f}",
                    f"{len(latencies) / wall:.0f} req/s",
                ]
            )
        memory = {"server_ready_s": ready_s, "server_peak_rss_mib": rss_peak_kib(proc.pid) / 1024}
        return rows, memory
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=4000)
    parser.add_argument("--requests", type=int, default=400)
    args = parser.parse_args()

    texts = generate_notes(args.notes)
    words = [len(t.split()) for t in texts]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    print(
        f"notes: {len(texts)} generated, {min(words)}–{max(words)} words "
        f"(median {statistics.median(words):.0f})\n"
    )

    t0 = time.perf_counter()
    engine = Engine()
    load_s = time.perf_counter() - t0

    short = [note.text for note in load_notes()]
    short_words = statistics.median(len(t.split()) for t in short)
    print("## Throughput (library, check_many)\n")
    rows = [
        [str(p), f"{throughput(texts, p):,.0f}", f"{throughput(short, p):,.0f}"] for p in (1, 2)
    ]
    headers = [
        "processes",
        f"notes/s, generated 30–250 words (median {statistics.median(words):.0f})",
        f"notes/s, corpus notes (median {short_words:.0f} words)",
    ]
    print(table(headers, rows))

    latencies = []
    for text in texts[: args.requests]:
        t1 = time.perf_counter()
        engine.check(text)
        latencies.append((time.perf_counter() - t1) * 1000)
    lat_rows = [
        [
            "library check(), one note at a time",
            f"{percentile(latencies, 50):.1f}",
            f"{percentile(latencies, 95):.1f}",
            f"{percentile(latencies, 99):.1f}",
            f"{len(latencies) / (sum(latencies) / 1000):.0f} notes/s",
        ]
    ]
    http_rows: list[list[str]] = []
    memory: dict[str, float] = {}
    for workers in sorted({1, default_workers()}):
        rows_for, measured = http_bench(texts, args.requests, workers)
        http_rows += rows_for
        if workers == 1:  # one process: its start-up and memory are the server's own
            memory = measured
    print("\n## Single-note latency (ms)\n")
    print(table(["path", "p50", "p95", "p99", "rate"], lat_rows + http_rows))

    print("\n## Start-up and memory\n")
    print(
        table(
            ["measure", "value"],
            [
                ["model + pipeline load in-process (Engine())", f"{load_s:.2f} s"],
                ["server start to /readyz 200", f"{memory['server_ready_s']:.2f} s"],
                [
                    "server peak resident memory after the HTTP runs",
                    f"{memory['server_peak_rss_mib']:.0f} MiB",
                ],
            ],
        )
    )


if __name__ == "__main__":
    threading.excepthook = lambda args: None
    main()
