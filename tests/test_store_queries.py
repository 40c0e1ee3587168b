"""Nothing a batch does grows with the store: every statement the target runs while it
applies a batch finds its rows through an index, never by reading a whole table (a 500k
store cost 30% more CPU per return than a new one; issue 22)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from target_khaos_control.channel.feed import next_batch
from target_khaos_control.channel.pushes import save_order_statuses
from target_khaos_control.publishing import apply_returns
from target_khaos_control.rules import Catalogue, load_ruleset
from target_khaos_control.rules.golden import build_return
from target_khaos_control.store import now, open_store

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "rules" / "demo"
BASE = yaml.safe_load((DEMO / "tests" / "base.yaml").read_text())
ONE_ROW = {"catalogue_version", "store_owner"}  # tables of one row: read whole by design
PARTIAL = {"ix_pulls_marks_pending"}  # partial indexes: a scan of one reads only the few rows it holds


def whole_table_reads(database: Path, statements: list[tuple[str, Any]]) -> list[str]:
    """Each statement's plan step that reads a whole table (SQLite's `SCAN`), with the statement."""
    found = []
    with sqlite3.connect(database) as raw:
        for statement, parameters in statements:
            for *_, step in raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters):
                table = step.split()[1] if step.startswith("SCAN ") else None
                if table is not None and table not in ONE_ROW and step.split()[-1] not in PARTIAL:
                    found.append(f"{step}: {statement}")
    return found


def test_every_statement_of_a_batch_finds_its_rows_by_an_index(tmp_path: Path) -> None:
    # given a store where Khaos holds the documents of two returns and has pushed their order statuses
    database = tmp_path / "store.db"
    engine = open_store(f"sqlite:///{database}")
    ruleset = load_ruleset(DEMO)

    with engine.connect() as conn:
        catalogue = Catalogue.read(conn)  # read again only after a stock push (rules.catalogue.Latest)

    def sync(version: int, ids: list[str]) -> None:
        records = [
            build_return(BASE, {"id": return_id, "updated_at": f"2026-11-{version:02d}T10:00:00Z"}) for return_id in ids
        ]
        with engine.begin() as conn:
            entries = [(record, ruleset.draft(record, catalogue)) for record in records]
            apply_returns(conn, entries, now(), routing=ruleset.routing)

    sync(1, ["ret-a", "ret-b"])
    with engine.begin() as conn:
        next_batch(conn, "0", 1000, "json", now())
    with engine.connect() as conn:
        refs = [row.associated_ref for row in conn.execute(sa.text("select associated_ref from documents"))]
    save_order_statuses(
        engine,
        {"Statuses": [{"OrderID": f"o-{ref}", "AssociatedRef": ref, "Status": "Complete"} for ref in refs]},
        now(),
    )
    assert refs

    # when a batch applies later versions of both and a new return, every statement noted
    statements: list[tuple[str, Any]] = []

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
            statements.append((statement, parameters[0] if executemany else parameters))

    sa.event.listen(engine, "before_cursor_execute", note)
    sync(2, ["ret-a", "ret-b", "ret-c"])
    sa.event.remove(engine, "before_cursor_execute", note)

    # expect each to find its rows through an index, among them what Khaos holds and its statuses
    assert any("order_statuses" in statement for statement, _ in statements)
    assert whole_table_reads(database, statements) == []


def test_the_versions_of_returns_carry_no_index_a_batch_would_pay_for(tmp_path: Path) -> None:
    # given a migrated store
    database = tmp_path / "store.db"
    open_store(f"sqlite:///{database}").dispose()

    # when its indexes on `return_versions` are listed (SQLite's own for the key aside)
    with sqlite3.connect(database) as raw:
        indexes = raw.execute(
            "select name from sqlite_master where type = 'index' and tbl_name = 'return_versions' and sql is not null"
        ).fetchall()

    # expect none: the month-end close, its one reader, reads the whole table; an index on
    # Reveni's random return ids cost each batch a page per new version in a grown store
    assert indexes == []
