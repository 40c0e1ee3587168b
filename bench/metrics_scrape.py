"""What one `/metrics` scrape costs on a grown store: the CPU of reading every open
exception's money at stake, counts by owner and kind, documents by state (channel/metrics.py).

No goal of issue 22 is set for it; it is watched because the scrape grows with the open
backlog. The store is the bench's cached grown store (target_throughput.py builds it once);
the scrape runs in this process on a copy of it, median of `--rounds` after a first one.

    .venv/bin/python bench/metrics_scrape.py [--grown 500000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from target_khaos_control.channel.metrics import StoreCollector
from target_khaos_control.states import ExceptionStatus
from target_khaos_control.store import exceptions, open_store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from target_throughput import grown_copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grown", type=int, default=500_000, help="returns in the grown store")
    parser.add_argument("--rounds", type=int, default=5, help="scrapes measured; the median is printed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scrape-") as folder:
        store = grown_copy(args.grown, Path(folder))
        engine = open_store(f"sqlite:///{store}")
        with engine.connect() as conn:
            open_count = conn.execute(
                sa.select(sa.func.count()).where(exceptions.c.status == ExceptionStatus.OPEN)
            ).scalar_one()
        collector = StoreCollector(engine, "bench")
        list(collector.collect())  # the first: the store's pages read in
        seconds = []
        for _ in range(args.rounds):
            start = time.process_time()
            list(collector.collect())
            seconds.append(time.process_time() - start)
        engine.dispose()
    print(
        f"/metrics scrape on a {args.grown:,}-return store, {open_count:,} open exceptions: "
        f"{statistics.median(seconds):.2f} s CPU (median of {args.rounds}; {min(seconds):.2f}-{max(seconds):.2f})"
    )


if __name__ == "__main__":
    main()
