"""Khaos's pulls while people open the pages that read the whole store (issue 22).

The month-end close reads every return of its period, the open exceptions list and a
`/metrics` scrape every open exception. A `reveni-khaos serve` on a copy of the bench's
grown store (bench/target_throughput.py builds it once: `--grown` returns, about half with
an open exception) answers Khaos pulling back to back, each pull a page of the feed
(carrying on from the last, from first contact again at the feed's end): first alone, then
while each page is made, until it is. Prints each page's time and the pulls' p50, p95, p99
and slowest; the pulls' goal (p95 under 20 ms) beside each. SQLite: the grown store is one.

    .venv/bin/python bench/pulls_while_pages.py [--grown 500000] [--alone 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import sqlalchemy as sa
from target_khaos_control.store import reveni_returns

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import figures
from bench.channel_drain import FIRST_CONTACT, P95_GOAL, Khaos, latency
from bench.measure import percentile
from bench.target_throughput import grown_copy
from tests.servers import ChannelServer, target_config

LOGIN = ("finance", "bench-dashboard-pw")


def busiest_month(store: Path) -> str:
    """The month most of the store's returns were last changed in: the close that reads most."""
    engine = sa.create_engine(f"sqlite:///{store}")
    month = sa.func.substr(reveni_returns.c.updated_at, 1, 7)
    with engine.connect() as conn:
        found = conn.execute(sa.select(month).group_by(month).order_by(sa.func.count().desc()).limit(1)).scalar_one()
    engine.dispose()
    return str(found)


def pull_on(khaos: Khaos) -> None:
    """One pull, carrying on from the last; from first contact again once the feed is read."""
    if not khaos.pull():
        khaos.continuation = FIRST_CONTACT


def while_made(channel: ChannelServer, khaos: Khaos, page: str) -> tuple[float, list[float]]:
    """Pull back to back while `page` is made; the page's seconds and the pulls' times."""
    made: list[float] = []

    def open_page() -> None:
        began = time.perf_counter()
        answer = requests.get(channel.url + page, auth=LOGIN, timeout=900)
        if answer.status_code != 200:
            raise SystemExit(f"{page} answered {answer.status_code}: {answer.text[:200]}")
        made.append(time.perf_counter() - began)

    person = threading.Thread(target=open_page)
    first = len(khaos.times)
    person.start()
    while person.is_alive():
        pull_on(khaos)
    person.join()
    if not made:
        raise SystemExit(f"{page} gave no page (see above)")
    return made[0], khaos.times[first:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grown", type=int, default=500_000, help="returns in the store")
    parser.add_argument("--alone", type=int, default=300, help="pulls timed with no page being made")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as folder:
        work = Path(folder)
        month = busiest_month(grown_copy(args.grown, work))
        config = target_config(work, dashboard_username=LOGIN[0], dashboard_password=LOGIN[1])
        channel = ChannelServer(config, work).start()
        try:
            khaos = Khaos(channel)
            for _ in range(args.alone):
                pull_on(khaos)
            print(f"Khaos pulling from a {args.grown:,}-return store (SQLite), pulls of up to 1,000 returns")
            print(f"  {'alone':<58} {args.alone:>6} pulls: {latency(khaos.times)}")
            pages = {
                "/metrics": "a /metrics scrape",
                "/dashboard/": "the open exceptions list",
                f"/dashboard/close?period={month}": f"the month-end close of {month}",
            }
            for page, what in pages.items():
                seconds, times = while_made(channel, khaos, page)
                p95 = percentile(times, 95)
                print(
                    f"  while {what + f' is made ({seconds:.1f} s)':<52} {len(times):>6} pulls: {latency(times)}, "
                    f"slowest {max(times) * 1000:.0f} ms (goal: p95 <= {P95_GOAL * 1000:g} ms: "
                    f"{'met' if p95 <= P95_GOAL else 'NOT met'})"
                )
                figures.record(
                    "pulls_while_pages",
                    "pull_p95",
                    f"SQLite {args.grown // 1000}k: pull p95 while {what.split(' of ')[0]} is made",
                    p95 * 1000,
                    P95_GOAL * 1000,
                    " ms",
                )
        finally:
            channel.stop()


if __name__ == "__main__":
    main()
