"""tap-reveni throughput and memory against the Reveni sandbox, side by side in one run.

Prints, for 10,000, 50,000 and 200,000 returns at page_size 200 with no injected latency:
returns/s, requests made, the tap's peak RSS, and the time a bare `requests` loop takes
to GET and decode the same pages (the floor any tap must stand on). Then how long the
sandbox takes to serve one page with 1,000 and with 100,000 returns in it.

Goals (issue 2): >= 2,000 returns/s; peak RSS < 150 MB and within 20% between 10k and
50k; tap time <= 2x the bare loop. Issue 22: the tap's CPU <= 1.5x the bare loop's.

    make bench            # or: .venv/bin/python bench/tap_throughput.py [--counts 10000,50000,200000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import figures
from tests.servers import BIN, SANDBOX_KEY, ReveniSandbox

COUNTS = (10_000, 50_000, 200_000)
CPU_GOAL = 1.5  # the tap's CPU over the bare loop's


def run_tap(sandbox: ReveniSandbox) -> tuple[float, int, float, float]:
    """Seconds, records emitted, peak RSS (MB) and CPU seconds of one full tap run."""
    config = Path(tempfile.mkdtemp()) / "config.json"
    config.write_text(json.dumps(sandbox.tap_config(page_size=200)))
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(BIN / "tap-reveni"), "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    assert process.stdout is not None
    records = sum(1 for line in process.stdout if line.startswith(b'{"type":"RECORD"'))
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"tap-reveni failed with exit {process.returncode}")
    return elapsed, records, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def bare_loop(sandbox: ReveniSandbox, pages: int) -> tuple[float, float]:
    """Seconds and CPU seconds to GET and decode every page, and nothing else."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {SANDBOX_KEY}"
    started, cpu = time.perf_counter(), time.process_time()
    for page in range(1, pages + 1):
        response = session.get(f"{sandbox.api}/returns", params={"page": page, "page_size": 200}, timeout=60)
        response.raise_for_status()
        response.json()
    return time.perf_counter() - started, time.process_time() - cpu


def page_times(sandbox: ReveniSandbox, samples: int = 30) -> list[float]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {SANDBOX_KEY}"
    pages = max(1, sandbox_count(sandbox) // 200)
    times = []
    for n in range(samples):
        page = 1 + (n * 7919) % pages  # spread over the whole list
        started = time.perf_counter()
        session.get(f"{sandbox.api}/returns", params={"page": page, "page_size": 200}, timeout=60).raise_for_status()
        times.append(time.perf_counter() - started)
    return times


def sandbox_count(sandbox: ReveniSandbox) -> int:
    return int(sandbox.admin("GET", "health")["returns"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default=",".join(map(str, COUNTS)), help="sizes, comma-separated")
    counts = tuple(int(c) for c in parser.parse_args().counts.split(","))
    print("tap-reveni against reveni-sandbox, page_size 200, no injected latency")
    print(
        f"{'returns':>8} {'tap s':>7} {'ret/s':>7} {'requests':>8} {'peak MB':>8} {'bare s':>7} {'tap/bare':>8} "
        f"{'tap CPU':>8} {'bare CPU':>8} {'CPU ratio':>9}"
    )
    rss = {}
    for count in counts:
        sandbox = ReveniSandbox(returns=count).start()
        try:
            bare, bare_cpu = bare_loop(sandbox, pages=-(-count // 200))
            sandbox.admin("POST", "faults/reset")
            elapsed, records, peak, cpu = run_tap(sandbox)
            requests_made = sandbox.admin("GET", "stats")["requests"]
        finally:
            sandbox.stop()
        assert records == count, f"tap emitted {records} of {count}"
        rss[count] = peak
        print(
            f"{count:>8} {elapsed:>7.2f} {records / elapsed:>7.0f} {requests_made:>8} {peak:>8.1f} "
            f"{bare:>7.2f} {elapsed / bare:>8.2f} {cpu:>8.2f} {bare_cpu:>8.2f} {cpu / bare_cpu:>9.2f}"
        )
        figures.record(
            "tap_throughput", "tap_cpu", f"tap CPU / bare loop CPU at {count:,}", cpu / bare_cpu, CPU_GOAL, "x"
        )
    print(f"peak RSS {counts[-1]:,} vs {counts[0]:,}: {rss[counts[-1]] / rss[counts[0]] - 1:+.1%}")
    print("CPU ratio: the tap's CPU (its process, start-up included) over the bare loop's; goal <= 1.5")

    print("\nreveni-sandbox: one page of 200, median and p95 over 30 requests spread across the list")
    for count in (1_000, 100_000):
        sandbox = ReveniSandbox(returns=count).start()
        try:
            times = sorted(page_times(sandbox))
        finally:
            sandbox.stop()
        p95 = times[int(len(times) * 0.95) - 1]
        print(f"{count:>8} returns: median {statistics.median(times) * 1000:6.1f} ms, p95 {p95 * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
