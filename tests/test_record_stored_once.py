"""A return's record is kept once (migration 0020): in its version's row of `return_versions`,
which `reveni_returns` names. A store from before keeps every record, each reader of the
records (replay, fix list and accept, proposals, reconciliation, the dashboard) reads the
same as before, and a downgrade puts each record back on its return's row."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from alembic import command
from starlette.testclient import TestClient
from target_khaos_control import publishing
from target_khaos_control.canonical import canonical_json
from target_khaos_control.channel.app import Channel
from target_khaos_control.operations import commands, fix_commands
from target_khaos_control.operations.reconciliation.returns import StoredReturns
from target_khaos_control.proposals import propose
from target_khaos_control.rules import Catalogue, load_ruleset
from target_khaos_control.rules.engine import RuleSet
from target_khaos_control.rules.golden import build_return
from target_khaos_control.settings import ChannelSettings
from target_khaos_control.store import (
    alembic_config,
    now,
    open_store,
    return_versions,
    returns_with_records,
    reveni_returns,
)

from tests.servers import target_config

RULES = Path(__file__).resolve().parent.parent / "rules"
BASE = yaml.safe_load((RULES / "acme" / "tests" / "base.yaml").read_text())
LOGIN = ("finance-lead", "dash-pw-once")
MOMENT = "2026-11-20 10:00:00.000000"
DEFECTIVE = {"return_reason": {"code": "defective", "label": "Defective"}}


def _old_store(url: str, returns: list[tuple[str, str]], versions: list[tuple[str, str, str]]) -> sa.Engine:
    """A store at revision 0019: each return's row with its record, and the versions given."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0019")
        conn.execute(
            sa.text(
                "insert into reveni_returns (return_id, updated_at, content_hash, record, first_seen, last_changed)"
                " values (:id, '2026-11-20T10:00:00Z', 'h', :record, :moment, :moment)"
            ),
            [{"id": return_id, "record": record, "moment": MOMENT} for return_id, record in returns],
        )
        conn.execute(
            sa.text("insert into return_versions (return_id, seen_at, record) values (:id, :seen, :record)"),
            [{"id": return_id, "seen": seen, "record": record} for return_id, seen, record in versions],
        )
    return engine


def _records(conn: sa.Connection) -> dict[str, str]:
    query = sa.select(reveni_returns.c.return_id, return_versions.c.record).select_from(returns_with_records)
    return {return_id: record for return_id, record in conn.execute(query)}


@pytest.fixture
def url(store_url: str) -> str:
    """A new store's URL, on SQLite and on Postgres."""
    return store_url


def test_a_store_from_before_keeps_each_record_once_and_gets_it_back_on_a_downgrade(url: str) -> None:
    # given a store from before: ret-1 with two versions (the newer stored), ret-2 whose record
    # is in no version (none the target wrote), ret-3 whose stored record came twice
    first, second, odd, same = '{"v":1}', '{"v":2}', '{"odd":true}', '{"v":3}'
    versions = [
        ("ret-1", "2026-11-01 09:00:00.000000", first),
        ("ret-3", "2026-11-02 09:00:00.000000", same),
        ("ret-1", "2026-11-03 09:00:00.000000", second),
        ("ret-3", "2026-11-04 09:00:00.000000", '{"v":4}'),
        ("ret-3", "2026-11-05 09:00:00.000000", same),
    ]
    engine = _old_store(url, [("ret-1", second), ("ret-2", odd), ("ret-3", same)], versions)

    # when the store is opened (brought up to date)
    open_store(url).dispose()

    # expect each return to read its record as stored, pointing at its newest version holding it,
    # ret-2's kept in a new version seen when it last changed, and no copy left on the returns
    with engine.connect() as conn:
        assert _records(conn) == {"ret-1": second, "ret-2": odd, "ret-3": same}
        pointers = {r: v for r, v in conn.execute(sa.text("select return_id, version_id from reveni_returns"))}
        rows = conn.execute(sa.text("select id, return_id, seen_at, record from return_versions order by id"))
        kept = [(n, return_id, str(seen)[:19], record) for n, return_id, seen, record in rows]  # as SQLite shows it
        columns = {column["name"] for column in sa.inspect(conn).get_columns("reveni_returns")}
    assert pointers == {"ret-1": 3, "ret-2": 6, "ret-3": 5}
    assert kept == [(n, return_id, seen[:19], record) for n, (return_id, seen, record) in enumerate(versions, 1)] + [
        (6, "ret-2", MOMENT[:19], odd)
    ]
    assert "record" not in columns

    # when it is taken back to revision 0019
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0019")

    # expect each return's record back on its row, and no pointer left
    with engine.connect() as conn:
        back = {r: record for r, record in conn.execute(sa.text("select return_id, record from reveni_returns"))}
        columns = {column["name"] for column in sa.inspect(conn).get_columns("reveni_returns")}
    assert back == {"ret-1": second, "ret-2": odd, "ret-3": same}
    assert "version_id" not in columns
    engine.dispose()


def _return(return_id: str, item: dict[str, Any], updated_at: str = "2026-11-20T10:00:00Z") -> dict[str, Any]:
    built: dict[str, Any] = build_return(BASE, {"id": return_id, "updated_at": updated_at, "return_items": [item]})
    return built


def _what_readers_read(url: str, acme: Path) -> dict[str, Any]:
    """What each reader of the stored records makes of them."""
    engine = open_store(url)
    with engine.connect() as conn:
        proposals = propose(conn, acme)
        streamed = [(record, return_id, docs) for record, return_id, docs in StoredReturns(conn, with_vat=True)]
    listed = io.StringIO()
    assert fix_commands.list_fixes(engine, str(acme), None, "json", listed) == 0
    settings = ChannelSettings.from_config(
        {**target_config(acme.parent, dashboard_username=LOGIN[0], dashboard_password=LOGIN[1]), "database_url": url}
    )
    with TestClient(Channel(engine, settings).app()) as client:
        client.auth = LOGIN
        pages = [client.get(f"/dashboard/returns/{return_id}").text for return_id in ("ret-1", "ret-2")]
    engine.dispose()
    return {
        "proposals": proposals,
        "streamed": streamed,
        "fix list": listed.getvalue(),
        "timelines": pages,
    }


def test_every_reader_reads_the_same_records_from_a_store_from_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a store the target filled: ret-1 held for its unknown reason, ret-2 in two versions
    shutil.copytree(RULES, tmp_path / "rules")
    acme, url = tmp_path / "rules" / "acme", f"sqlite:///{tmp_path / 'store.db'}"
    latest = [_return("ret-1", DEFECTIVE), _return("ret-2", {}, "2026-11-21T10:00:00Z")]
    ruleset, engine = load_ruleset(acme), open_store(url)
    for batch in ([_return("ret-2", {})], latest):
        with engine.begin() as conn:
            catalogue = Catalogue.read(conn)
            publishing.apply_returns(conn, [(r, ruleset.draft(r, catalogue)) for r in batch], now())
    engine.dispose()
    before = _what_readers_read(url, acme)
    assert [p.subject for p in before["proposals"]][:1] == ["defective"]
    assert [return_id for _, return_id, _ in before["streamed"]] == ["ret-2", "ret-1"]
    assert '"GBP": "24.00"' in before["fix list"]  # ret-1's item, held

    # when it is taken back to revision 0019 (each record on its return's row), then opened again
    with sa.create_engine(url).begin() as conn:
        command.downgrade(alembic_config(conn), "0019")
        stored = {r: record for r, record in conn.execute(sa.text("select return_id, record from reveni_returns"))}
    assert {return_id: json.loads(record) for return_id, record in stored.items()} == {
        r["id"]: json.loads(canonical_json(r)) for r in latest
    }
    after = _what_readers_read(url, acme)

    # expect every reader to read what it read before
    assert after == before
    # and a replay to decide again on the same record (ret-1's, the one with an open exception)
    drafted: list[dict[str, Any]] = []
    draft = RuleSet.draft

    def noted(self: RuleSet, record: dict[str, Any], catalogue: Any = None) -> Any:
        drafted.append(record)
        return draft(self, record, catalogue)

    monkeypatch.setattr(RuleSet, "draft", noted)
    engine = open_store(url)
    assert commands.replay(engine, str(acme), ids=["ret-1", "ret-2"], kinds=[], owners=[], out=io.StringIO()) == 0
    assert drafted == [json.loads(canonical_json(latest[0]))]
    # and accepting the proposal to see ret-1's item, 24.00 GBP, released
    monkeypatch.undo()
    accepted = io.StringIO()
    assert fix_commands.accept(engine, str(acme), after["proposals"][0].id, dry_run=False, by="ana", out=accepted) == 0
    assert "impact: 1 of 1 return(s) released; money that moves: +24.00 GBP" in accepted.getvalue()
    engine.dispose()
