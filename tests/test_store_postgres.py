"""The store works on PostgreSQL by URL, as it does on a SQLite file."""

from __future__ import annotations

import copy
import json
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from target_khaos_control.exception_kinds import Kind
from target_khaos_control.exception_log import ExceptionLog, Subject, touched_since
from target_khaos_control.store import MIGRATIONS, open_store

from tests.in_process import TapCommand, TargetCommand
from tests.servers import (
    BIN,
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


def test_target_and_channel_run_on_postgres(
    postgres: PostgresServer, demo_sandbox: ReveniSandbox, tmp_path: Path
) -> None:
    url = postgres.new_database()
    config = target_config(tmp_path, database_url=url, batch_size=50)
    lines = tap_output(run_tap(tmp_path, demo_sandbox.tap_config()))

    first = run_target(tmp_path, config, lines)
    again = run_target(tmp_path, config, lines)

    assert first.returncode == 0, first.stderr
    assert "200 unchanged" in again.stderr
    with sa.create_engine(url).connect() as conn:
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


def test_the_models_and_the_migrations_agree_on_postgres(postgres: PostgresServer) -> None:
    assert schema_drift(postgres.new_database()) == []


def test_a_long_id_loads_on_postgres_with_the_records_around_it(
    postgres: PostgresServer, tmp_path: Path, target_here: TargetCommand
) -> None:
    long_id = "ret-" + "x" * 300
    records = [{**_a_return("accepted"), "id": return_id} for return_id in ("ret-before", long_id, "ret-after")]
    config = target_config(tmp_path, database_url=postgres.new_database())

    run = target_here(tmp_path, config, _records(*records))

    assert run.returncode == 0, run.stderr
    with sa.create_engine(config["database_url"]).connect() as conn:
        refs = set(conn.execute(sa.text("select associated_ref from documents")).scalars())
    assert refs == {"RV-ret-before", f"RV-{long_id}", "RV-ret-after"}


def _with_second_versions(lines: list[str], lag: int = 30) -> list[str]:
    """The tap's messages, and `lag` records after each return with items still pending,
    a later version of it in which the warehouse accepted them."""
    out: list[str] = []
    later: list[str] = []
    for n, line in enumerate(lines):
        out.append(line)
        message = json.loads(line)
        if message["type"] == "RECORD" and any(i["status"] == "pending" for i in message["record"]["return_items"]):
            record = copy.deepcopy(message["record"])
            record["return_items"] = [{**item, "status": "accepted"} for item in record["return_items"]]
            record |= {
                "status": "accepted",
                "updated_at": f"2026-12-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z",
            }
            later.append(json.dumps({**message, "record": record}))
        if len(later) > 0 and n % lag == 0:
            out += later
            later = []
    return out + later


def _credited(url: str, states: tuple[str, ...]) -> set[tuple[str, str]]:
    """Each (return, item) in a document in one of `states`."""
    with sa.create_engine(url).connect() as conn:
        rows = conn.execute(sa.text("select return_id, item_ids, state from documents")).all()
    return {
        (return_id, item) for return_id, item_ids, state in rows if state in states for item in json.loads(item_ids)
    }


def test_two_channels_on_one_postgres_serve_every_reference_once_while_the_target_loads(
    postgres: PostgresServer,
    demo_sandbox: ReveniSandbox,
    tmp_path: Path,
    tap_here: TapCommand,
    target_here: TargetCommand,
) -> None:
    # Given (in process): the tap's output, and what the loads add up to when nobody pulls
    # in between, on one SQLite store. Then the target and both channels run as processes.
    tap = tap_output(tap_here(tmp_path, demo_sandbox.tap_config()))
    lines = _with_second_versions(tap)
    alone = tmp_path / "alone"
    alone.mkdir()
    assert target_here(alone, target_config(alone), lines).returncode == 0
    expected = _credited(f"sqlite:///{alone / 'store.db'}", ("published",))

    url = postgres.new_database()
    config = target_config(tmp_path, database_url=url, batch_size=20, batch_size_rows=10)
    open_store(url)
    channels = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        channels.append(ChannelServer(config, tmp_path / name).start())
    config_file = tmp_path / "target-config.json"
    config_file.write_text(json.dumps(config))
    target = subprocess.Popen(
        [str(BIN / "target-khaos-control"), "--config", str(config_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    feeder = threading.Thread(target=target.communicate, args=("\n".join(lines).encode() + b"\n",))
    feeder.start()
    served: list[dict[str, Any]] = []
    continuation, pulls = "2026-11-26 14:00:00Z", 0  # Khaos's first contact
    try:
        while True:
            finished = target.poll() is not None
            batch, continuation = _pull(channels[pulls % 2], continuation)  # Khaos alternates between them
            pulls += 1
            served += batch
            if finished and not batch:
                break
            time.sleep(0.02)
    finally:
        feeder.join()
        for channel in channels:
            channel.stop()

    assert target.returncode == 0
    refs = [document["AssociatedRef"] for document in served]
    assert len(refs) == len(set(refs)), "every AssociatedRef is served once"
    with sa.create_engine(url).connect() as conn:
        stored = {
            ref: (state, json.loads(body))
            for ref, state, body in conn.execute(
                sa.text(
                    "select associated_ref, state, body from documents join document_bodies on document_bodies.document_id = documents.id"
                )
            )
        }
    assert {ref for ref, (state, _) in stored.items() if state in ("served", "published")} == set(refs), "none lost"
    assert all(stored[d["AssociatedRef"]] == ("served", d) for d in served), "what is stored is what Khaos got"
    assert _credited(url, ("served",)) == expected, "every item credited once, as a load without pulls credits it"
    assert pulls > 20


def _pull(channel: ChannelServer, continuation: str) -> tuple[list[dict[str, Any]], str]:
    response = channel.get("/khaos/returns.json", headers={"Sirion-Continuation": continuation})
    assert response.status_code == 200, response.text
    return json.loads(response.content)["Returns"], response.headers["Sirion-Continuation"]


def test_nul_characters_anywhere_in_a_record_do_not_stop_a_load_on_postgres(
    postgres: PostgresServer, tmp_path: Path, target_here: TargetCommand
) -> None:
    # Postgres refuses NUL in text: each of these once failed the whole batch.
    bad = []
    for n, change in enumerate(("id", "item id", "updated_at", "status", "name")):
        record = {**_a_return("accepted"), "id": f"ret-nul-{n}"}
        if change == "id":
            record["id"] = "ret-\x00-0"
        elif change == "item id":
            record["return_items"][0]["id"] = "item-\x00"
        elif change == "updated_at":
            record["updated_at"] = "2026-11-20T10:00:00Z\x00"
        elif change == "status":
            record["status"] = "accepted\x00"
        else:
            record["customer"]["first_name"] = "An\x00a"
        bad.append(record)
    records = [{**_a_return("accepted"), "id": "ret-before"}, *bad, {**_a_return("accepted"), "id": "ret-after"}]
    config = target_config(tmp_path, database_url=postgres.new_database())

    run = target_here(tmp_path, config, _records(*records))

    assert run.returncode == 0, run.stderr
    with sa.create_engine(config["database_url"]).connect() as conn:
        refs = set(conn.execute(sa.text("select associated_ref from documents")).scalars())
        invalid = conn.execute(sa.text("select count(*) from exceptions where kind = 'invalid_record'")).scalar_one()
    assert {"RV-ret-before", "RV-ret-after"} <= refs
    assert invalid >= 3, "an id, an item id or a date with a NUL in it cannot be read"


def test_an_exception_seen_again_on_postgres_has_its_occurrences_added_and_goes_out_once(
    postgres: PostgresServer,
) -> None:
    # given an exception opened by one batch, with a NUL and an accent in its message
    engine = open_store(postgres.new_database())
    first, later = datetime(2026, 11, 20, 10, 0, tzinfo=UTC), datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    subject = Subject.of_return("ret-1", "item-1")
    with engine.begin() as conn:
        log = ExceptionLog({}, first)
        log.raise_exception(Kind.SKU_NOT_FOUND, subject, "No stock item 'CAP-1'", {"sku": "CAP-1", "quantity": 2})
        log.write(conn)
    # when a later batch sees it twice more
    with engine.begin() as conn:
        log = ExceptionLog({subject.trace_key(Kind.SKU_NOT_FOUND): "open"}, later)
        for _ in range(2):
            log.raise_exception(Kind.SKU_NOT_FOUND, subject, "No stock item 'CAP\x00-2' é", {"sku": "CAP-2"})
        log.write(conn)
    # expect three occurrences, the message as now raised, and the record as its owner sees it
    with engine.connect() as conn:
        [record] = touched_since(conn, later)
    assert (record["occurrences"], record["message"], record["sku"]) == (3, "No stock item 'CAP\ufffd-2' é", "CAP-2")
    assert (record["first_seen"], record["last_seen"]) == ("2026-11-20T10:00:00+00:00", "2026-11-21T08:00:00+00:00")
    assert record["trace_key"] == "sku_not_found:ret-1:item-1"
