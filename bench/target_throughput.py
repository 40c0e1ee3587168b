"""target-khaos-control against its yardsticks on the same input, in one run.

1. 10,000, 50,000 and 200,000 Reveni returns (tap-reveni output, captured once), each into
   a fresh store, through target-khaos-control and through a no-op singer-sdk target
   (bench/noop_target.py): seconds, returns/s, peak RSS and the ratio (no-op time /
   target time; goal, issue 14: >= 1.0 at 50k and 200k). The floor, parsing each line
   and dropping it, is printed beside them.
2. Scaling: the target's time per return at 200k over its time per return at 10k (goal:
   about 1.0, time per return does not grow with the store) and peak RSS (goal: flat).
3. The channel: one pull of 1,000 returns from the 200k store, p95 over 40 pulls
   (bench/channel_drain.py drains a million).

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


def floor(stdin: Path) -> float:
    """Seconds to parse every line with json and drop it: what reading the input costs."""
    started = time.perf_counter()
    with stdin.open("rb") as lines:
        for line in lines:
            json.loads(line)
    return time.perf_counter() - started


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-target-"))
    counts = (10_000, 50_000, 200_000)
    inputs = {count: capture_tap(count, work) for count in counts}

    print("target-khaos-control and a no-op singer-sdk target, same input, each into a fresh store")
    print(
        f"{'returns':>8} {'target s':>9} {'ret/s':>7} {'peak MB':>8} {'no-op s':>8} {'ret/s':>7} {'peak MB':>8} "
        f"{'ratio':>6} {'floor s':>8}"
    )
    per_return: dict[int, float] = {}
    peaks: dict[int, float] = {}
    for count in counts:
        store = work / f"store-{count}"
        store.mkdir()
        config = store / "target.json"
        config.write_text(json.dumps(target_config(store)))
        target_s, target_mb = timed([str(BIN / "target-khaos-control"), "--config", str(config)], inputs[count])
        noop_s, noop_mb = timed([sys.executable, str(HERE / "noop_target.py")], inputs[count])
        per_return[count], peaks[count] = target_s / count, target_mb
        print(
            f"{count:>8} {target_s:>9.2f} {count / target_s:>7.0f} {target_mb:>8.1f} {noop_s:>8.2f} "
            f"{count / noop_s:>7.0f} {noop_mb:>8.1f} {noop_s / target_s:>6.2f} {floor(inputs[count]):>8.2f}"
        )
    print("  ratio: no-op time / target time (goal >= 1.0 at 50k and 200k)")
    print(
        f"\nscaling: time per return {per_return[10_000] * 1e6:.0f} us at 10k, {per_return[200_000] * 1e6:.0f} us "
        f"at 200k: ratio {per_return[200_000] / per_return[10_000]:.2f} (goal about 1.0); "
        f"peak RSS 200k / 10k: {peaks[200_000] / peaks[10_000]:.2f} (goal about 1.0)"
    )

    print("\nchannel: one pull of 1,000 returns from the 200k store")
    grown = work / "store-200000"
    channel = ChannelServer(target_config(grown, batch_size=1000), grown).start()
    total = _published(grown)
    times: list[float] = []
    sizes: list[int] = []
    try:
        # Khaos's own walk through the whole feed: only continuations the channel gave out
        # are trusted, so each pull carries on from the last one's.
        continuation = "2019-12-31 12:00:00Z"
        for _ in range(total // 1000 + 2):
            began = time.perf_counter()
            response = channel.get("/khaos/returns.json", headers={"Sirion-Continuation": continuation})
            times.append(time.perf_counter() - began)
            sizes.append(len(response.json()["Returns"]))
            continuation = response.headers["Sirion-Continuation"]
            if not sizes[-1]:
                break
    finally:
        channel.stop()
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    print(
        f"  {total} documents in the feed; {statistics.mean(sizes):.0f} returns a pull; "
        f"median {statistics.median(times) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (over HTTP)"
    )


def _published(workdir: Path) -> int:
    import sqlalchemy as sa

    with sa.create_engine(f"sqlite:///{workdir / 'store.db'}").connect() as conn:
        return int(conn.execute(sa.text("select count(*) from documents where feed_position is not null")).scalar_one())


if __name__ == "__main__":
    main()
