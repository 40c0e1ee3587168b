"""A stored Reveni return of any shape shows on the dashboard: a page never answers 500
because a refund lacks its amount or a date is a number (issue 18, item 9)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from target_khaos_control.channel.app import Channel
from target_khaos_control.settings import ChannelSettings
from target_khaos_control.store import now, open_store

from tests.servers import target_config
from tests.stored_returns import insert_returns

LOGIN = ("cx-lead", "dash-pw-odd")
REFUND = {"status": "completed", "amount": "24.00", "currency": "GBP", "method": "card", "refunded_at": "2026-11-21"}
ODD: dict[str, dict[str, Any]] = {
    "a refund without amount": {"refunds": [{k: v for k, v in REFUND.items() if k != "amount"}]},
    "a refund without method": {"refunds": [{k: v for k, v in REFUND.items() if k != "method"}]},
    "refunds as text": {"refunds": "24.00 by card"},
    "a refund as text": {"refunds": ["24.00 by card"]},
    "created_at a number": {"created_at": 1763700000},
    "created_at null": {"created_at": None},
    "updated_at missing, refunded_at a number": {"updated_at": None, "refunds": [REFUND | {"refunded_at": 5}]},
}


def _record(name: str, changes: dict[str, Any]) -> dict[str, Any]:
    record = {"id": name, "status": "refunded", "created_at": "2026-11-20T10:00:00Z", "updated_at": "2026-11-21"}
    record |= changes
    return {key: value for key, value in record.items() if not (key == "updated_at" and value is None)}


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[TestClient]:
    settings = ChannelSettings.from_config(
        target_config(tmp_path, dashboard_username=LOGIN[0], dashboard_password=LOGIN[1])
    )
    engine = open_store(settings.database_url)
    with engine.begin() as conn:
        for n, changes in enumerate(ODD.values()):
            record = _record(f"odd-{n}", changes)
            insert_returns(
                conn,
                [
                    {
                        "return_id": f"odd-{n}",
                        "updated_at": "2026-11-21",
                        "content_hash": "h",
                        "record": json.dumps(record),
                        "first_seen": now(),
                        "last_changed": now(),
                    }
                ],
            )
    with TestClient(Channel(engine, settings).app()) as client:
        client.auth = LOGIN
        yield client


@pytest.mark.parametrize("n", range(len(ODD)), ids=list(ODD))
def test_an_odd_stored_return_has_its_timeline(dashboard: TestClient, n: int) -> None:
    answer = dashboard.get(f"/dashboard/returns/odd-{n}")

    assert answer.status_code == 200, answer.text[:300]
    assert "Created in Reveni" in answer.text


def test_a_refund_without_amount_or_method_says_so(dashboard: TestClient) -> None:
    without_amount = dashboard.get("/dashboard/returns/odd-0").text
    without_method = dashboard.get("/dashboard/returns/odd-1").text

    assert "Reveni refunded (no amount) GBP by card" in without_amount
    assert "Reveni refunded 24.00 GBP by (no method)" in without_method
