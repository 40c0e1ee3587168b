"""The store side of the target alone: CPU per return of `apply_returns` and its commit.

Captures tap-reveni's output once, drafts every return with the demo rules (not counted),
then loads them into a new SQLite store three times, batches of 500, as the sink does:
- new: every return new to the store;
- again: the same returns again (each unchanged, known by its content hash);
- newer: a newer version of each, after Khaos has pulled every other document (each
  decided again against what Khaos holds, its exceptions seen again or resolved).
Prints CPU microseconds a return for each, median of `--rounds` (issue 22: the store side
of a return's cost, apart from the rules and singer-sdk), and the store file's bytes a
return after the new ones.

    .venv/bin/python bench/store_side.py [--returns 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from singer_sdk.contrib.msgspec import decoder
from target_khaos_control.publishing import apply_returns
from target_khaos_control.rules import load_ruleset
from target_khaos_control.rules.catalogue import Latest
from target_khaos_control.sinks import _iso
from target_khaos_control.store import open_store
from target_throughput import capture_tap

from tests.servers import DEMO_RULES

BATCH = 500  # the sink's batch size


def _records(source: Path) -> list[dict[str, Any]]:
    """The RECORD messages' returns, their timestamps as the sink normalises them."""
    records, stamps = [], []
    with source.open("rb") as lines:
        for line in lines:
            message = decoder.decode(line)
            if message.get("type") == "SCHEMA":
                properties = message["schema"]["properties"].items()
                stamps = [name for name, spec in properties if spec.get("format") == "date-time"]
            elif message.get("type") == "RECORD":
                record = dict(message["record"])
                for name in stamps:
                    if isinstance(record.get(name), str):
                        record[name] = _iso(record[name])
                records.append(record)
    return records


def _one_round(records: list[dict[str, Any]], work: Path) -> dict[str, float]:
    ruleset, catalogue = load_ruleset(DEMO_RULES), Latest()
    engine = open_store(f"sqlite:///{work / 'store.db'}")
    moment = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    newer = [{**record, "updated_at": "2099-01-01T00:00:00Z"} for record in records]
    spent: dict[str, float] = {}
    for phase, given in (("new", records), ("again", records), ("newer", newer)):
        if phase == "newer":
            with engine.begin() as conn:  # Khaos pulls every other document
                conn.exec_driver_sql(
                    "UPDATE documents SET state = 'served' WHERE state = 'published' AND rowid % 2 = 0"
                )
        moment += timedelta(minutes=1)
        spent[phase] = 0.0
        for start in range(0, len(given), BATCH):
            with engine.connect() as conn:
                transaction = conn.begin()
                drafted = catalogue.read(conn)
                entries = [(record, ruleset.draft(dict(record), drafted)) for record in given[start : start + BATCH]]
                began = time.process_time()
                apply_returns(conn, entries, moment, routing=ruleset.routing)
                transaction.commit()
                spent[phase] += time.process_time() - began
        if phase == "new":  # what the store holds a return: the file, its WAL written back
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            size = (work / "store.db").stat().st_size
    engine.dispose()
    return {phase: seconds / len(records) * 1e6 for phase, seconds in spent.items()} | {"bytes": size / len(records)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--returns", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-store-side-"))
    records = _records(capture_tap(args.returns, work))
    gc.freeze()  # as the target does after start-up
    rounds = [_one_round(records, Path(tempfile.mkdtemp(dir=work))) for _ in range(args.rounds)]
    print(f"store side (apply_returns + commit), {len(records):,} returns, median of {args.rounds}, CPU a return:")
    for phase in ("new", "again", "newer"):
        print(f"  {phase:6} {statistics.median(r[phase] for r in rounds):7.1f} us")
    print(f"store file after the new returns: {statistics.median(r['bytes'] for r in rounds):,.0f} bytes a return")


if __name__ == "__main__":
    main()
