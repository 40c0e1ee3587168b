"""Each item of a return gets one outcome: a line, an exception (naming its kind) or a skip
(naming its verdict), made and read through `item_outcomes` so the words are checked."""

from __future__ import annotations

import pytest
import yaml
from target_khaos_control.exception_kinds import Kind
from target_khaos_control.item_outcomes import (
    UNGRADED,
    ItemOutcome,
    skipped,
    ungraded_items,
    waiting_items,
    waits_on,
)
from target_khaos_control.rules import load_ruleset
from target_khaos_control.rules.golden import build_return

from tests.servers import DEMO_RULES

BASE = yaml.safe_load((DEMO_RULES / "tests" / "base.yaml").read_text())


def test_an_outcome_names_the_kind_it_waits_on_or_the_verdict_it_skips() -> None:
    assert waits_on(Kind.SKU_NOT_FOUND) == "exception:sku_not_found"
    assert skipped("rejected") == "skip:rejected"
    assert UNGRADED == "skip:pending"
    assert ItemOutcome.of("line") is ItemOutcome.LINE
    assert ItemOutcome.of("exception:sku_not_found") is ItemOutcome.EXCEPTION
    assert ItemOutcome.of("skip:rejected") is ItemOutcome.SKIP


def test_items_waiting_and_ungraded_are_counted_from_their_outcomes() -> None:
    outcomes = {
        "item-1": "line",
        "item-2": "exception:sku_not_found",
        "item-3": "exception:unknown_reason",
        "item-4": "skip:pending",
        "item-5": "skip:rejected",
    }
    assert waiting_items(outcomes.values()) == 2
    assert ungraded_items(outcomes.values()) == 1


def test_an_outcome_in_no_known_word_is_refused() -> None:
    with pytest.raises(ValueError, match="'skipped' is not a valid ItemOutcome"):
        ItemOutcome.of("skipped:pending")


def test_the_engine_gives_each_item_its_outcome_and_counts_the_waiting_one_in_its_advice() -> None:
    # Given an unrefunded return: one accepted item, one rejected, one not graded yet (the
    # demo rules credit a pending item only once refunded) and one with a reason no rule maps.
    record = build_return(
        BASE,
        {
            "refunds": [],
            "return_items": [
                {"status": "accepted"},
                {"status": "rejected", "reject_reason": "used"},
                {"status": "pending"},
                {"return_reason": {"code": "no_rule_for_this", "label": "Unmapped"}},
            ],
        },
    )

    draft = load_ruleset(DEMO_RULES).draft(record)

    assert draft.outcomes == {
        "item-1": "line",
        "item-2": "skip:rejected",
        "item-3": "skip:pending",
        "item-4": "exception:unknown_reason",
    }
    difference = next(p for p in draft.problems if p.kind is Kind.REFUND_CREDIT_DIFFERENCE)
    assert "1 item(s) wait on other exceptions and follow once those are fixed." in difference.message
