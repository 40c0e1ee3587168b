"""A new SQLite store made in one go from the latest schema as the migrations leave it, without Alembic.

Importing Alembic and running every migration one by one cost a new store about a quarter
of a second of CPU (issue 22: ~4% of a first sync of 50,000 returns). `NEW_STORE` holds
what a store migrated to the latest revisions holds, statement by statement: its tables and
indexes as SQLite keeps their definitions and the rows the
migrations write (`alembic_version`, `catalogue_version`). `make schemas` writes it
(`scripts/sqlite_new_store.py`); tests/test_new_sqlite_store.py fails while it differs
from what the migrations make. A file written for other revisions than the latest is never
used: Alembic migrates instead.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import Connection

from target_khaos_control.store_locks import MIGRATION_LOCK, hold

NEW_STORE = Path(__file__).parent / "migrations" / "sqlite_new_store.sql"
HEADS = "-- revisions: "  # the first line: the revisions the statements below are the schema of
END = ";\n"  # each statement ends a line with it (none holds one inside)


def statements_of(driver: sqlite3.Connection) -> list[str]:
    """What a SQLite store holds, as the statements that make it again: each table, then each
    index, by name, as SQLite keeps its definition, then each table's rows. By name, not in the
    order they were made: a migration may make a table's indexes in any order."""
    made = [
        sql
        for (sql,) in driver.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type = 'index', name, tbl_name"
        )
    ]
    rows = [line for line in driver.iterdump() if line.startswith("INSERT INTO ")]
    return [statement.removesuffix(";") for statement in made + rows]


def text_of(revisions: set[str], statements: list[str]) -> str:
    """`NEW_STORE`'s text: the revisions, then each statement ending its line with `;`."""
    return HEADS + " ".join(sorted(revisions)) + "\n" + "".join(statement + END for statement in statements)


def made_new(connection: Connection, latest: set[str] | None) -> bool:
    """Make the store on `connection` from `NEW_STORE` if it is a new SQLite store (no table
    yet) and the file is of the `latest` revisions; whether it was made. Under the migrations'
    lock, in the caller's transaction: a store another process made meanwhile is left alone."""
    if connection.dialect.name != "sqlite" or not latest or not NEW_STORE.exists():
        return False
    heads, _, statements = NEW_STORE.read_text(encoding="utf-8").partition("\n")
    if heads != HEADS + " ".join(sorted(latest)):  # written for other revisions: Alembic decides
        return False
    hold(connection, MIGRATION_LOCK)
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    if driver.execute("SELECT count(*) FROM sqlite_master").fetchone() != (0,):
        return False  # not new (or made by another process since): Alembic decides
    for statement in statements.split(END)[:-1]:
        driver.execute(statement)
    return True
