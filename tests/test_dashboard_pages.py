"""The dashboard's pages on an empty store, and the open routes, in process: an empty table
says so, and `/healthz` tells a load balancer whether the store answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.testclient import TestClient
from target_khaos_control.channel.app import Channel
from target_khaos_control.channel.dashboard import Dashboard
from target_khaos_control.settings import ChannelSettings
from target_khaos_control.store import open_store

from tests.servers import target_config

LOGIN = ("finance-lead", "dash-pw-2c7")


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[TestClient]:
    settings = ChannelSettings.from_config(
        target_config(tmp_path, dashboard_username=LOGIN[0], dashboard_password=LOGIN[1])
    )
    with TestClient(Channel(open_store(settings.database_url), settings).app()) as client:
        client.auth = LOGIN
        yield client


@pytest.mark.parametrize(
    ("page", "says"),
    [
        ("/dashboard/", "None open."),
        ("/dashboard/?owner=warehouse", "None open for warehouse."),
        ("/dashboard/runs", "No runs yet"),
        ("/dashboard/reconciliation", "No reconciliation has run yet"),
    ],
)
def test_an_empty_page_says_so(empty: TestClient, page: str, says: str) -> None:
    answer = empty.get(page)

    assert answer.status_code == 200
    assert says in answer.text


def test_health_is_ok_while_the_store_answers(empty: TestClient) -> None:
    answer = empty.get("/healthz", auth=None)

    assert (answer.status_code, answer.text) == (200, "ok")


def test_health_is_503_when_the_store_does_not_answer(tmp_path: Path) -> None:
    unreachable = sa.create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'store.db'}")
    app = Starlette(routes=Dashboard.open_routes(unreachable, "https://returns.example.com"))

    answer = TestClient(app).get("/healthz")

    assert answer.status_code == 503


def test_the_landing_page_gives_khaos_its_configuration_url(empty: TestClient) -> None:
    answer = empty.get("/", auth=None)

    assert answer.status_code == 200
    assert "http://127.0.0.1:8803/khaos/config.json" in answer.text
    assert "default-src 'none'" in answer.headers["content-security-policy"]
