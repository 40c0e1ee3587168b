"""target-khaos-control throughput and memory, and the channel's page time, in one run.

1. 50,000 Reveni returns (tap-reveni output, captured once) through target-khaos-control
   and through a no-op singer-sdk target (bench/noop_target.py) on the same input:
   returns/s, peak RSS, and the ratio. Goal (issue 3): ratio >= 0.5.
2. The store grown to 100,000 returns: time for `reveni-khaos serve` to answer one pull
   of 1,000 returns, p95 over 40 pulls across the feed (goal: under 300 ms), and the
   target's peak RSS at 10k, 50k and 100k (goal: flat).

    .venv/bin/python bench/target_throughput.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.servers import BIN, ChannelServer, ReveniSandbox, target_config

HERE = Path(__file__).resolve().parent


def capture_tap(count: int, into: Path) -> Path:
    sandbox = ReveniSandbox(returns=count).start()
    try:
        config = into / "tap.json"
        config.write_text(json.dumps(sandbox.tap_config()))
        out = into / f"returns-{count}.singer"
        with out.open("wb") as sink:
            subprocess.run(
                [str(BIN / "tap-reveni"), "--config", str(config)], stdout=sink, stderr=subprocess.DEVNULL, check=True
            )
    finally:
        sandbox.stop()
    return out


def timed(command: list[str], stdin: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one process reading `stdin`."""
    with stdin.open("rb") as source:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdin=source, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command[0]} failed")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-target-"))
    inputs = {count: capture_tap(count, work) for count in (10_000, 50_000, 100_000)}

    print("50,000 returns, same input, side by side")
    store_dir = work / "store-50k"
    store_dir.mkdir()
    config = store_dir / "target.json"
    config.write_text(json.dumps(target_config(store_dir)))
    target_s, target_mb = timed([str(BIN / "target-khaos-control"), "--config", str(config)], inputs[50_000])
    noop_s, noop_mb = timed([sys.executable, str(HERE / "noop_target.py")], inputs[50_000])
    print(f"  target-khaos-control: {target_s:6.2f} s  {50_000 / target_s:7.0f} returns/s  peak {target_mb:5.1f} MB")
    print(f"  no-op sdk target:     {noop_s:6.2f} s  {50_000 / noop_s:7.0f} returns/s  peak {noop_mb:5.1f} MB")
    print(f"  ratio (no-op time / target time): {noop_s / target_s:.2f}")

    print("\npeak RSS as the store grows (one store, each run adds returns)")
    growing = work / "store-grow"
    growing.mkdir()
    config = growing / "target.json"
    config.write_text(json.dumps(target_config(growing)))
    for count in (10_000, 50_000, 100_000):
        seconds, peak = timed([str(BIN / "target-khaos-control"), "--config", str(config)], inputs[count])
        print(f"  {count:>7} returns in: {seconds:6.2f} s, peak {peak:5.1f} MB")

    print("\nchannel: one pull of 1,000 returns with 100,000 returns in the store")
    channel = ChannelServer(target_config(growing, batch_size=1000), growing).start()
    total = _published(growing)
    times: list[float] = []
    sizes: list[int] = []
    try:
        for n in range(40):
            start = (n * 2477) % max(total - 1000, 1)  # continuations spread across the whole feed
            began = time.perf_counter()
            response = channel.get("/khaos/returns.json", headers={"Sirion-Continuation": str(start)})
            times.append(time.perf_counter() - began)
            sizes.append(len(response.json()["Returns"]))
    finally:
        channel.stop()
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(
        f"  {total} documents in the feed; {statistics.mean(sizes):.0f} returns a pull; "
        f"median {statistics.median(times) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"
    )


def _published(workdir: Path) -> int:
    import sqlalchemy as sa

    with sa.create_engine(f"sqlite:///{workdir / 'store.db'}").connect() as conn:
        return int(conn.execute(sa.text("select count(*) from documents where feed_position is not null")).scalar_one())


if __name__ == "__main__":
    main()
