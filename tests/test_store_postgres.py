"""The store works on PostgreSQL by URL, as it does on a SQLite file."""

from __future__ import annotations

import json
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
