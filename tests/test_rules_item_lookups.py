"""What an item needs from its rule set, worked out once as the rules load, finds what the
rules in turn would: the reason rule every item of a code matches, the tax rules of a
rate, and each return's own country and currency for them (never another return's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from target_khaos_control.rules import load_ruleset
from target_khaos_control.rules.golden import build_return
from target_khaos_control.rules.reason_rules import ReasonRule, certain

from tests.rulesets import write_rules
from tests.servers import DEMO_RULES

DEMO = (DEMO_RULES / "rules.yml").read_text()
BASE = yaml.safe_load((DEMO_RULES / "tests" / "base.yaml").read_text())


def rule(reasons: list[str], khaos_reason: str, *, verdicts: list[str] | None = None) -> ReasonRule:
    return ReasonRule(
        frozenset(reasons), frozenset(verdicts) if verdicts else None, None, None, khaos_reason, "restock", ""
    )


def test_a_reason_whose_first_rule_has_no_condition_is_matched_by_it_alone() -> None:
    # given: faulty's first rule has no condition; changed_mind's first asks for a pending item
    plain, pending, later = (
        rule(["faulty"], "2"),
        rule(["changed_mind"], "2", verdicts=["pending"]),
        rule(["faulty", "changed_mind"], "4"),
    )

    found = certain({"faulty": (plain, later), "changed_mind": (pending, later)})

    # expect: faulty is settled at once; changed_mind's rules are still tried in turn
    assert found == {"faulty": plain}
    assert certain(None) == {}


def test_an_item_of_a_reason_with_a_conditional_first_rule_still_falls_through(tmp_path: Path) -> None:
    # given: the demo's not_as_described rules: pending items quarantined (2), graded ones restocked (3)
    ruleset = load_ruleset(write_rules(tmp_path, DEMO))
    items = [{"return_reason": {"code": "not_as_described"}, "status": s} for s in ("pending", "accepted")]
    record = build_return(BASE, {"return_items": items})

    draft = ruleset.draft(record)

    assert draft.dispositions == {"item-1": ("2", "quarantine"), "item-2": ("3", "restock")}


def test_a_rate_written_without_its_decimal_places_finds_the_rules_entry(tmp_path: Path) -> None:
    # given: Reveni writes 20% as "20"; the rules name "20.00"
    ruleset = load_ruleset(write_rules(tmp_path, DEMO))
    record = build_return(BASE, {"return_items": [{"tax_rate": "20"}]})

    draft = ruleset.draft(record)

    # expect: a line (24.00 at 20% holds 4.00 of tax, as sent), no exception
    assert draft.outcomes == {"item-1": "line"}
    assert draft.problems == []


def test_a_tax_rule_for_one_country_is_read_against_each_returns_own_country(tmp_path: Path) -> None:
    # given: 20% has a Khaos tax code for Great Britain only; 0% for anywhere
    text = DEMO.replace('- {rate: "20.00", code: "1"}', '- {rate: "20.00", code: "1", country: GB}')
    assert text != DEMO
    ruleset = load_ruleset(write_rules(tmp_path, text))
    french = {"address": {"line1": "1 rue Haute", "city": "Lille", "postcode": "59000", "country_code": "FR"}}
    zero_rated = {"tax_rate": "0.00", "tax": "0.00"}
    british = build_return(BASE, {"return_items": [zero_rated, {}]})
    from_france = build_return(BASE, {"customer": french, "return_items": [zero_rated, {}]})

    # expect: in each return the 0% item is a line; the 20% item is one in Great Britain only,
    # whichever return the rule set read before
    outcomes = [ruleset.draft(record).outcomes for record in (british, from_france, british)]
    assert outcomes == [
        {"item-1": "line", "item-2": "line"},
        {"item-1": "line", "item-2": "exception:missing_tax_code"},
        {"item-1": "line", "item-2": "line"},
    ]
    assert ruleset.draft(from_france).problems[0].message == (
        "TEE-BLK-M: tax rate 20.00% (FR, GBP) has no Khaos tax code in the rules"
    )


def test_a_line_with_no_exchange_credits_its_paid_total_to_the_penny(tmp_path: Path) -> None:
    # given: a line paid "24" (no pennies written) and a free one, neither exchanged
    ruleset = load_ruleset(write_rules(tmp_path, DEMO))
    record = build_return(BASE, {"return_items": [{"total": "24", "price": "24"}, {"total": "0.00", "tax": "0.00"}]})

    lines = ruleset.draft(record).lines

    # expect: 24.00 and 0.00 exactly as Khaos is sent them: two places, never a minus sign
    assert [str(line.credit) for line in lines] == ["24.00", "0.00"]


def test_a_return_is_settled_only_with_every_item_graded_and_none_waiting(tmp_path: Path) -> None:
    ruleset = load_ruleset(write_rules(tmp_path, DEMO))
    rejected: dict[str, Any] = {"status": "rejected", "reject_reason": "damaged"}
    unknown: dict[str, Any] = {"return_reason": {"code": "never_heard_of", "label": "?"}}

    def settled(*items: dict[str, Any]) -> bool:
        return bool(ruleset.draft(build_return(BASE, {"return_items": list(items)})).settled)

    # expect: graded items, credited or not, settle it; one not graded or one waiting on an exception does not
    assert settled({}, rejected)
    assert not settled({}, {"status": "pending"})
    assert not settled(unknown, {})
    assert not settled({}, unknown)


def test_a_lines_total_read_once_still_checks_its_tax(tmp_path: Path) -> None:
    ruleset = load_ruleset(write_rules(tmp_path, DEMO))
    taxed_wrong = build_return(BASE, {"return_items": [{"tax": "5.00"}]})

    # expect: 20% of 24.00 is 4.00, not 5.00
    assert [p.message for p in ruleset.draft(taxed_wrong).problems] == [
        "TEE-BLK-M: Reveni's tax 5.00 is not 20.00% of 24.00 (4.00)"
    ]
