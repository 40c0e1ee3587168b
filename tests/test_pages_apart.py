"""The dashboard's pages that read the whole store do not hold up Khaos's pulls (issue 22).

The month-end close reads every return of its period, the open exceptions list every open
exception. Made in the channel's own process, a page held its event loop for as long as it
took (5 s for a 50k store's close, over a minute for a 500k one), and Khaos's pulls waited.
They are made in a worker process now (channel/reader_process.py).

Given a store whose pages take a second or more to make, a pull Khaos makes while a person
opens one is answered before that page. bench/pulls_while_pages.py measures the latency.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient
from target_khaos_control.channel.app import Channel
from target_khaos_control.channel.reader_process import read_apart
from target_khaos_control.settings import ChannelSettings
from target_khaos_control.states import ExceptionStatus
from target_khaos_control.store import credit_notes, exceptions, open_store, runs

from tests.servers import DEMO_RULES
from tests.test_dashboard_pages import LOGIN

KHAOS = ("khaos", "channel-pw-apart")
FIRST_CONTACT = {"Sirion-Continuation": "2026-11-26 14:00:00Z"}  # what Khaos sends first
SEEN = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CREDIT_NOTES = 60_000  # dated in November, for references Reveni never sent: the close adds each up
OPEN_EXCEPTIONS = 20_000  # each graded by its money and age for the list


@pytest.fixture(scope="module")
def slow_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store whose close of November and open exceptions list take a second or more."""
    path = tmp_path_factory.mktemp("apart") / "store.db"
    engine = open_store(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(
            credit_notes.insert(),
            [
                {
                    "code": f"CN{n}",
                    "associated_ref": f"RV-elsewhere-{n}",
                    "gross": "1.00",
                    "currency": "GBP",
                    "date": "2026-11-20",
                    "seen_at": SEEN,
                }
                for n in range(CREDIT_NOTES)
            ],
        )
        conn.execute(
            exceptions.insert(),
            [
                {
                    "trace_key": f"unknown_reason:r{n}:i{n}",
                    "kind": "unknown_reason",
                    "owner": "cx",
                    "return_id": f"r{n}",
                    "item_id": f"i{n}",
                    "message": f"Reveni reason 'odd' on item i{n} has no rule",
                    "status": ExceptionStatus.OPEN,
                    "first_seen": SEEN,
                    "last_seen": SEEN,
                    "occurrences": 1,
                    "details": '{"sku": "TEE-BLK-M", "price": "19.99", "quantity": 1, "currency": "GBP"}',
                }
                for n in range(OPEN_EXCEPTIONS)
            ],
        )
    engine.dispose()
    return path


def a_channel(store: Path) -> Channel:
    settings = ChannelSettings.from_config(
        {
            "database_url": f"sqlite:///{store}",
            "channel_username": KHAOS[0],
            "channel_password": KHAOS[1],
            "public_url": "http://127.0.0.1:8803",
            "dashboard_username": LOGIN[0],
            "dashboard_password": LOGIN[1],
            "rules_path": str(DEMO_RULES),
        }
    )
    return Channel(open_store(settings.database_url), settings)


@pytest.mark.parametrize(
    ("page", "shows"),
    [
        ("/dashboard/close?period=2026-11", "<title>Month-end close 2026-11"),
        ("/dashboard/?sort=amount", f'<span class="muted">all owners</span><b>{OPEN_EXCEPTIONS}</b>'),
    ],
)
def test_a_pull_is_answered_while_a_page_of_the_whole_store_is_made(
    slow_store: Path, tmp_path: Path, page: str, shows: str
) -> None:
    store = tmp_path / "store.db"
    shutil.copy(slow_store, store)
    finished: dict[str, float] = {}
    answers: dict[str, Any] = {}
    with TestClient(a_channel(store).app()) as client:

        def open_page() -> None:
            answers["page"] = client.get(page, auth=LOGIN)
            finished["page"] = time.monotonic()

        person = threading.Thread(target=open_page)
        person.start()
        time.sleep(0.3)  # the page under way: it takes a second or more
        answers["pull"] = client.get("/khaos/returns.json", headers=FIRST_CONTACT, auth=KHAOS)
        finished["pull"] = time.monotonic()
        person.join()

    assert answers["pull"].status_code == 200
    assert answers["page"].status_code == 200
    assert shows in answers["page"].text
    assert finished["pull"] < finished["page"], "the pull waited for the page"


def where_read(engine: Engine) -> tuple[int, int]:
    """The process a read was made in, and the runs it found in the store."""
    with engine.connect() as conn:
        return os.getpid(), conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar_one()


def test_a_store_on_disk_or_postgres_is_read_in_a_worker_process(store_url: str) -> None:
    engine = open_store(store_url)  # a Postgres URL with its password: the worker logs in as the channel does
    with engine.begin() as conn:
        conn.execute(runs.insert().values(kind="sync", started_at=SEEN, counts="{}"))
    process, found = anyio.run(read_apart, engine, where_read)
    assert process != os.getpid()
    assert found == 1


def test_a_store_in_memory_is_read_in_the_channel_itself() -> None:
    # No other process can open it: another would read a new, empty store.
    engine = sa.create_engine(
        "sqlite://", poolclass=sa.StaticPool, connect_args={"check_same_thread": False}
    )  # one store, shared by the channel's threads
    with engine.begin() as conn:
        runs.create(conn)
        conn.execute(runs.insert().values(kind="sync", started_at=SEEN, counts="{}"))
    assert anyio.run(read_apart, engine, where_read) == (os.getpid(), 1)


def children() -> set[int]:
    """This process's child processes (Linux's /proc)."""
    mine = str(os.getpid())
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "stat").read_text().rsplit(")", 1)[1].split()[1] == mine:
                    found.add(int(entry.name))
            except (OSError, IndexError):  # ended meanwhile
                continue
    return found


def test_a_worker_that_died_between_pages_is_replaced(tmp_path: Path) -> None:
    # given a channel whose worker made a page, then was killed (out of memory, say)
    before = children()
    with TestClient(a_channel(tmp_path / "store.db").app()) as client:
        first = client.get("/dashboard/close?period=2026-11", auth=LOGIN)
        workers = children() - before
        for worker in workers:
            os.kill(worker, signal.SIGKILL)
        # when the page is asked for again
        again = client.get("/dashboard/close?period=2026-11", auth=LOGIN)

    # expect a new worker to make it
    assert first.status_code == 200
    assert workers, "the first page was made in a worker process"
    assert again.status_code == 200
    assert "Month-end close 2026-11" in again.text
