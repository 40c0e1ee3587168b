"""`reveni-khaos` as an operator meets it: wrong values refused with the valid ones listed,
expected errors in one line, never a traceback, and a version."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from target_khaos_control.operations import commands

from tests.in_process import reveni_khaos_here
from tests.servers import BIN, DEMO_RULES

Capture = pytest.CaptureFixture[str]


def _reveni_khaos(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "reveni-khaos"), *args], capture_output=True, text=True, timeout=60, check=False)


def test_it_tells_its_version() -> None:
    told = _reveni_khaos("--version")

    assert (told.returncode, told.stdout.strip()) == (0, f"reveni-khaos {version('target-khaos-control')}")


def test_an_owner_that_does_not_exist_is_refused_with_the_owners_listed(tmp_path: Path, capfd: Capture) -> None:
    for command in ("exceptions", "replay"):
        for owner in ("bogus", "Finance"):
            refused = reveni_khaos_here(capfd, command, "--config", str(tmp_path / "c.json"), "--owner", owner)

            assert refused.returncode == 2, (command, owner)
            assert "'finance', 'warehouse', 'cx', 'integration'" in refused.stderr
            assert "Traceback" not in refused.stderr


def test_a_misspelt_exception_type_is_refused_with_the_types_listed(tmp_path: Path, capfd: Capture) -> None:
    refused = reveni_khaos_here(capfd, "replay", "--config", str(tmp_path / "c.json"), "--type", "unknwn_reason")

    assert refused.returncode == 2
    assert "invalid choice: 'unknwn_reason'" in refused.stderr
    assert "'unknown_reason'" in refused.stderr


def test_a_config_without_the_store_or_rules_is_named_in_one_line(tmp_path: Path, capfd: Capture) -> None:
    config = tmp_path / "c.json"
    config.write_text("{}")

    refused = reveni_khaos_here(capfd, "exceptions", "--config", str(config))

    assert refused.returncode == 1
    assert refused.stderr.strip() == f"reveni-khaos exceptions: {config}: no `database_url` and no `rules_path` " + (
        "(see docs/README.md)"
    )


def test_a_reader_that_goes_away_gets_no_traceback() -> None:
    read, write = os.pipe()
    os.close(read)  # like `| head` that has read all it wanted
    try:
        done = subprocess.run(
            [str(BIN / "reveni-khaos"), "--help"], stdout=write, stderr=subprocess.PIPE, text=True, timeout=60
        )
    finally:
        os.close(write)

    assert done.returncode == 0
    assert done.stderr == ""


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_on_a_terminal_only(monkeypatch: Any) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    bar = commands._progress_bar(_Terminal(), "Replaying")
    assert bar is not None
    assert list(bar(range(3))) == [0, 1, 2]
    assert "Replaying" in terminal.getvalue()

    assert commands._progress_bar(io.StringIO(), "Replaying") is None


def test_replaying_a_return_the_store_never_read_is_refused(tmp_path: Path, capfd: Capture) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"database_url": f"sqlite:///{tmp_path / 'store.db'}", "rules_path": str(DEMO_RULES)}))

    refused = reveni_khaos_here(capfd, "replay", "--config", str(config), "--id", "no-such-return")

    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "reveni-khaos replay: no Reveni return 'no-such-return' in the store: check the id"
    )


def test_the_exceptions_table_has_a_header_and_each_rows_return_id(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from target_khaos_control.store import exceptions, open_store

    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    moment = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            exceptions.insert().values(
                trace_key="sku_not_found:ret-7f3a:item-1",
                kind="sku_not_found",
                owner="warehouse",
                return_id="ret-7f3a",
                item_id="item-1",
                message="No Khaos stock code for SKU TEE-RED-M",
                status="open",
                first_seen=moment,
                last_seen=moment,
                occurrences=1,
                details=json.dumps({"order_number": "1042", "sku": "TEE-RED-M"}),
            )
        )
    out = io.StringIO()

    commands.list_exceptions(engine, None, "table", out=out)

    header, row, total = out.getvalue().splitlines()
    assert header.split() == ["OWNER", "TYPE", "RETURN", "ID", "ORDER", "SKU", "WHAT", "HAPPENED"]
    assert row.split()[:5] == ["warehouse", "sku_not_found", "ret-7f3a", "1042", "TEE-RED-M"]
    assert header.index("RETURN ID") == row.index("ret-7f3a"), "each value under its heading"
    assert total == "1 open exception(s)"
