"""Every return the Reveni sandbox serves is a Reveni return as the target types it: the
demo's and the tests' data sets, and each return again after the warehouse's verdicts."""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

import msgspec
import pytest
from reveni_khaos_sandbox.reveni_app import _apply_verdict, _settle
from reveni_khaos_sandbox.reveni_data import ReturnGenerator
from reveni_khaos_sandbox.reveni_store import ReturnStore
from target_khaos_control.reveni import STATUSES, Return, breaks

SEEDS = (7, 5, 11, 13, 23)  # the demo's seed (7) and those the tests serve
COUNT = 200  # `reveni-sandbox`'s default: every status and kind many times over


def _served(seed: int) -> list[dict[str, Any]]:
    """The returns as the sandbox's list endpoint sends them: one page of all, as JSON."""
    count, results = ReturnStore(ReturnGenerator(seed, COUNT)).page(None, 0, COUNT)
    assert count == COUNT
    parsed: list[dict[str, Any]] = json.loads(json.dumps(results))
    return parsed


@pytest.mark.parametrize("seed", SEEDS)
def test_every_return_served_decodes_as_a_typed_return(seed: int) -> None:
    served = _served(seed)

    decoded = [msgspec.json.decode(json.dumps(record), type=Return) for record in served]

    assert [breaks(record) for record in served if breaks(record) is not None] == []
    assert Counter(typed.status for typed in decoded) == dict.fromkeys(STATUSES, COUNT // len(STATUSES))
    assert {typed.type for typed in decoded} == {"refund", "exchange", "mixed"}
    assert any(typed.exchange_payments for typed in decoded)  # top-ups are among them


@pytest.mark.parametrize("verdict", ["accepted", "rejected"])
def test_every_return_after_the_warehouses_verdict_still_decodes(verdict: str) -> None:
    # given each return the sandbox serves (seed 7), every line judged as `verdict` the way
    # `partial_validate` does it (a cancelled return refuses verdicts)
    settled = []
    for record in _served(7):
        if record["status"] == "cancelled":
            continue
        changed = copy.deepcopy(record)
        items = {item["id"]: item for item in changed["return_items"]}
        for item_id in items:
            _apply_verdict(items, {"item_id": item_id, "status": verdict, "reject_reason": "defect"}, "items[0]")
        changed["updated_at"] = "2026-11-21T09:00:00Z"
        _settle(changed)
        settled.append(json.loads(json.dumps(changed)))

    assert [breaks(record) for record in settled if breaks(record) is not None] == []
    assert {msgspec.json.decode(json.dumps(r), type=Return).status for r in settled} == {verdict}
    assert len(settled) == COUNT - COUNT // len(STATUSES)
