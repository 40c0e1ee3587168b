"""Channels and a target started together on a new database: one migrates, the others
wait for it and find the schema up to date; none fails (issue 18, item 11)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from target_khaos_control.store import MIGRATIONS, open_store

from tests.servers import PostgresServer

OPEN = "import sys; from target_khaos_control.store import open_store; open_store(sys.argv[1])"


def _open_together(url: str, processes: int = 4) -> list[subprocess.CompletedProcess[str]]:
    started = [
        subprocess.Popen([sys.executable, "-c", OPEN, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    return [subprocess.CompletedProcess(p.args, p.wait(timeout=120), *p.communicate(timeout=120)) for p in started]


def _head() -> str:
    return str(ScriptDirectory(str(MIGRATIONS)).get_current_head())


def test_processes_opening_a_new_postgres_at_once_all_start(postgres: PostgresServer) -> None:
    name = f"race_{uuid.uuid4().hex[:8]}"
    with sa.create_engine(postgres.url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sa.text(f"create database {name}"))
    url = postgres.url.rsplit("/", 1)[0] + f"/{name}"

    opened = _open_together(url)

    assert [run.returncode for run in opened] == [0] * 4, [run.stderr[-500:] for run in opened if run.returncode]
    with sa.create_engine(url).connect() as conn:
        assert conn.execute(sa.text("select version_num from alembic_version")).scalars().all() == [_head()]


def test_processes_opening_a_new_sqlite_store_at_once_all_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"

    opened = _open_together(url)

    assert [run.returncode for run in opened] == [0] * 4, [run.stderr[-500:] for run in opened if run.returncode]
    with sa.create_engine(url).connect() as conn:
        assert conn.execute(sa.text("select version_num from alembic_version")).scalars().all() == [_head()]


def test_opening_a_store_already_up_to_date_never_waits_for_a_writer(tmp_path: Path) -> None:
    """A sync mid-write holds SQLite's one write lock: `reveni-khaos exceptions` or a
    channel starting then must not need it (it would fail after the 10 s busy timeout)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    open_store(url)
    writer = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        engine = open_store(url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("select version_num from alembic_version")).scalar_one() == _head()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
