"""Pull latency while Khaos pushes 20 MB of stock items (issue 11).

A channel (`reveni-khaos serve`) on a store of 2,000 published returns answers the same
pull of 50 returns over and over: first alone, then while a 20 MB StockUpload is being
received and kept. Prints p50 and p95 of both. A push parsed or kept on the event loop
stalls every pull for its whole length; kept in a worker thread, pulls carry on.

    .venv/bin/python bench/channel_under_push.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.khaos_docs import a_return, publish, store
from tests.servers import ChannelServer, target_config

PUSH_BYTES = 20_000_000
FAILED: list[int] = []  # statuses of pulls that did not answer 200 (0: no answer in 30 s)


def stock_upload(size: int) -> bytes:
    """A StockUpload shaped like the docs' sample, padded out to `size` bytes."""
    item = {
        "StockID": "0",
        "StockCode": "",
        "ShortDescription": "Dr Comfort Justin Shoes Wide / Black / 11.01UK " * 4,
        "Barcodes": [{"Barcode": "5056000000017", "Type": {"Name": "EAN13"}}],
        "TaxRate": {"Code": "1", "ID": "1", "Name": "Standard"},
        "Options": {"PublishOnWeb": True, "Discontinued": False, "StockControlled": True},
        "SellPrice": {"Gross": 24.0},
    }
    each = len(json.dumps(item)) + 16
    items = [item | {"StockID": str(n), "StockCode": f"SKU-{n:07d}"} for n in range(size // each)]
    return json.dumps({"Items": items, "Deleted": []}).encode()


def pull_times(channel: ChannelServer, until: threading.Event | None, count: int = 40) -> list[float]:
    times: list[float] = []
    while len(times) < count or (until is not None and not until.is_set()):
        started = time.perf_counter()
        try:
            status = channel.get("/khaos/returns.json", headers={"Sirion-Continuation": "0"}).status_code
        except requests.Timeout:
            status = 0  # no answer in 30 s
        times.append(time.perf_counter() - started)
        if status != 200:
            FAILED.append(status)
        if until is None and len(times) >= count:
            break
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return (
        f"{len(times)} pulls, p50 {statistics.median(times) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, "
        f"longest {ordered[-1] * 1000:.0f} ms"
    )


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="channel-under-push-"))
    engine = store(workdir)
    publish(engine, *(a_return(f"RV-{n:05d}") for n in range(2000)))
    engine.dispose()
    body = stock_upload(PUSH_BYTES)
    channel = ChannelServer(target_config(workdir, batch_size=50, max_body_bytes=25_000_000), workdir).start()
    try:
        alone = pull_times(channel, None)
        print(f"pulls alone:          {summary(alone)}")
        done, outcome = threading.Event(), dict[str, Any]()

        def push() -> None:
            started = time.perf_counter()
            response = requests.post(
                f"{channel.url}/khaos/stock", data=body, auth=channel.auth, timeout=600,
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            outcome.update(status=response.status_code, seconds=time.perf_counter() - started)
            done.set()

        pusher = threading.Thread(target=push)
        pusher.start()
        during = pull_times(channel, done, count=5)
        pusher.join()
        print(f"pulls during the push: {summary(during)}; not 200: {FAILED or 'none'}")
        print(f"the {len(body) / 1e6:.0f} MB push: {outcome['status']} in {outcome['seconds']:.1f} s")
    finally:
        channel.stop()


if __name__ == "__main__":
    main()
