"""What a batch writes for returns new to the store, and for their next versions before
Khaos pulls: the rows whole (issue 22 took steps out of this path; the rows stay as they were)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from target_khaos_control.publishing import apply_returns
from target_khaos_control.rules import Catalogue, load_ruleset
from target_khaos_control.rules.golden import build_return
from target_khaos_control.store import (
    document_bodies,
    documents,
    exceptions,
    open_store,
    return_versions,
    reveni_returns,
)

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "rules" / "demo"
BASE = yaml.safe_load((DEMO / "tests" / "base.yaml").read_text())
FIRST = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
SECOND = datetime(2026, 11, 20, 11, 0, tzinfo=UTC)
AS_READ_FIRST = datetime(2026, 11, 20, 10, 0)  # a stored moment, read back (SQLite keeps no zone)
AS_READ_SECOND = datetime(2026, 11, 20, 11, 0)
STRANGER = {"customer": {"email": "stranger@example.com"}}  # no URN in Khaos: nothing can be sent


class Store:
    """A new SQLite store and the demo rules."""

    def __init__(self) -> None:
        self.engine = open_store("sqlite://")
        self.ruleset = load_ruleset(DEMO)
        with self.engine.connect() as conn:
            self.catalogue = Catalogue.read(conn)

    def sync(self, moment: datetime, *returns: dict[str, Any]) -> None:
        records = [build_return(BASE, given) for given in returns]
        with self.engine.begin() as conn:
            entries = [(record, self.ruleset.draft(record, self.catalogue)) for record in records]
            apply_returns(conn, entries, moment, routing=self.ruleset.routing)

    def served(self) -> None:
        """Khaos pulls every document published."""
        with self.engine.begin() as conn:
            conn.execute(documents.update().where(documents.c.state == "published").values(state="served"))

    def rows(self, table: sa.Table) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            query = sa.select(table).order_by(sa.text("rowid"))
            return [dict(row._mapping) for row in conn.execute(query)]


def test_a_new_return_is_published_whole_in_one_row() -> None:
    # given a store that has never seen these two returns, each one accepted item of 24.00
    store = Store()

    # when one batch brings both
    store.sync(FIRST, {"id": "ret-a"}, {"id": "ret-b"})

    # expect one published document each, every column as the batch decided it
    first, second = store.rows(documents)
    assert {key: value for key, value in first.items() if key not in ("feed_position", "ruleset_hash")} == {
        "id": 1,
        "associated_ref": "RV-ret-a",
        "return_id": "ret-a",
        "sequence": 1,
        "state": "published",
        "item_ids": '["item-1"]',
        "hold_reason": "",
        "source_updated_at": "2026-11-20T10:02:11Z",
        "created_at": AS_READ_FIRST,
        "state_changed_at": AS_READ_FIRST,
        "published_at": AS_READ_FIRST,
        "first_served_at": None,
        "last_served_at": None,
        "currency": "GBP",
    }
    assert first["ruleset_hash"] == store.ruleset.content_hash
    # and what its line credits kept on its body's row (a pull never rewrites it)
    (first_body, _) = store.rows(document_bodies)
    assert first_body["document_id"] == first["id"]
    assert first_body["lines"] == '{"item-1": {"credit": "24.00", "disposition": "restock", "reason": "1"}}'
    assert (second["associated_ref"], second["id"]) == ("RV-ret-b", 2)
    assert second["feed_position"] == first["feed_position"] + 1  # in the batch's order
    # and no exception: nothing was wrong with either
    assert store.rows(exceptions) == []


def test_a_newer_version_before_khaos_pulls_updates_the_same_document() -> None:
    # given a return published, not yet pulled
    store = Store()
    store.sync(FIRST, {"id": "ret-a"})

    # when a newer version brings a second item
    store.sync(SECOND, {"id": "ret-a", "updated_at": "2026-11-21T09:00:00Z", "return_items": [{}, {"id": "item-2"}]})

    # expect the one document, its first moment kept, its state's moment the second batch's
    (document,) = store.rows(documents)
    assert document["associated_ref"] == "RV-ret-a"
    assert document["item_ids"] == '["item-1", "item-2"]'
    assert document["created_at"] == AS_READ_FIRST
    assert document["state_changed_at"] == AS_READ_SECOND
    assert document["source_updated_at"] == "2026-11-21T09:00:00Z"
    # and its body's row keeps what each of its two lines credits
    (body,) = store.rows(document_bodies)
    assert sorted(json.loads(body["lines"])) == ["item-1", "item-2"]


def test_exceptions_of_a_new_return_open_and_resolve_when_a_version_has_none() -> None:
    # given a new return whose customer Khaos does not know, beside one with nothing wrong
    store = Store()
    store.sync(FIRST, {"id": "ret-a", **STRANGER}, {"id": "ret-b"})
    opened = {(row["return_id"], row["kind"], row["status"]) for row in store.rows(exceptions)}
    assert opened == {
        ("ret-a", "customer_not_found", "open"),
        ("ret-a", "refund_credit_difference", "open"),
    }
    assert [row["return_id"] for row in store.rows(documents)] == ["ret-b"]

    # when its next version names a customer Khaos knows
    store.sync(SECOND, {"id": "ret-a", "updated_at": "2026-11-21T09:00:00Z"})

    # expect both exceptions resolved, and its document published
    after = {(row["return_id"], row["kind"], row["status"]) for row in store.rows(exceptions)}
    assert after == {
        ("ret-a", "customer_not_found", "resolved"),
        ("ret-a", "refund_credit_difference", "resolved"),
    }
    assert [row["associated_ref"] for row in store.rows(documents)] == ["RV-ret-b", "RV-ret-a"]


def test_returns_sent_again_as_stored_read_none_of_their_documents_or_exceptions() -> None:
    # given two returns in the store, one with open exceptions, one published
    store = Store()
    store.sync(FIRST, {"id": "ret-a", **STRANGER}, {"id": "ret-b"})
    before = [store.rows(table) for table in (documents, exceptions)]
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    # when both come again, unchanged
    store.sync(SECOND, {"id": "ret-a", **STRANGER}, {"id": "ret-b"})

    # expect their versions read, but not their documents or exceptions, and nothing changed
    assert any("FROM reveni_returns" in sql for sql in statements)
    assert not [sql for sql in statements if "WHERE documents.return_id IN" in sql]
    assert not [sql for sql in statements if "FROM exceptions" in sql]
    assert [store.rows(table) for table in (documents, exceptions)] == before


def test_documents_are_looked_for_only_of_returns_the_store_holds_a_version_of() -> None:
    # given one return in the store, published
    store = Store()
    store.sync(FIRST, {"id": "ret-a"})
    asked: list[object] = []  # every id a statement on `documents` was given

    def noted(_conn: object, _cursor: object, sql: str, parameters: Any, *_: object) -> None:
        if "FROM documents" in sql:
            asked.extend(parameters.values() if isinstance(parameters, dict) else parameters)

    sa.event.listen(store.engine, "before_cursor_execute", noted)

    # when one batch brings a newer version of it and a return the store has never seen
    newer = {"id": "ret-a", "updated_at": "2026-11-21T09:00:00Z", "return_items": [{}, {"id": "item-2"}]}
    store.sync(SECOND, newer, {"id": "ret-c"})

    # expect the stored return's documents looked for (and its one document updated in place),
    # the new return's not (it has none), and a first document written for the new one
    assert {"RV-ret-a", "ret-a"} <= set(asked)
    assert not {"RV-ret-c", "ret-c"} & set(asked)
    rows = [(row["associated_ref"], row["item_ids"]) for row in store.rows(documents)]
    assert rows == [("RV-ret-a", '["item-1", "item-2"]'), ("RV-ret-c", '["item-1"]')]


def test_every_document_has_its_return_stored_however_the_return_came() -> None:
    # given returns new to the store: published, held, unreadable, broken, cancelled
    store = Store()
    unreadable = {"id": "ret-u", "updated_at": "no date"}
    broken = {"id": "ret-x", "return_items": [{"quantity": 0}]}
    store.sync(FIRST, {"id": "ret-a"}, {"id": "ret-h", **STRANGER}, unreadable, broken, {"id": "ret-c"})
    store.served()

    # when they come again: older, moved backwards, unreadable, cancelled, with a new item
    store.sync(
        SECOND,
        {"id": "ret-a", "updated_at": "2026-11-19T10:00:00Z"},
        {"id": "ret-h", "status": "in_progress", "updated_at": "2026-11-21T09:00:00Z"},
        {"id": "ret-c", "status": "cancelled", "updated_at": "2026-11-21T09:00:00Z"},
        {"id": "ret-a", "updated_at": "no date"},
        {"id": "ret-x", "updated_at": "2026-11-21T09:00:00Z", "return_items": [{}, {"id": "item-2"}]},
    )

    # expect documents written, each of a return whose version the store holds: a batch
    # looks for the documents of stored returns alone
    returns_of_documents = {row["return_id"] for row in store.rows(documents)}
    assert {"ret-a", "ret-c", "ret-x"} <= returns_of_documents
    assert returns_of_documents <= {row["return_id"] for row in store.rows(reveni_returns)}


def test_a_return_sent_as_stored_and_then_newer_in_one_batch_is_decided_on_the_newer() -> None:
    # given a return published, its one item crediting 24.00
    store = Store()
    store.sync(FIRST, {"id": "ret-a"})

    # when one batch brings it as stored, then a newer version with a second item
    newer = {"id": "ret-a", "updated_at": "2026-11-21T09:00:00Z", "return_items": [{}, {"id": "item-2"}]}
    store.sync(SECOND, {"id": "ret-a"}, newer)

    # expect its one document updated in place with both items, and the newer version stored
    (document,) = store.rows(documents)
    assert (document["associated_ref"], document["item_ids"]) == ("RV-ret-a", '["item-1", "item-2"]')
    assert document["source_updated_at"] == "2026-11-21T09:00:00Z"
    with store.engine.connect() as conn:
        kept = conn.execute(sa.select(return_versions.c.return_id, return_versions.c.seen_at)).all()
    assert [tuple(row) for row in kept] == [("ret-a", AS_READ_FIRST), ("ret-a", AS_READ_SECOND)]


def test_items_accepted_after_two_pulls_go_in_a_third_document() -> None:
    # given a return whose first two documents Khaos has pulled, one item each
    store = Store()
    rejected = {"status": "rejected"}  # not credited (yet)
    store.sync(FIRST, {"id": "ret-a", "return_items": [{}, rejected, rejected]})
    store.served()
    store.sync(SECOND, {"id": "ret-a", "updated_at": "2026-11-21T09:00:00Z", "return_items": [{}, {}, rejected]})
    store.served()

    # when a newer version accepts its third item
    store.sync(SECOND, {"id": "ret-a", "updated_at": "2026-11-22T09:00:00Z", "return_items": [{}, {}, {}]})

    # expect that item alone in a third document, after the second (never a second "-2")
    made = [(row["associated_ref"], row["sequence"], row["item_ids"]) for row in store.rows(documents)]
    assert made == [
        ("RV-ret-a", 1, '["item-1"]'),
        ("RV-ret-a-2", 2, '["item-2"]'),
        ("RV-ret-a-3", 3, '["item-3"]'),
    ]


def test_a_new_returns_later_versions_in_one_batch_are_judged_against_its_first() -> None:
    # given a store that has never seen the return
    store = Store()
    accepted = {"id": "ret-a", "status": "accepted", "updated_at": "2026-11-21T09:00:00Z"}
    older = {"id": "ret-a", "status": "accepted", "updated_at": "2026-11-19T09:00:00Z", "return_items": [{}, {}]}
    backwards = {"id": "ret-a", "status": "in_progress", "updated_at": "2026-11-22T09:00:00Z"}

    # when one batch brings it accepted, then an older version, then a newer one gone back to in progress
    store.sync(FIRST, accepted, older, backwards)

    # expect the first version kept and its document as it made it; the older one ignored; the
    # one gone backwards left for CX, with the first version's status stored
    (document,) = store.rows(documents)
    assert (document["item_ids"], document["source_updated_at"]) == ('["item-1"]', "2026-11-21T09:00:00Z")
    (stored,) = store.rows(reveni_returns)
    assert (stored["status"], stored["updated_at"]) == ("accepted", "2026-11-21T09:00:00Z")
    kinds = [row["kind"] for row in store.rows(exceptions)]
    assert kinds == ["status_moved_backwards"]
