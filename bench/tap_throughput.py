"""tap-reveni throughput and memory against the Reveni sandbox, beside a bare paging loop.

Prints, for 10,000, 50,000 and 200,000 returns at page_size 200 with no injected latency:
returns/s, requests made, the tap's peak RSS, and the cost of a bare paging loop (the
floor any tap must stand on). Then how long the sandbox takes to serve one page with
1,000 and with 100,000 returns in it.

The bare loop is a program of its own, run and measured as the tap is (a child process,
its CPU from wait4, its stdout read by this one), that does what the tap must and no
more: it GETs the pages the tap GETs (same URLs, headers and `requests`), decodes them
and writes the lines the tap writes (a RECORD a return, a STATE a page), with the tap's
libraries (msgspec). The bench checks that both made the same requests and wrote the
same records, and prints the bytes each wrote. The tap and the loop run in turn, three
times each (interleaved, so a busy machine weighs on both alike); figures are medians.
Each count also gets the cost per return, less what each costs to start and read one.

Goals (issue 2): >= 2,000 returns/s; peak RSS < 150 MB and within 20% between 10k and
50k; tap time <= 2x the bare loop. Issue 22: the tap's CPU <= 1.5x the bare loop's.

    make bench            # or: .venv/bin/python bench/tap_throughput.py [--counts 10000,50000,200000]
"""

from __future__ import annotations

# Only what the bare loop needs, or what `requests` loads anyway: the loop runs this file and
# its start-up is measured. What the bench alone needs is imported where it is used.
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import msgspec
import requests

ROOT = Path(__file__).resolve().parent.parent
COUNTS = (10_000, 50_000, 200_000)
CPU_GOAL = 1.5  # the tap's CPU over the bare loop's
REPEATS = 3


def bare_loop(api: str, api_key: str, page_size: int) -> None:
    """The floor: GET the pages the tap GETs, decode them, write the lines it writes. Runs as
    `tap_throughput.py --bare-loop`, importing no more than it needs (its start-up is measured)."""
    session = requests.Session()
    session.headers.update(
        {"Authorization": f"Bearer {api_key}", "Accept": "application/json", "User-Agent": "tap-reveni/0.1"}
    )
    decoder = msgspec.json.Decoder(float_hook=Decimal)  # the tap's decoder and encoder
    encoder = msgspec.json.Encoder(decimal_format="number")
    pending, stdout = bytearray(), sys.stdout.buffer
    params: dict[str, Any] = {"page": 1, "page_size": page_size}
    repeated: set[str] = set()  # ids at the newest timestamp: the next page (updated_after is inclusive) has them again
    while True:
        response = session.get(f"{api}/returns", params=params, timeout=60)
        response.raise_for_status()
        body = decoder.decode(response.content)
        results = body["results"]
        for record in results:
            if record["updated_at"] == params.get("updated_after") and record["id"] in repeated:
                continue
            message = {"type": "RECORD", "stream": "returns", "record": record, "time_extracted": datetime.now(UTC)}
            encoder.encode_into(message, pending, -1)
            pending.extend(b"\n")
            if len(pending) >= 64 * 1024:  # the tap's block
                stdout.write(pending)
                pending.clear()
        if not results:
            break
        newest = results[-1]["updated_at"]
        bookmark = {"replication_key": "updated_at", "replication_key_value": newest}
        encoder.encode_into({"type": "STATE", "value": {"bookmarks": {"returns": bookmark}}}, pending, -1)
        pending.extend(b"\n")
        stdout.write(pending)
        pending.clear()
        if not body.get("next"):
            break
        if newest == params.get("updated_after"):
            raise SystemExit("a whole page shares one updated_at: the bare loop does not page through ties")
        repeated = {r["id"] for r in results if r["updated_at"] == newest}
        params = {"page": 1, "page_size": page_size, "updated_after": newest}
    stdout.flush()


class Run(NamedTuple):
    """One child's run: wall and CPU seconds, peak RSS (MB), RECORD lines and bytes written, requests made."""

    wall: float
    cpu: float
    peak_mb: float
    records: int
    bytes: int
    requests: int


def run(command: list[str], sandbox: Any) -> Run:
    """Run the tap or the bare loop against `sandbox` to its end, reading its stdout as a target would."""
    import subprocess

    sandbox.admin("POST", "faults/reset")  # also zeroes the request count
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    records = written = 0
    for line in process.stdout:
        written += len(line)
        records += line.startswith(b'{"type":"RECORD"')
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{Path(command[1]).name} failed with exit {os.waitstatus_to_exitcode(status)}")
    requests_made = sandbox.admin("GET", "stats").get("requests", 0)
    return Run(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, records, written, requests_made)


def side_by_side(count: int, repeats: int) -> tuple[list[Run], list[Run]]:
    """The tap's runs and the bare loop's against one sandbox of `count` returns, taken in turn."""
    from tests.servers import BIN, SANDBOX_KEY, ReveniSandbox

    sandbox = ReveniSandbox(returns=count).start()
    try:
        config = Path(tempfile.mkdtemp()) / "config.json"
        config.write_text(json.dumps(sandbox.tap_config(page_size=200)))
        tap_command = [str(BIN / "tap-reveni"), "--config", str(config)]
        bare_command = [sys.executable, __file__, "--bare-loop", sandbox.api, SANDBOX_KEY, "200"]
        taps, bares = [], []
        for _ in range(repeats):
            bares.append(run(bare_command, sandbox))
            taps.append(run(tap_command, sandbox))
    finally:
        sandbox.stop()
    return taps, bares


def median(runs: list[Run], field: str) -> float:
    import statistics

    return float(statistics.median(getattr(r, field) for r in runs))


def page_times(sandbox: Any, api_key: str, samples: int = 30) -> list[float]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {api_key}"
    pages = max(1, int(sandbox.admin("GET", "health")["returns"]) // 200)
    times = []
    for n in range(samples):
        page = 1 + (n * 7919) % pages  # spread over the whole list
        started = time.perf_counter()
        session.get(f"{sandbox.api}/returns", params={"page": page, "page_size": 200}, timeout=60).raise_for_status()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    import argparse
    import statistics

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default=",".join(map(str, COUNTS)), help="sizes, comma-separated")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="runs of each, interleaved (median taken)")
    options = parser.parse_args()
    counts = tuple(int(c) for c in options.counts.split(","))

    sys.path.insert(0, str(ROOT))
    from bench import figures
    from tests.servers import SANDBOX_KEY, ReveniSandbox

    print(f"tap-reveni against reveni-sandbox, page_size 200, no injected latency; medians of {options.repeats}")
    print(
        f"{'returns':>8} {'tap s':>7} {'ret/s':>7} {'requests':>8} {'peak MB':>8} {'tap MB out':>10} "
        f"{'bare s':>7} {'tap/bare':>8} {'tap CPU':>8} {'bare CPU':>8} {'CPU ratio':>9}"
    )
    # What each costs to start and read one return: taken off below to show the cost per return.
    start_tap, start_bare = (median(runs, "cpu") for runs in side_by_side(1, options.repeats))
    rss = {}
    for count in counts:
        taps, bares = side_by_side(count, options.repeats)
        tap, bare = taps[-1], bares[-1]
        assert tap.records == bare.records == count, f"tap wrote {tap.records}, bare loop {bare.records} of {count}"
        assert tap.requests == bare.requests, f"tap made {tap.requests} requests, bare loop {bare.requests}"
        assert abs(tap.bytes / bare.bytes - 1) < 0.01, f"tap wrote {tap.bytes} bytes, bare loop {bare.bytes}"
        rss[count] = median(taps, "peak_mb")
        elapsed, cpu, bare_wall, bare_cpu = (
            median(taps, "wall"),
            median(taps, "cpu"),
            median(bares, "wall"),
            median(bares, "cpu"),
        )
        print(
            f"{count:>8} {elapsed:>7.2f} {count / elapsed:>7.0f} {tap.requests:>8} {rss[count]:>8.1f} "
            f"{tap.bytes / 1e6:>10.1f} {bare_wall:>7.2f} {elapsed / bare_wall:>8.2f} {cpu:>8.2f} {bare_cpu:>8.2f} "
            f"{cpu / bare_cpu:>9.2f}"
        )
        print(
            f"{'':>8} CPU ratio run by run: {', '.join(f'{t.cpu / b.cpu:.2f}' for t, b in zip(taps, bares, strict=True))}"
            f"; bytes written: tap {tap.bytes:,}, bare loop {bare.bytes:,}"
        )
        per_tap, per_bare = (cpu - start_tap) / (count - 1), (bare_cpu - start_bare) / (count - 1)
        print(
            f"{'':>8} less start-up (tap {start_tap:.2f} s, bare loop {start_bare:.2f} s): "
            f"{per_tap * 1e6:.1f} us a return against {per_bare * 1e6:.1f} us, {per_tap / per_bare:.2f}x"
        )
        figures.record(
            "tap_throughput", "tap_cpu", f"tap CPU / bare loop CPU at {count:,}", cpu / bare_cpu, CPU_GOAL, "x"
        )
    print(f"peak RSS {counts[-1]:,} vs {counts[0]:,}: {rss[counts[-1]] / rss[counts[0]] - 1:+.1%}")
    print("CPU ratio: the tap's CPU over the bare loop's, each a whole process, start-up included; goal <= 1.5")

    print("\nreveni-sandbox: one page of 200, median and p95 over 30 requests spread across the list")
    for count in (1_000, 100_000):
        sandbox = ReveniSandbox(returns=count).start()
        try:
            times = sorted(page_times(sandbox, SANDBOX_KEY))
        finally:
            sandbox.stop()
        p95 = times[int(len(times) * 0.95) - 1]
        print(f"{count:>8} returns: median {statistics.median(times) * 1000:6.1f} ms, p95 {p95 * 1000:6.1f} ms")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--bare-loop"]:
        bare_loop(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
