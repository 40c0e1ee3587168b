"""Writes the statements a new SQLite store is made from (`new_sqlite_store.NEW_STORE`).

They are read from a store that Alembic migrated to the latest revisions, one migration
after another, as a store of an older schema is. `make schemas` runs this after adding a
migration; tests/test_new_sqlite_store.py fails while the committed file differs.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from target_khaos_control.new_sqlite_store import NEW_STORE, statements_of, text_of
from target_khaos_control.schema_version import latest_revisions
from target_khaos_control.store import MIGRATIONS, alembic_config


def migrated_statements(database: Path) -> list[str]:
    """The statements of a new SQLite store at `database`, migrated by Alembic alone."""
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "head")
    finally:
        engine.dispose()
    with sqlite3.connect(database) as driver:
        return statements_of(driver)


def text() -> str:
    """`NEW_STORE`'s text, as the migrations make a store now."""
    latest = latest_revisions(MIGRATIONS / "versions")
    assert latest, "the migrations' revisions are not plain: no file can say which they are"
    with tempfile.TemporaryDirectory() as folder:
        return text_of(latest, migrated_statements(Path(folder) / "store.db"))


if __name__ == "__main__":
    NEW_STORE.write_text(text(), encoding="utf-8")
    print(f"wrote {NEW_STORE}")
