"""The plugins start in singer-sdk's own time: what a command does not use is not imported
(issue 22, item 4). What it costs in seconds is bench/startup.py's to say, not a test's."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.schema import CreateIndex
from target_khaos_control.schema_version import latest_revisions
from target_khaos_control.store import FOLLOW_UPS, MIGRATIONS, open_store

from tests.servers import PostgresServer, target_config

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "returns.singer"

# Runs a plugin's command (the function its script calls) in this interpreter, then writes
# the modules it imported, how many objects it left out of garbage collection (gc.freeze:
# what start-up loaded), how many collections ran, and the collector's state at the end.
RUN_AND_LIST = """
import gc, json, sys
plugin, listing = sys.argv[1], sys.argv[2]
sys.argv = [plugin, *sys.argv[3:]]
if plugin == "target-khaos-control":
    from target_khaos_control.command import main
else:
    from tap_reveni.cli import main
collections = []
gc.callbacks.append(lambda phase, info: phase == "start" and collections.append(info["generation"]))
try:
    main()
except SystemExit as stop:
    assert not stop.code, stop.code
with open(listing, "w") as out:
    json.dump(
        {
            "modules": sorted(sys.modules),
            "frozen": gc.get_freeze_count(),
            "collections": len(collections),
            "collector_on": gc.isenabled(),
            "young_threshold": gc.get_threshold()[0],
        },
        out,
    )
"""

# What a run may need, and `--about` never: the store, the rules, the alerts, the web side.
NOT_FOR_ABOUT = (
    "sqlalchemy",
    "alembic",
    "jinja2",
    "yaml",
    "openpyxl",
    "prometheus_client",
    "httpx",
    "starlette",
    "defusedxml",
    "target_khaos_control.store",
    "target_khaos_control.rules",
    "target_khaos_control.publishing",
    "target_khaos_control.alerts",
    "target_khaos_control.channel",
)


def imported_by(tmp_path: Path, plugin: str, *args: str, stdin: str = "") -> set[str]:
    listed = run_listing(tmp_path, plugin, *args, stdin=stdin)
    return set(listed["modules"])


def run_listing(tmp_path: Path, plugin: str, *args: str, stdin: str = "") -> dict[str, Any]:
    listing = tmp_path / f"{plugin}-modules.json"
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST, plugin, str(listing), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    listed: dict[str, Any] = json.loads(listing.read_text())
    return listed


@pytest.mark.parametrize("plugin", ["target-khaos-control", "tap-reveni"])
def test_about_imports_nothing_but_the_plugin_and_singer_sdk(plugin: str, tmp_path: Path) -> None:
    modules = imported_by(tmp_path, plugin, "--about", "--format", "json")

    assert {"singer_sdk", plugin.replace("-", "_")} <= modules, "the command did run"
    assert [name for name in NOT_FOR_ABOUT if name in modules] == []


def test_a_sync_into_a_new_sqlite_store_or_one_up_to_date_never_imports_alembic(tmp_path: Path) -> None:
    config = tmp_path / "target.json"
    config.write_text(json.dumps(target_config(tmp_path)))
    first, second = FIXTURE.read_text().splitlines()[:2]  # the SCHEMA and one return

    on_a_new_store = imported_by(tmp_path, "target-khaos-control", "--config", str(config), stdin=first + "\n")
    next_sync = imported_by(tmp_path, "target-khaos-control", "--config", str(config), stdin=f"{first}\n{second}\n")

    assert "alembic" not in on_a_new_store, "a new SQLite store is made from its statements (new_sqlite_store.py)"
    assert "alembic" not in next_sync
    with sqlite3.connect(tmp_path / "store.db") as db:
        assert db.execute("select version_num from alembic_version").fetchall() == [
            (ScriptDirectory(str(MIGRATIONS)).get_current_head(),)
        ]
        assert db.execute("select return_id from reveni_returns").fetchall() == [(json.loads(second)["record"]["id"],)]


def test_a_sync_into_a_sqlite_store_loads_neither_postgres_nor_a_thread_pool(tmp_path: Path) -> None:
    config = tmp_path / "target.json"
    config.write_text(json.dumps(target_config(tmp_path)))
    schema, one_return = FIXTURE.read_text().splitlines()[:2]
    imported_by(tmp_path, "target-khaos-control", "--config", str(config), stdin=schema + "\n")  # migrates

    modules = imported_by(tmp_path, "target-khaos-control", "--config", str(config), stdin=f"{schema}\n{one_return}\n")

    assert "target_khaos_control.sinks" in modules, "the return was loaded"
    assert "sqlalchemy.dialects.postgresql" not in modules
    assert "multiprocessing.dummy" not in modules, "joblib's threads (singer-sdk's parallel drains) never started"
    with sqlite3.connect(tmp_path / "store.db") as db:
        assert db.execute("select return_id from reveni_returns").fetchall() == [
            (json.loads(one_return)["record"]["id"],)
        ]


def test_given_a_postgres_store_its_follow_ups_index_is_partial_there_too(postgres: PostgresServer) -> None:
    engine = open_store(postgres.new_database())

    assert str(CreateIndex(FOLLOW_UPS).compile(dialect=engine.dialect)) == (
        "CREATE INDEX ix_documents_follow_ups ON documents (return_id) WHERE sequence > 1"
    )


@pytest.mark.parametrize("plugin", ["target-khaos-control", "tap-reveni"])
def test_what_start_up_loaded_is_left_out_of_garbage_collection(plugin: str, tmp_path: Path) -> None:
    listed = run_listing(tmp_path, plugin, "--about", "--format", "json")

    assert listed["frozen"] > 10_000, "singer-sdk alone leaves tens of thousands of objects"


def test_the_target_command_is_the_one_that_starts_with_the_garbage_collector_off() -> None:
    (script,) = [point for point in entry_points(group="console_scripts") if point.name == "target-khaos-control"]

    assert script.value == "target_khaos_control.command:main"


def test_given_the_target_command_it_starts_without_a_single_garbage_collection(tmp_path: Path) -> None:
    listed = run_listing(tmp_path, "target-khaos-control", "--about", "--format", "json")

    assert listed["collections"] == 0, "what start-up loads lives to the end: nothing to collect"


def test_given_a_sync_the_garbage_collector_is_back_on_once_the_target_started(tmp_path: Path) -> None:
    config = tmp_path / "target.json"
    config.write_text(json.dumps(target_config(tmp_path)))
    schema, one_return = FIXTURE.read_text().splitlines()[:2]

    listed = run_listing(tmp_path, "target-khaos-control", "--config", str(config), stdin=f"{schema}\n{one_return}\n")

    assert listed["collector_on"] is True, "a long run's own garbage must still be collected"
    assert listed["frozen"] > 10_000, "what start-up loaded is left out of collections"
    assert listed["young_threshold"] >= 10_000, "a batch's records are not walked each 700 new objects (Python's)"


@pytest.mark.parametrize("plugin", ["loaders/target-khaos-control", "extractors/tap-reveni"])
def test_meltanos_plugin_environments_are_built_with_their_modules_compiled(plugin: str) -> None:
    venv = ROOT / ".meltano" / plugin / "venv"

    assert venv.is_dir(), "make install builds Meltano's plugin environments"
    assert list(venv.glob("lib/python3*/site-packages/singer_sdk/__pycache__/*.pyc")), (
        "built by uv without UV_COMPILE_BYTECODE: each sync would compile singer-sdk again where it cannot write"
    )


def test_the_latest_revision_read_from_the_files_is_alembics_head() -> None:
    assert latest_revisions(MIGRATIONS / "versions") == set(ScriptDirectory(str(MIGRATIONS)).get_heads())


def test_given_a_chain_of_migrations_the_latest_is_the_one_nothing_builds_on(tmp_path: Path) -> None:
    (tmp_path / "0001_first.py").write_text('revision = "0001"\ndown_revision = None\n')
    (tmp_path / "0002_second.py").write_text('revision: str = "0002"\ndown_revision: str | None = "0001"\n')
    (tmp_path / "0003_third.py").write_text("revision = '0003'  # typed by hand\ndown_revision = '0002'\n")

    assert latest_revisions(tmp_path) == {"0003"}


@pytest.mark.parametrize(
    "revision_lines",
    [
        'revision = "0003"\ndown_revision = ("0002", "0002b")\n',  # a merge of two heads
        'revision = REVISION\ndown_revision = "0002"\n',  # not a plain string
        'down_revision = "0002"\n',  # no revision at all
    ],
)
def test_given_a_migration_not_that_simple_alembic_decides(revision_lines: str, tmp_path: Path) -> None:
    (tmp_path / "0001_first.py").write_text('revision = "0001"\ndown_revision = None\n')
    (tmp_path / "0002_second.py").write_text('revision = "0002"\ndown_revision = "0001"\n')
    (tmp_path / "0003_odd.py").write_text(revision_lines)

    assert latest_revisions(tmp_path) is None
