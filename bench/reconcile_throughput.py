"""Reconciliation of 100,000 returns against 100,000 credit notes (issue 9: under 10 s).

Builds a SQLite store with the Reveni sandbox's generator (100,000 returns, each with
one document Khaos pulled a month ago) and a Khaos export of one credit note per
return (every 50th a penny off, so the report has gaps to write), then times what
`reveni-khaos reconcile` does: read the CSV, compare, and build the report.

    .venv/bin/python bench/reconcile_throughput.py [COUNT]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from reveni_khaos_sandbox.reveni_data import ReturnGenerator
from target_khaos_control.operations.reconciliation import read_credit_notes, reconcile
from target_khaos_control.store import documents, open_store, reveni_returns

GOAL_SECONDS = 10.0


def main(count: int) -> None:
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=30)
    generator = ReturnGenerator(seed=7, count=count)
    with tempfile.TemporaryDirectory() as folder:
        engine = open_store(f"sqlite:///{folder}/store.db")
        rows, docs, notes = [], [], ["CreditNoteCode,AssociatedRef,Gross,Currency,Date"]
        for i in range(count):
            record = generator.build(i)
            ref = f"RV-{record['id']}"
            rows.append(
                {
                    "return_id": record["id"],
                    "updated_at": record["updated_at"],
                    "content_hash": str(i),
                    "record": json.dumps(record),
                    "first_seen": long_ago,
                    "last_changed": long_ago,
                    "ruleset_hash": "",
                }
            )
            docs.append(
                {
                    "associated_ref": ref,
                    "return_id": record["id"],
                    "sequence": 1,
                    "state": "served",
                    "body": "{}",
                    "item_ids": json.dumps([item["id"] for item in record["return_items"]]),
                    "hold_reason": "",
                    "source_updated_at": record["updated_at"],
                    "feed_position": i + 1,
                    "created_at": long_ago,
                    "state_changed_at": long_ago,
                    "first_served_at": long_ago,
                    "ruleset_hash": "",
                }
            )
            paid = sum((Decimal(r["amount"]) for r in record["refunds"]), Decimal(0))
            gross = paid - Decimal("0.01") if i % 50 == 0 else paid
            notes.append(f"CN{i:07d},{ref},{gross},{record['currency']},2026-11-21")
        with engine.begin() as conn:
            conn.execute(reveni_returns.insert(), rows)
            conn.execute(documents.insert(), docs)
        export = Path(folder) / "credit-notes.csv"
        export.write_text("\n".join(notes) + "\n")

        started = time.perf_counter()
        read = read_credit_notes(export)
        with engine.connect() as conn:
            report = reconcile(conn, read, now=now, unconfirmed_after=timedelta(hours=24))
        summary = report.summary()
        text = report.as_json()
        elapsed = time.perf_counter() - started
    print(
        f"reconcile {count:,} returns against {len(read):,} credit notes: {elapsed:.2f} s "
        f"(goal under {GOAL_SECONDS:.0f} s at 100,000: {'met' if elapsed < GOAL_SECONDS else 'NOT met'}); "
        f"{summary['matched']:,} matched, {sum(summary['gaps'].values()):,} gaps, report {len(text) / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
