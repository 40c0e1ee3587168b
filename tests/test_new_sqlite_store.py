"""A new SQLite store is made in one go from the statements the migrations leave (issue 22),
and is then the store Alembic would have made, table by table and row by row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import alembic.command
import pytest
import sqlalchemy as sa
from target_khaos_control import new_sqlite_store
from target_khaos_control.new_sqlite_store import HEADS, NEW_STORE, made_new, statements_of
from target_khaos_control.schema_version import latest_revisions
from target_khaos_control.store import MIGRATIONS, open_store

from scripts.sqlite_new_store import migrated_statements, text


def _statements(database: Path) -> list[str]:
    with sqlite3.connect(database) as driver:
        return statements_of(driver)


def test_the_committed_statements_are_what_the_migrations_make_now() -> None:
    # Given the migrations as they are, expect the file to be written from them (`make schemas`).
    assert NEW_STORE.read_text(encoding="utf-8") == text()


def test_a_new_store_is_made_from_the_statements_without_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a new SQLite file, expect the store Alembic makes, without Alembic.
    migrated = migrated_statements(tmp_path / "migrated.db")

    def refused(*_: object) -> None:
        raise AssertionError("Alembic migrated a new store")

    monkeypatch.setattr(alembic.command, "upgrade", refused)
    open_store(f"sqlite:///{tmp_path / 'new.db'}").dispose()
    assert _statements(tmp_path / "new.db") == migrated


def test_statements_of_other_revisions_leave_alembic_to_migrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a file written for other revisions than the latest, expect Alembic to migrate the
    # new store, to the same store.
    stale = tmp_path / "stale.sql"
    stale.write_text(NEW_STORE.read_text(encoding="utf-8").replace(HEADS, HEADS + "0001 ", 1), encoding="utf-8")
    monkeypatch.setattr(new_sqlite_store, "NEW_STORE", stale)
    upgrade, upgrades = alembic.command.upgrade, []

    def counted(config: object, revision: str) -> None:
        upgrades.append(revision)
        upgrade(config, revision)  # type: ignore[arg-type]

    monkeypatch.setattr(alembic.command, "upgrade", counted)
    open_store(f"sqlite:///{tmp_path / 'new.db'}").dispose()
    assert upgrades == ["head"]
    assert _statements(tmp_path / "new.db") == migrated_statements(tmp_path / "migrated.db")


def test_a_store_that_holds_a_table_is_not_made_again(tmp_path: Path) -> None:
    # Given a SQLite file with a table of its own (made by another process since it was looked at, say),
    # expect it left alone, for Alembic to decide.
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE kept (id INTEGER)")
    with engine.begin() as connection:
        assert not made_new(connection, latest_revisions(MIGRATIONS / "versions"))
    engine.dispose()
    assert _statements(tmp_path / "old.db") == ["CREATE TABLE kept (id INTEGER)"]
