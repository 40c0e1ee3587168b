"""The dashboard's pages on an empty store, and the open routes, in process: an empty table
says so, and `/healthz` tells a load balancer whether the store answers."""

from __future__ import annotations

import sqlite3
import threading
import time
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


def test_a_health_check_waiting_for_a_sync_holds_up_no_other_call(tmp_path: Path) -> None:
    # Given a sync's batch holding SQLite's one write lock (for up to BUSY_MS), the health
    # check's write waits for it: in a thread, so the channel answers everything else meanwhile.
    settings = ChannelSettings.from_config(
        target_config(tmp_path, dashboard_username=LOGIN[0], dashboard_password=LOGIN[1])
    )
    engine = open_store(settings.database_url)
    sync = sqlite3.connect(tmp_path / "store.db", isolation_level=None, check_same_thread=False)
    sync.execute("BEGIN IMMEDIATE")
    released = threading.Timer(2.0, sync.rollback)  # the batch commits in two seconds
    finished: dict[str, float] = {}
    with TestClient(Channel(engine, settings).app()) as client:

        def check() -> None:
            finished["health"] = time.monotonic() if client.get("/healthz").status_code == 200 else 0.0

        checker = threading.Thread(target=check)
        released.start()
        checker.start()
        time.sleep(0.3)  # the check waiting for the lock
        runs_page = client.get("/dashboard/runs", auth=LOGIN)
        finished["runs page"] = time.monotonic()
        checker.join()
    released.join()

    assert runs_page.status_code == 200
    assert finished["health"], "the health check was not ok once the batch committed"
    assert finished["runs page"] < finished["health"], "the runs page waited for the health check"
