"""The store works on PostgreSQL by URL, as it does on a SQLite file."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from target_khaos_control.store import MIGRATIONS

from tests.servers import (
    PG_BIN,
    ChannelServer,
    PostgresServer,
    ReveniSandbox,
    run_tap,
    run_target,
    tap_output,
    target_config,
)
from tests.test_store_schema import schema_drift
from tests.test_target_khaos_control import _a_return, _records

pytestmark = pytest.mark.skipif(
    not (PG_BIN / "initdb").exists(), reason="PostgreSQL's server binaries are not installed"
)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


def test_target_and_channel_run_on_postgres(
    postgres: PostgresServer, demo_sandbox: ReveniSandbox, tmp_path: Path
) -> None:
    config = target_config(tmp_path, database_url=postgres.url, batch_size=50)
    lines = tap_output(run_tap(tmp_path, demo_sandbox.tap_config()))

    first = run_target(tmp_path, config, lines)
    again = run_target(tmp_path, config, lines)

    assert first.returncode == 0, first.stderr
    assert "200 unchanged" in again.stderr
    with sa.create_engine(postgres.url).connect() as conn:
        published = conn.execute(sa.text("select count(*) from documents where state = 'published'")).scalar_one()
        version = conn.execute(sa.text("select version_num from alembic_version")).scalar_one()
    assert published > 50
    assert version == ScriptDirectory(str(MIGRATIONS)).get_current_head(), "migrated to the latest schema"

    channel = ChannelServer(config, tmp_path).start()
    try:
        pulled, continuation = [], "2019-12-31 12:00:00Z"
        while True:
            response = channel.get("/khaos/returns.json", headers={"Sirion-Continuation": continuation})
            batch = json.loads(response.content)["Returns"]
            if not batch:
                break
            pulled += [r["AssociatedRef"] for r in batch]
            continuation = response.headers["Sirion-Continuation"]
    finally:
        channel.stop()
    assert len(pulled) == len(set(pulled)) == published


def _database(postgres: PostgresServer) -> str:
    """A fresh database on the shared cluster."""
    name = f"t{uuid.uuid4().hex[:12]}"
    with sa.create_engine(postgres.url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    return postgres.url.rsplit("/", 1)[0] + f"/{name}"


def test_the_models_and_the_migrations_agree_on_postgres(postgres: PostgresServer) -> None:
    assert schema_drift(_database(postgres)) == []


def test_a_long_id_loads_on_postgres_with_the_records_around_it(postgres: PostgresServer, tmp_path: Path) -> None:
    long_id = "ret-" + "x" * 300
    records = [{**_a_return("accepted"), "id": return_id} for return_id in ("ret-before", long_id, "ret-after")]
    config = target_config(tmp_path, database_url=_database(postgres))

    run = run_target(tmp_path, config, _records(*records))

    assert run.returncode == 0, run.stderr
    with sa.create_engine(config["database_url"]).connect() as conn:
        refs = set(conn.execute(sa.text("select associated_ref from documents")).scalars())
    assert refs == {"RV-ret-before", f"RV-{long_id}", "RV-ret-after"}
