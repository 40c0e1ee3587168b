"""Every test talks to real servers over HTTP on 127.0.0.1.

One Reveni sandbox with the default demo data is shared by the tests that only read it.
Its address is fixed when pytest starts (the singer-sdk test class needs it at import
time), but it starts only when a test first asks for it: collecting tests starts no
server. A test that changes data or faults takes its own `sandbox`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path

import backoff._sync
import pytest

from tests.in_process import (
    CliCommand,
    InProcessReveniSandbox,
    TapCommand,
    TargetCommand,
    Waits,
    reveni_khaos_here,
    run_tap_here,
    run_target_here,
)
from tests.servers import PG_BIN, PostgresServer, ReveniSandbox

_shared: ReveniSandbox | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _shared
    _shared = ReveniSandbox(returns=200)
    os.environ["TEST_REVENI_SANDBOX_URL"] = _shared.url


@pytest.fixture(scope="session")
def demo_sandbox() -> Iterator[ReveniSandbox]:
    """The shared sandbox with the default 200 demo returns: read, never change."""
    assert _shared is not None
    yield _shared.start()
    _shared.stop()


@pytest.fixture
def sandbox() -> Iterator[ReveniSandbox]:
    """A sandbox of this test's own, free to change: the sandbox's app, served from this process."""
    own = InProcessReveniSandbox(returns=200).start()
    yield own
    own.stop()


@pytest.fixture
def retry_waits(monkeypatch: pytest.MonkeyPatch) -> Waits:
    """The tap's retry waits, recorded instead of slept (only the backoff library's clock)."""
    waits = Waits()
    monkeypatch.setattr(backoff._sync, "time", waits)
    return waits


@pytest.fixture
def tap_here(capfd: pytest.CaptureFixture[str]) -> TapCommand:
    """`run_tap`, with the tap's entry point called in this process (`tests/in_process.py`)."""
    return functools.partial(run_tap_here, capfd)


@pytest.fixture
def target_here(capfd: pytest.CaptureFixture[str]) -> TargetCommand:
    """`run_target`, with the target's command called in this process (`tests/in_process.py`)."""
    return functools.partial(run_target_here, capfd)


@pytest.fixture
def cli_here(capfd: pytest.CaptureFixture[str]) -> CliCommand:
    """`reveni_khaos`, with the command's entry point called in this process (`tests/in_process.py`)."""
    return functools.partial(reveni_khaos_here, capfd)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster for this worker's tests: each test makes its own database."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL's server binaries are not installed")
    server = PostgresServer(durable=False).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty store's URL: on SQLite, then on Postgres (a database of the worker's
    cluster; skipped without PostgreSQL)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    postgres: PostgresServer = request.getfixturevalue("postgres")
    return postgres.new_database()
