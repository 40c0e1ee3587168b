"""Reveni's statuses, return types and warehouse verdicts are written once, in the typed
return (`target_khaos_control/reveni.py`); every other list of them is that one, or is
held to it here."""

from __future__ import annotations

import re
from pathlib import Path

from reveni_khaos_sandbox import reveni_data
from tap_reveni.schemas import RETURN as TAP_SCHEMA
from target_khaos_control import reveni, version_order

from tests.reveni_spec import STATUSES

ROOT = Path(__file__).resolve().parent.parent


def test_the_typed_return_lists_the_statuses_reveni_publishes() -> None:
    assert reveni.STATUSES == STATUSES
    assert reveni.TYPES == ("refund", "exchange", "mixed")
    assert reveni.VERDICTS == ("pending", "accepted", "rejected")


def test_the_taps_schema_lists_the_same_values_with_null() -> None:
    properties = TAP_SCHEMA["properties"]
    verdict = properties["return_items"]["items"]["properties"]["status"]

    assert properties["status"]["enum"] == [*reveni.STATUSES, None]
    assert properties["type"]["enum"] == [*reveni.TYPES, None]
    assert verdict["enum"] == [*reveni.VERDICTS, None]


def test_the_progress_ladder_has_every_status_but_cancelled() -> None:
    # cancelled is off the ladder: Reveni may cancel at any point
    assert set(version_order.PROGRESS) == set(reveni.STATUSES) - {"cancelled"}


def test_the_sandbox_serves_the_same_statuses_in_the_same_order() -> None:
    # the sandbox is a package of its own (no dependency on the target): held equal here
    assert reveni_data.STATUSES == reveni.STATUSES
    assert set(reveni_data.STATUS_AGE) == set(reveni.STATUSES)


def test_the_cx_guide_explains_every_status() -> None:
    table = re.findall(r"^\| `([a-z_]+)` \|", (ROOT / "docs" / "cx.md").read_text(encoding="utf-8"), re.MULTILINE)

    assert [status for status in table if status in reveni.STATUSES] == list(reveni.STATUSES)
