"""The run log: each sync, replay and reconciliation on record, with its counts, for the
dashboard's Runs page and the metrics' last successful sync."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.engine import Connection

from target_khaos_control.store import now, runs


def start_run(conn: Connection, kind: str, started: datetime) -> int:
    """A run on record from its start: one that stops before its end stays unfinished."""
    inserted = conn.execute(
        runs.insert().values(kind=kind, started_at=started, finished_at=None, counts="{}").returning(runs.c.id)
    )
    return int(inserted.scalar_one())


def finish_run(conn: Connection, run_id: int, counts: Mapping[str, object]) -> None:
    """The run ended, with what it counted."""
    conn.execute(
        runs.update().where(runs.c.id == run_id).values(finished_at=now(), counts=json.dumps(counts, default=str))
    )


def record_run(conn: Connection, kind: str, started: datetime, counts: Mapping[str, object]) -> None:
    """A run on record once done (one that cannot die half-way)."""
    conn.execute(
        runs.insert().values(kind=kind, started_at=started, finished_at=now(), counts=json.dumps(counts, default=str))
    )
