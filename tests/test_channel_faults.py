"""Faults that once lost returns silently, kept as permanent checks: a probe before Khaos's
first contact, and a store restored from a backup while Khaos keeps its continuation."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tests.in_process import TapCommand, TargetCommand
from tests.khaos_docs import Client, a_return, channel, publish, refs, store
from tests.servers import ChannelServer, KhaosSandbox, ReveniSandbox, tap_output, target_config

FIRST_CONTACT = "2026-11-26 14:00:00Z"


def _pull_until_empty(client: Client, continuation: str, most: int = 20) -> tuple[list[str], str]:
    """Khaos following our continuation until a pull serves nothing."""
    served: list[str] = []
    for _ in range(most):
        response = client.get("/khaos/returns.json", headers={"Sirion-Continuation": continuation})
        assert response.status_code == 200, response.text
        continuation = response.headers["Sirion-Continuation"]
        if not refs(response):
            return served, continuation
        served += refs(response)
    raise AssertionError("the feed never ended")


def _open_exceptions(engine: Engine, kind: str) -> list[str]:
    with engine.connect() as conn:
        query = sa.text("select message from exceptions where kind = :kind and status = 'open'")
        return list(conn.execute(query, {"kind": kind}).scalars())


def test_a_probe_before_the_first_contact_costs_khaos_nothing(tmp_path: Path) -> None:
    """An operator's curl and a load balancer's check, with the channel login, before
    Khaos links: Khaos's first contact still gets all 50."""
    engine = store(tmp_path)
    published = publish(engine, *(a_return(f"RV-{n}") for n in range(50)))
    client = channel(engine, batch_size=20)

    probes = [client.get("/khaos/returns.json"), client.request("HEAD", "/khaos/returns.json", b"")]
    health = client.get("/healthz")
    served, _ = _pull_until_empty(client, FIRST_CONTACT)

    assert [probe.status_code for probe in probes] == [400, 400]
    assert "Sirion-Continuation" in probes[0].text
    assert "/healthz" in probes[0].text, "the answer names the health check to use"
    assert health.status_code == 200
    assert served == published, "all 50, in feed order"


def test_a_first_contact_after_a_probe_with_a_date_serves_what_the_probe_was_sent(tmp_path: Path) -> None:
    engine = store(tmp_path)
    published = publish(engine, *(a_return(f"RV-{n}") for n in range(5)))
    client = channel(engine)
    dated = {"Sirion-Continuation": "2020-01-01 00:00:00Z"}
    probe = client.get("/khaos/returns.json", headers=dated)
    head = client.request("HEAD", "/khaos/returns.json", b"", dated)

    served, _ = _pull_until_empty(client, FIRST_CONTACT)

    assert refs(probe) == published
    assert head.status_code == 400, "a HEAD never reads what it would mark served"
    assert served == published, "nothing proves Khaos had what the probe was sent"


def _backup(engine: Engine, to: Path) -> None:
    """An online backup, as docs/integration.md tells operators to take one."""
    source = engine.raw_connection()
    try:
        with sqlite3.connect(to) as target:
            source.driver_connection.backup(target)  # type: ignore[union-attr]
    finally:
        source.close()
    target.close()


def _restore(engine: Engine, backup: Path) -> None:
    engine.dispose()
    source = sqlite3.connect(backup)
    target = sqlite3.connect(engine.url.database or "")
    source.backup(target)
    source.close()
    target.close()


def test_a_store_restored_from_a_backup_loses_no_later_return(tmp_path: Path) -> None:
    """Khaos keeps the continuation it had before the restore: the 30 returns published
    after it are all served, and the restore is on record for the integration team."""
    engine = store(tmp_path)
    client = channel(engine, batch_size=10)
    publish(engine, *(a_return(f"RV-a{n}") for n in range(20)))
    _, continuation = _pull_until_empty(client, FIRST_CONTACT)
    _backup(engine, tmp_path / "backup.db")
    publish(engine, *(a_return(f"RV-b{n}") for n in range(20)))
    lost_in_restore, continuation = _pull_until_empty(client, continuation)

    _restore(engine, tmp_path / "backup.db")
    later = publish(engine, *(a_return(f"RV-c{n}") for n in range(30)))
    served, _ = _pull_until_empty(client, continuation)

    with engine.connect() as conn:
        query = sa.text("select min(feed_position) from documents where return_id like 'RV-c%'")
        lowest = conn.execute(query).scalar_one()
    assert len(lost_in_restore) == 20
    assert served == later, "all 30"
    assert lowest > int(continuation), "no position Khaos may hold is given out again"
    assert len(_open_exceptions(engine, "unknown_continuation")) == 1, "the restore is on record"


def test_a_continuation_never_given_out_serves_from_what_khaos_provably_had(tmp_path: Path) -> None:
    engine = store(tmp_path)
    published = publish(engine, *(a_return(f"RV-{n}") for n in range(50)))
    client = channel(engine, batch_size=50)
    foreign, _ = _pull_until_empty(client, "5000")  # nothing was ever pulled: Khaos is known to have had nothing
    beyond, _ = _pull_until_empty(client, str(10**17))  # Khaos has since sent back the end: it had everything

    messages = _open_exceptions(engine, "unknown_continuation")
    assert foreign == published
    assert beyond == []
    assert len(messages) == 2, "one exception per continuation"
    assert any("'5000'" in message for message in messages)


def test_khaos_links_after_an_operator_probed_the_real_channel_and_imports_every_return(
    demo_sandbox: ReveniSandbox, tmp_path: Path, tap_here: TapCommand, target_here: TargetCommand
) -> None:
    """End to end, as the issue found it: the real `serve`, probed with curl's GET and HEAD
    and the channel login before Khaos links; then khaos-sandbox links and pulls (the sync
    before them is given: its commands run in process)."""
    tap = tap_here(tmp_path, demo_sandbox.tap_config())
    assert target_here(tmp_path, target_config(tmp_path), tap_output(tap)).returncode == 0
    server = ChannelServer(target_config(tmp_path, batch_size=40), tmp_path).start()
    khaos = KhaosSandbox().start()
    try:
        probes = [
            requests.get(f"{server.url}/khaos/returns.json", auth=server.auth, timeout=10),
            requests.head(f"{server.url}/khaos/returns.json", auth=server.auth, timeout=10),
        ]
        khaos.link_to(server)
        for _ in range(3):
            khaos.act("poll")
        pulls = khaos.get("pulls")
    finally:
        khaos.stop()
        server.stop()

    with sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}").connect() as conn:
        published = set(conn.execute(sa.text("select associated_ref from documents where feed_position > 0")).scalars())
    seen = [ref for pull in pulls for ref in [*pull["imported"], *pull["failed"]]]
    assert [probe.status_code for probe in probes] == [400, 400]
    assert len(published) >= 100
    assert sorted(seen) == sorted(published), "every return, each once"
