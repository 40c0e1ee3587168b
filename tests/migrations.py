"""Alembic pointed at the store's migrations, on a connection a test holds."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.config import Config
from target_khaos_control.store import MIGRATIONS


def alembic_config(conn: sa.Connection) -> Config:
    """A config that runs the store's migrations on `conn` (inside the test's transaction)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config
