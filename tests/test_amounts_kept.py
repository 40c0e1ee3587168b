"""A rule set keeps the amounts it read and the taxes it expected (prices repeat from return
to return): each line is still judged on its own total, rate and tax, and what is kept stays bounded."""

from __future__ import annotations

from pathlib import Path

import yaml
from target_khaos_control.rules import RuleSet, load_ruleset
from target_khaos_control.rules.golden import build_return
from target_khaos_control.rules.item_pricing import AMOUNTS_KEPT

DEMO = Path(__file__).resolve().parent.parent / "rules" / "demo"
BASE = yaml.safe_load((DEMO / "tests" / "base.yaml").read_text())


def _tax_problems(ruleset: RuleSet, item: dict[str, str]) -> list[str]:
    draft = ruleset.draft(build_return(BASE, {"return_items": [item]}))
    return [p.message for p in draft.problems if p.kind.value == "value_mismatch"]


def test_each_line_is_judged_on_its_own_total_rate_and_tax_after_others_were() -> None:
    # given a rule set that has judged a line of 24.00 at 20% with its tax of 4.00
    ruleset = load_ruleset(DEMO)
    assert _tax_problems(ruleset, {}) == []

    # when lines come that share its total, its rate or its tax, but not all three
    other_tax = _tax_problems(ruleset, {"tax": "4.50"})
    other_rate = _tax_problems(ruleset, {"tax_rate": "5.00", "tax": "4.00"})
    other_total = _tax_problems(ruleset, {"total": "30.00", "price": "30.00", "tax": "4.00"})
    same_again = _tax_problems(ruleset, {"tax": "4.00"})

    # expect each judged as a rule set that had seen nothing before judges it
    fresh = [
        _tax_problems(load_ruleset(DEMO), item)
        for item in (
            {"tax": "4.50"},
            {"tax_rate": "5.00", "tax": "4.00"},
            {"total": "30.00", "price": "30.00", "tax": "4.00"},
        )
    ]
    assert [other_tax, other_rate, other_total] == fresh
    assert other_tax == ["TEE-BLK-M: Reveni's tax 4.50 is not 20.00% of 24.00 (4.00)"]
    assert other_rate == ["TEE-BLK-M: Reveni's tax 4.00 is not 5.00% of 24.00 (1.14)"]
    assert other_total == ["TEE-BLK-M: Reveni's tax 4.00 is not 20.00% of 30.00 (5.00)"]
    assert same_again == []


def test_what_a_rule_set_keeps_stays_bounded() -> None:
    # given a rule set that reads more distinct amounts than it keeps
    ruleset = load_ruleset(DEMO)
    for pennies in range(AMOUNTS_KEPT + 10):
        ruleset.amount(f"{pennies // 100}.{pennies % 100:02d}")

    # expect no more kept than its bound, and each amount read as Decimal reads its text
    assert len(ruleset.amounts) <= AMOUNTS_KEPT
    assert str(ruleset.amount("24.0")) == "24.0"
    assert str(ruleset.amount("24.00")) == "24.00"
