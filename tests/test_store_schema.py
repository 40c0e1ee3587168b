"""The store's one schema: the tables in store.py are exactly what the migrations build."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from target_khaos_control.store import MIGRATIONS, metadata, open_store


def schema_drift(url: str) -> list[object]:
    """What autogenerate would change to make the migrated store match the models."""
    engine = open_store(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        return list(compare_metadata(context, metadata))


def test_the_models_and_the_migrations_agree(tmp_path: Path) -> None:
    assert schema_drift(f"sqlite:///{tmp_path / 'store.db'}") == []


def test_a_store_from_before_keeps_its_returns_and_learns_their_status(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = sa.create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0005")
        conn.execute(
            sa.text(
                "insert into reveni_returns (return_id, updated_at, content_hash, record, first_seen, last_changed)"
                " values ('ret-1', '2026-11-20T10:00:00Z', 'h', :record, '2026-11-20', '2026-11-20')"
            ),
            {"record": json.dumps({"id": "ret-1", "status": "accepted"})},
        )

    open_store(url)

    with engine.connect() as conn:
        rows = conn.execute(sa.text("select return_id, status from reveni_returns")).all()
    assert [tuple(row) for row in rows] == [("ret-1", "accepted")]
