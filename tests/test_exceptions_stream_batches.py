"""The exceptions stream reads the store back after a batch only when the batch opened,
saw again or resolved an exception (issue 22): a batch that touched none sends nothing
and reads nothing; one that saw an exception again still sends it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.in_process import TargetCommand
from tests.servers import target_config
from tests.test_target_khaos_control import _a_return, _records

READ_BACK = "exceptions.last_seen >="  # the read after a batch (exception_log.touched_since)


@pytest.fixture
def statements() -> Iterator[list[str]]:
    """Every SQL statement run in this process while the test runs."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(sa.Engine, "before_cursor_execute", note)
    yield seen
    sa.event.remove(sa.Engine, "before_cursor_execute", note)


def _sent(folder: Path) -> list[dict[str, Any]]:
    """The exceptions records written to the stream's files."""
    lines = [line for file in sorted(folder.glob("*.jsonl")) for line in file.read_text().splitlines()]
    return [message["record"] for message in map(json.loads, lines) if message["type"] == "RECORD"]


def test_a_batch_touching_no_exception_reads_none_back(
    tmp_path: Path, target_here: TargetCommand, statements: list[str]
) -> None:
    # given a store holding an open exception (a return with no tax rate), and the stream on
    config = target_config(tmp_path, exceptions_path=str(tmp_path / "exceptions"))
    untaxed = {**_a_return("accepted", tax_rate=None), "id": "ret-untaxed"}
    first = target_here(tmp_path, config, _records(untaxed))
    assert first.returncode == 0, first.stderr
    assert [r["type"] for r in _sent(tmp_path / "exceptions")] == ["missing_tax_code"]
    statements.clear()
    # when a batch brings a return with nothing wrong
    clean = {**_a_return("accepted", refunded=True), "id": "ret-clean"}
    second = target_here(tmp_path, config, _records(clean))
    # expect nothing read back, and nothing more sent
    assert second.returncode == 0, second.stderr
    assert [r["type"] for r in _sent(tmp_path / "exceptions")] == ["missing_tax_code"]
    assert [s for s in statements if READ_BACK in s] == []


def test_an_exception_seen_again_is_still_sent(tmp_path: Path, target_here: TargetCommand) -> None:
    # given an open exception, and a newer version of its return still without a tax rate
    config = target_config(tmp_path, exceptions_path=str(tmp_path / "exceptions"))
    untaxed = {**_a_return("accepted", tax_rate=None), "id": "ret-untaxed"}
    target_here(tmp_path, config, _records(untaxed))
    # when the newer version comes (the exception is neither opened nor resolved: seen again)
    again = target_here(tmp_path, config, _records({**untaxed, "updated_at": "2026-11-21T00:00:00Z"}))
    # expect the exception sent again, with its second occurrence
    assert again.returncode == 0, again.stderr
    sent = _sent(tmp_path / "exceptions")
    assert [(r["type"], r["occurrences"]) for r in sent] == [("missing_tax_code", 1), ("missing_tax_code", 2)]
