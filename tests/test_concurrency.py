"""The target and Khaos's pulls at the same time, on SQLite and on Postgres.

A pull is forced to land between the moment the target reads a document's state and
the moment it writes its decision: whatever the order the database lets them run in,
Khaos must get each AssociatedRef once, the stored document must be what Khaos got,
and every item must be credited exactly once.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from target_khaos_control import publishing
from target_khaos_control.rules import Catalogue, load_ruleset
from target_khaos_control.served_marks import settled_first
from target_khaos_control.store import now, open_store

from tests.servers import DEMO_RULES, ChannelServer, target_config
from tests.test_target_khaos_control import _a_return


@pytest.fixture
def database_url(store_url: str) -> str:
    """A fresh, empty store of each kind (on Postgres, a database of the worker's cluster)."""
    return store_url


def _load(engine: sa.Engine, *records: dict[str, Any]) -> None:
    """What the target's sink does with one batch."""
    ruleset = load_ruleset(DEMO_RULES)
    with engine.begin() as conn:
        catalogue = Catalogue.read(conn)
        publishing.apply_returns(conn, [(r, ruleset.draft(r, catalogue)) for r in records], now())


def _pull(channel: ChannelServer, continuation: str = "2026-11-26 14:00:00Z") -> tuple[list[dict[str, Any]], str]:
    response = channel.get("/khaos/returns.json", headers={"Sirion-Continuation": continuation})
    assert response.status_code == 200, response.text
    return json.loads(response.content)["Returns"], response.headers["Sirion-Continuation"]


def test_a_pull_between_the_targets_read_and_write_is_never_overwritten(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = open_store(database_url)
    _load(engine, _a_return("accepted", "pending"))  # RV-ret-1 published with item-0
    channel = ChannelServer(target_config(tmp_path, database_url=database_url), tmp_path).start()
    pulled: list[tuple[list[dict[str, Any]], str]] = []
    write = publishing.Batch.write

    def pull_then_write(batch: publishing.Batch) -> publishing.Counts:
        # The target has read RV-ret-1 as published; Khaos pulls now, before it writes.
        puller = threading.Thread(target=lambda: pulled.append(_pull(channel)))
        puller.start()
        deadline = time.monotonic() + 2
        while puller.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        return write(batch)

    try:
        monkeypatch.setattr(publishing.Batch, "write", pull_then_write)
        _load(engine, _a_return("accepted", "accepted", updated="2026-11-21T10:00:00Z"))
        monkeypatch.undo()
        deadline = time.monotonic() + 30
        while not pulled and time.monotonic() < deadline:
            time.sleep(0.05)
        first, continuation = pulled[0]
        second, _ = _pull(channel, continuation)
    finally:
        channel.stop()

    served = first + second
    refs = [r["AssociatedRef"] for r in served]
    assert len(refs) == len(set(refs)), f"Khaos was served an AssociatedRef twice: {refs}"
    settled_first(engine)  # as every reader of states: the pulls' marks written first
    with engine.connect() as conn:
        stored = {
            row.associated_ref: (row.state, json.loads(row.body))
            for row in conn.execute(
                sa.text(
                    "select associated_ref, state, body from documents join document_bodies on document_bodies.document_id = documents.id"
                )
            )
        }
    for document in served:
        state, body = stored[document["AssociatedRef"]]
        assert state == "served"
        assert body == document, "the stored document is exactly what Khaos was given"
    credited = [item for document in served for item in document["ReturnedItems"]]
    assert len(credited) == 2, "both items credited, each once"
    assert not [ref for ref, (state, _) in stored.items() if state == "published"], "nothing left unpulled"
