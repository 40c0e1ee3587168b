"""The rules' shortcuts give exactly what the full way gives: reason rules looked up by the
item's reason code, an item's contract checks, refunds read typed."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st
from target_khaos_control.khaos_documents import DataItem
from target_khaos_control.rules import load_ruleset
from target_khaos_control.rules.golden import build_return
from target_khaos_control.rules.reason_rules import ReasonRule, by_reason
from target_khaos_control.rules.template_limits import MAX_INPUT
from target_khaos_control.rules.templates import DIRECT_FILTERS, _direct, compile_condition, compile_text, environment
from target_khaos_control.rules.validation import _item_findings

from tests.rulesets import write_rules
from tests.servers import DEMO_RULES

DEMO = (DEMO_RULES / "rules.yml").read_text()
BASE = yaml.safe_load((DEMO_RULES / "tests" / "base.yaml").read_text())


def rule(reasons: list[str], khaos_reason: str) -> ReasonRule:
    return ReasonRule(frozenset(reasons), None, None, None, khaos_reason, "restock", "")


def item(code: str, *, status: str = "accepted", price: str = "24.00") -> dict[str, Any]:
    return {
        "return_reason": {"code": code, "label": code},
        "status": status,
        "price": price,
        "total": price,
        "tax": str((Decimal(price) / 6).quantize(Decimal("0.01"))),
    }


# --- reason rules by reason code ----------------------------------------------------------------


def test_the_index_keeps_each_reasons_rules_in_the_files_order() -> None:
    first, second, third = rule(["faulty", "changed_mind"], "2"), rule(["changed_mind"], "4"), rule(["faulty"], "5")

    index = by_reason([first, second, third])

    assert index == {"faulty": (first, third), "changed_mind": (first, second)}


def test_a_rule_for_every_reason_leaves_the_rules_to_be_tried_in_turn() -> None:
    anything = ReasonRule(None, frozenset(["rejected"]), None, None, "5", "write_off", "")

    assert by_reason([rule(["faulty"], "2"), anything]) is None
    assert by_reason([]) is None


def test_the_first_matching_rule_wins_across_rules_naming_several_reasons(tmp_path: Path) -> None:
    # given: a rule for rejected faulty or changed-mind items, then changed_mind's own rule
    text = DEMO.replace(
        "\nreasons:\n",
        '\nreasons:\n  - reason: [faulty, changed_mind]\n    verdict: pending\n    khaos_reason: "2"\n'
        "    disposition: quarantine\n",
        1,
    )
    ruleset = load_ruleset(write_rules(tmp_path, text))
    refunded = {"refunds": [{"amount": "48.00"}], "total": "48.00"}
    record = build_return(
        BASE, refunded | {"return_items": [item("changed_mind", status="pending"), item("changed_mind")]}
    )
    record["return_items"][1]["id"] = "item-2"

    draft = ruleset.draft(record)

    # expect: the pending item meets the first rule; the accepted one falls through to changed_mind's (4)
    assert draft.dispositions == {"item-1": ("2", "quarantine"), "item-2": ("4", "restock")}


def test_a_when_condition_is_read_for_each_item_of_its_reason(tmp_path: Path) -> None:
    text = DEMO.replace(
        "  - reason: changed_mind\n",
        '  - reason: changed_mind\n    when: "{{ item.price | decimal >= 100 }}"\n    khaos_reason: "2"\n'
        "    disposition: quarantine\n  - reason: changed_mind\n",
        1,
    )
    ruleset = load_ruleset(write_rules(tmp_path, text))
    record = build_return(
        BASE,
        {
            "total": "144.00",
            "refunds": [{"amount": "144.00"}],
            "return_items": [item("changed_mind", price="120.00"), item("changed_mind"), item("faulty")],
        },
    )
    for n, line in enumerate(record["return_items"]):
        line["id"] = f"item-{n + 1}"

    lines = {line.item_id: line.returned[0].ReturnReason for line in ruleset.draft(record).lines}

    assert lines == {"item-1": DataItem(ID="2"), "item-2": DataItem(ID="4"), "item-3": DataItem(ID="2")}


def test_each_rule_set_finds_with_its_own_rules(tmp_path: Path) -> None:
    # given: the demo rules, then the same rules with changed_mind sent as Khaos reason 3
    (tmp_path / "demo").mkdir()
    (tmp_path / "other").mkdir()
    demo = load_ruleset(write_rules(tmp_path / "demo", DEMO))
    changed = DEMO.replace(
        '  - reason: changed_mind\n    khaos_reason: "4"', '  - reason: changed_mind\n    khaos_reason: "3"'
    )
    assert changed != DEMO
    other = load_ruleset(write_rules(tmp_path / "other", changed))
    record = build_return(BASE, {"return_items": [item("changed_mind")]})

    # expect: each draft follows the rules it was loaded from, whichever ran first
    assert other.draft(record).lines[0].returned[0].ReturnReason == DataItem(ID="3")
    assert demo.draft(record).lines[0].returned[0].ReturnReason == DataItem(ID="4")
    assert other.draft(record).lines[0].returned[0].ReturnReason == DataItem(ID="3")


# --- an item's contract checks ------------------------------------------------------

GOOD_ITEM = {"id": "item-1", "quantity": 2, "price": "24.00", "total": "48.00", "sku": "TEE-BLK-M"}


def test_a_usual_item_has_no_finding() -> None:
    exchanged = GOOD_ITEM | {"exchange": {"sku": "TEE-BLK-L", "quantity": 2, "price": "24.00"}}

    assert _item_findings(0, GOOD_ITEM) == _item_findings(0, exchanged) == []


def test_an_id_with_a_control_character_is_found() -> None:
    # given: a tab and a zero-width space (neither a control character), and a NUL
    tabbed, zero_width, nul = (GOOD_ITEM | {"id": f"item{c}1"} for c in ("\t", "\u200b", "\x00"))

    assert _item_findings(0, tabbed) == _item_findings(0, zero_width) == []
    assert _item_findings(0, nul) == ["return_items[0].id is 'item\\x001': an id holds no control character"]


def test_an_item_gets_each_finding() -> None:
    # given: an amount the full checks read ("1." is 1) and two they refuse
    doubted = GOOD_ITEM | {"price": "1.", "total": "-48.00", "sku": " "}

    assert _item_findings(3, doubted) == [
        "return_items[3].total is '-48.00': an amount cannot be negative",
        "return_items[3].sku is ' ': an item needs its SKU to go to Khaos",
    ]


# --- refunds read typed -------------------------------------------------------------------------


def test_a_refund_in_another_currency_is_named_by_its_id_or_a_question_mark(tmp_path: Path) -> None:
    ruleset = load_ruleset(write_rules(tmp_path, DEMO))
    paid = {"method": "card", "status": "completed", "refunded_at": "2026-11-20T10:02:11Z"}
    record = build_return(BASE, {})
    record["refunds"] = [
        paid | {"id": "r-1", "amount": "14.00", "currency": "GBP"},
        paid | {"amount": "5.00", "currency": "EUR"},  # no id sent
        paid | {"id": None, "amount": "6.00", "currency": "EUR"},  # id sent as null
        paid | {"id": "r-4", "amount": "4.00", "currency": "EUR", "status": "pending"},  # not paid yet
        paid | {"id": "r-5", "currency": "USD"},  # no amount: nothing paid
    ]

    draft = ruleset.draft(record)

    foreign = [p for p in draft.problems if p.part == "refunds:EUR"]
    assert [p.message for p in foreign] == [
        "Reveni paid 5.00 EUR (refund ?), 6.00 EUR (refund None) on a GBP return: "
        "agree the amount in GBP before approving the credit"
    ]
    assert foreign[0].details["paid"] == "11.00"
    assert draft.refunded == Decimal("14.00")
    assert not [p for p in draft.problems if p.part.startswith("refunds:") and p.part != "refunds:EUR"]


# --- a template of one name, read without a render ------------------------------------------------


@given(name=st.sampled_from(["id", "refund_method", "refunded_amount", "status"]))
def test_a_template_of_one_name_writes_what_jinja_writes(name: str) -> None:
    env = environment()
    given_variables: dict[str, object] = {
        "id": "ret-1",
        "refund_method": None,
        "refunded_amount": Decimal("12.50"),
        "status": "accepted",
    }
    written = compile_text(env, f"{{{{ {name} }}}}")(given_variables)
    assert written == env.from_string(f"{{{{ {name} }}}}").render(**given_variables)
    assert written == {"id": "ret-1", "refund_method": "None", "refunded_amount": "12.50", "status": "accepted"}[name]


def test_a_template_of_one_name_the_return_lacks_fails_as_before() -> None:
    template = compile_text(environment(), "{{ refund_method }}")
    with pytest.raises(ValueError, match="'refund_method' is undefined in this return"):
        template({"id": "ret-1"})


# --- a filter without arguments on text, without the guard's and Jinja's calls --------------------


def outcome(function: Any, *args: Any) -> tuple[str, Any]:
    """What a call gives: its result, or the kind of error it raises."""
    try:
        return "result", function(*args)
    except Exception as error:  # the kind is what is compared
        return "error", type(error).__name__


@given(
    name=st.sampled_from(DIRECT_FILTERS),
    value=st.text(max_size=20)
    | st.sampled_from(["x" * (MAX_INPUT - 1), "X" * MAX_INPUT, " Cust0001@Example.COM\t", "ǅ ß İ"])
    | st.integers()
    | st.none()
    | st.just(Decimal("12.50"))
    | st.lists(st.text(max_size=3), max_size=3),
)
@example(name="lower", value="x" * (MAX_INPUT - 1))  # the longest text the guard lets through
@example(name="upper", value="x" * MAX_INPUT)  # one longer: refused
def test_a_filter_on_a_field_gives_what_the_guarded_jinja_filter_gives(name: str, value: Any) -> None:
    """Given any value (text either side of MAX_INPUT, numbers, None, a list), expect each filter
    read without Jinja to give what the guarded filter gives, or raise the same kind of error."""
    env = environment()
    node = env.parse(f"{{{{ v | {name} }}}}").body[0].nodes[0]  # type: ignore[attr-defined]
    reader = _direct(env, node)
    assert callable(reader)
    assert outcome(reader, {"v": value}) == outcome(env.filters[name], value)


def test_a_lowered_email_is_looked_up_as_jinja_looks_it_up() -> None:
    """Given the demo's URN template and a mixed-case email, expect the URN Jinja's render finds."""
    env = environment()
    source = "{{ customer.email | lower | lookup('customer_urns') }}"
    given_variables: dict[str, Any] = {
        "customer": {"email": " Cust0001@Example.COM"},
        "tables": {"customer_urns": {" cust0001@example.com": "CUST0001"}},
    }
    assert compile_text(env, source)(given_variables) == "CUST0001"
    assert env.from_string(source).render(**given_variables) == "CUST0001"


@pytest.mark.parametrize(
    "source", ["{{ true }}", "{{ false }}", "{{ 0 }}", "{{ 1 }}", "{{ '' }}", "{{ 'x' }}", "{{ none }}"]
)
def test_a_constant_condition_gives_what_jinja_gives_for_any_return(source: str) -> None:
    """Given a condition of one constant, expect Jinja's answer, whatever the return's variables."""
    env = environment()
    condition = compile_condition(env, source)
    expected = bool(env.compile_expression(source.strip("{} "))())
    assert condition({}) is expected
    assert condition({"refunded": True, "status": "accepted"}) is expected


@given(
    value=st.text(max_size=5)
    | st.integers()
    | st.booleans()
    | st.none()
    | st.just(Decimal("12.50"))
    | st.lists(st.integers(), max_size=3)
)
def test_a_template_of_several_parts_writes_what_jinja_writes_for_any_value(value: Any) -> None:
    """Given text around a field holding text, a number, true/false, None or a list, expect Jinja's text."""
    env = environment()
    source = "Return {{ id }}: {{ value }} ({{ value }})"
    given_variables: dict[str, Any] = {"id": "ret-1", "value": value}
    assert compile_text(env, source)(given_variables) == env.from_string(source).render(**given_variables).strip()
