"""The header and run side of a draft take shortcuts that give exactly what the full way
gives: variables holding only the fields the rule set's templates name (read at once),
refunds read typed, Khaos's lengths fitted only where a field is too long."""

from __future__ import annotations

import copy
import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from target_khaos_control.documents import Draft, Line, Problem
from target_khaos_control.exception_kinds import Kind
from target_khaos_control.item_outcomes import UNGRADED, skipped, ungraded_items, waiting_items, waits_on
from target_khaos_control.khaos_documents import (
    Address,
    Contact,
    DataItem,
    ExchangeItem,
    ItemMapping,
    ReturnedItem,
    too_long,
)
from target_khaos_control.refunded import completed
from target_khaos_control.reveni import Return
from target_khaos_control.rules import load_ruleset
from target_khaos_control.rules.catalogue import Catalogue
from target_khaos_control.rules.engine import _Evaluation
from target_khaos_control.rules.golden import build_return
from target_khaos_control.rules.refund_check import _waiting_and_ungraded
from target_khaos_control.rules.template_context import NAMES, variables, variables_of
from target_khaos_control.rules.validation import checked

from tests.rulesets import write_rules
from tests.servers import DEMO_RULES

DEMO = (DEMO_RULES / "rules.yml").read_text()
BASE = yaml.safe_load((DEMO_RULES / "tests" / "base.yaml").read_text())
DEMO_NOTES = '  notes: "Reveni return {{ id }} for order {{ order.number }}, refund by {{ refund_method }}"\n'


# --- each return's variables hold the fields the templates name --------------------------------


def test_the_demo_rule_sets_variables_hold_the_fields_its_templates_name() -> None:
    # given the demo's urn (customer), source_order (order) and notes (id, order, refund_method)
    ruleset = load_ruleset(DEMO_RULES)

    assert ruleset.template_fields == ("id", "order", "customer", "refund_method")
    assert set(variables(checked(BASE), ruleset.template_fields)) == {"id", "order", "customer", "refund_method"}  # type: ignore[arg-type]


def test_a_field_named_only_in_a_reason_rules_condition_or_a_loop_is_given_to_the_templates(tmp_path: Path) -> None:
    # given notes reading the shipping carrier inside a loop over the items, and a condition on the customer's town
    assert DEMO_NOTES in DEMO
    text = DEMO.replace(
        DEMO_NOTES,
        '  notes: "{% for line in return_items %}{{ line.sku }} {% endfor %}by {{ shipping.carrier }}"\n',
    ).replace(
        "\nreasons:\n",
        "\nreasons:\n  - reason: size_too_small\n    when: \"{{ customer.address.city == 'Leeds' and instant }}\"\n"
        '    khaos_reason: "2"\n    disposition: quarantine\n',
        1,
    )
    ruleset = load_ruleset(write_rules(tmp_path, text))

    draft = ruleset.draft(build_return(BASE, {"instant": True}))

    assert set(ruleset.template_fields) == {"order", "customer", "return_items", "shipping", "instant"}
    assert draft.header is not None
    assert draft.header.Notes == "TEE-BLK-M by Evri"
    assert draft.dispositions == {"item-1": ("2", "quarantine")}


def test_a_rule_set_loaded_again_after_its_notes_changed_reads_the_field_they_name_now(tmp_path: Path) -> None:
    # given the demo's rules, then the same rules with notes naming the shipping carrier
    before = load_ruleset(write_rules(tmp_path, DEMO))
    after = load_ruleset(write_rules(tmp_path, DEMO.replace(DEMO_NOTES, '  notes: "by {{ shipping.carrier }}"\n')))

    draft = after.draft(build_return(BASE, {}))

    assert "shipping" not in before.template_fields
    assert after.template_fields == ("order", "customer", "shipping")
    assert draft.header is not None
    assert draft.header.Notes == "by Evri"


def test_every_field_is_given_by_default_and_one_reveni_left_out_never() -> None:
    # given a return without its shipping (left out, as its exchange payments are) and with a null refund method
    record = {k: v for k, v in BASE.items() if k != "shipping"} | {"refund_method": None}
    typed = msgspec.convert(record, Return)

    given = variables(typed)
    named = variables(typed, ("order", "refund_method", "shipping"))

    assert set(given) == set(NAMES) - {"shipping", "exchange_payments"}
    assert named == {"order": typed.order, "refund_method": None}


# --- refunds read typed -----------------------------------------------------------------------


MOVEMENTS: list[dict[str, Any]] = [
    {"id": "r-1", "amount": "24.00", "currency": "GBP", "status": "completed"},
    {"id": "r-2", "amount": "-1.5", "status": "completed"},  # no currency: the return's
    {"id": "r-3", "amount": None, "currency": "GBP", "status": "completed"},  # no amount: not counted
    {"id": "r-4", "currency": "GBP", "status": "completed"},  # amount left out
    {"id": "r-5", "amount": "3.00", "currency": "GBP", "status": "pending"},
    {"id": "r-6", "amount": "7", "currency": "GBP"},  # status left out
    {"id": "r-7", "amount": "12.345", "currency": "GBP", "status": None},
]


@pytest.mark.parametrize("key", ["refunds", "exchange_payments"])
def test_the_completed_movements_read_typed_are_those_read_from_the_record(key: str) -> None:
    record = copy.deepcopy(BASE) | {key: copy.deepcopy(MOVEMENTS)}
    if key == "exchange_payments":
        for movement in record[key]:
            movement.pop("method", None)
    typed = checked(record)
    assert isinstance(typed, Return)
    evaluation = _Evaluation(load_ruleset(DEMO_RULES), typed, Catalogue.empty(), Draft("ret-1", currency="GBP"))

    found = evaluation._completed(key)

    # expect: r-1 and r-2, as `refunded.completed` finds them in the record
    assert [m.id for m in found] == [m["id"] for m in completed(record, key)] == ["r-1", "r-2"]


@pytest.mark.parametrize(
    "names",
    [(), ("shipping",), ("order",), ("id", "order", "shipping"), NAMES],
    ids=["none", "left out", "one", "some", "all"],
)
def test_the_fields_read_at_once_are_those_variables_gives(names: tuple[str, ...]) -> None:
    # given a return whose shipping (and exchange payments) Reveni left out, its refund method sent as null
    record = {k: v for k, v in BASE.items() if k != "shipping"} | {"refund_method": None}
    typed = msgspec.convert(record, Return)

    assert variables_of(names)(typed) == variables(typed, names)
    assert list(variables_of(names)(typed)) == [n for n in names if n not in ("shipping", "exchange_payments")]


# --- Khaos's lengths: the header fits only what is too long -----------------------------------------


def test_a_name_one_past_its_limit_is_too_long_and_one_at_it_is_not() -> None:
    assert too_long(Contact(Forename="F" * 50, Surname="S" * 51)) == [("Surname", 50)]
    assert too_long(Address(Line1="1" * 35, Town="T" * 35, Country=DataItem(Code="GB"), Postcode="P" * 10)) == []


def test_an_over_long_surname_is_cut_with_its_exception_and_the_rest_of_the_header_is_untouched() -> None:
    ruleset = load_ruleset(DEMO_RULES)  # field_lengths: cut

    draft = ruleset.draft(build_return(BASE, {"customer": {"last_name": "R" * 51}}))

    assert draft.header is not None
    assert draft.header.InvoiceContact.Surname == "R" * 50
    assert draft.header.InvoiceContact.Forename == "Ana"
    assert draft.header.InvoiceAddress.Line1 == "12 High Street"
    assert [(p.kind, p.part, p.details["length"]) for p in draft.problems] == [
        ("field_too_long", "InvoiceContact.Surname", 51)
    ]


# --- a Problem made by one update of its dict is the frozen dataclass it always was ---------------


def test_a_problem_is_equal_hashed_replaced_and_frozen_as_a_frozen_dataclass() -> None:
    # given two problems alike but for their details, made by position and by name
    first = Problem(Kind.REFUND_CREDIT_DIFFERENCE, "finance", "Reveni refunded 10.00 GBP", "", "high", {"a": 1})
    second = Problem(Kind.REFUND_CREDIT_DIFFERENCE, owner="finance", message="Reveni refunded 10.00 GBP")

    assert first == second  # details are not compared
    assert hash(first) == hash(second)
    assert (second.item_id, second.severity, second.details, second.hold, second.part) == ("", "high", {}, None, "")
    changed = dataclasses.replace(first, message="joined")
    assert (changed.message, changed.details, changed.kind) == ("joined", {"a": 1}, Kind.REFUND_CREDIT_DIFFERENCE)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.message = "changed"  # type: ignore[misc]
    assert repr(second) == (
        "Problem(kind=<Kind.REFUND_CREDIT_DIFFERENCE: 'refund_credit_difference'>, owner='finance', "
        "message='Reveni refunded 10.00 GBP', item_id='', severity='high', details={}, hold=None, part='')"
    )


def test_problems_made_without_details_never_share_them() -> None:
    # given two problems without details, one then given an order number (as `_detailed` does)
    first = Problem(Kind.CUSTOMER_NOT_FOUND, "cx", "no URN")
    second = Problem(Kind.CUSTOMER_NOT_FOUND, "cx", "no URN")

    first.details.setdefault("order_number", "1001")

    assert second.details == {}


# --- settled, and the refund's advice, read from the outcomes ---------------------------------------


@pytest.mark.parametrize(
    ("items", "settled"),
    [
        ([{"status": "accepted"}, {"status": "rejected", "reject_reason": "used"}], True),
        ([{"status": "accepted"}, {"return_reason": {"code": "no_rule_for_this", "label": "Unmapped"}}], False),
        ([{"status": "accepted"}, {"status": "pending"}], False),
    ],
    ids=["all graded", "one waits on an exception", "one not graded"],
)
def test_a_return_is_settled_once_every_item_is_graded_and_none_waits(
    items: list[dict[str, Any]], settled: bool
) -> None:
    draft = load_ruleset(DEMO_RULES).draft(build_return(BASE, {"return_items": items}))

    assert draft.settled is settled


def test_an_unrefunded_return_with_an_ungraded_item_and_none_waiting_is_advised_to_wait_for_the_grade() -> None:
    # given no refund yet, one accepted item and one the warehouse has not graded (credited only once refunded)
    record = build_return(BASE, {"refunds": [], "return_items": [{"status": "accepted"}, {"status": "pending"}]})

    draft = load_ruleset(DEMO_RULES).draft(record)

    difference = next(p for p in draft.problems if p.kind is Kind.REFUND_CREDIT_DIFFERENCE)
    assert difference.message.endswith(
        "1 item(s) are not graded by the warehouse yet; their credit follows once they are."
    )
    assert difference.details == {
        "currency": "GBP",
        "refunded": "0.00",
        "credited": "24.00",
        "difference": "-24.00",
        "order_number": "#10008",
        "source_order": {"AssociatedRef": "5123400056"},
    }


def test_completed_movements_in_other_currencies_are_kept_apart_one_exception_each_in_the_order_first_paid() -> None:
    # given refunds in GBP (the return's), EUR, USD and EUR again, and a pending one in USD
    record = copy.deepcopy(BASE) | {
        "refunds": [
            {"id": "r-1", "amount": "10.00", "currency": "GBP", "status": "completed"},
            {"id": "r-2", "amount": "5.00", "currency": "EUR", "status": "completed"},
            {"id": "r-3", "amount": "7.50", "currency": "USD", "status": "completed"},
            {"id": "r-4", "amount": "2.25", "currency": "EUR", "status": "completed"},
            {"id": "r-5", "amount": "1.00", "currency": "USD", "status": "pending"},
            {"id": "r-6", "amount": "3.00", "status": "completed"},  # no currency: the return's
        ]
    }
    typed = checked(record)
    assert isinstance(typed, Return)
    evaluation = _Evaluation(load_ruleset(DEMO_RULES), typed, Catalogue.empty(), Draft("ret-1", currency="GBP"))

    found = evaluation._completed("refunds")

    assert [m.id for m in found] == ["r-1", "r-6"]
    assert [(p.part, p.details["paid"]) for p in evaluation.draft.problems] == [
        ("refunds:EUR", "7.25"),
        ("refunds:USD", "7.50"),
    ]
    assert evaluation.foreign == {"EUR": Decimal("7.25"), "USD": Decimal("7.50")}


# --- a document's items and ProcessReturn, read from its lines in one pass --------------------------


def _returned(sku: str) -> ReturnedItem:
    return ReturnedItem(SKU=sku, Mapping=[ItemMapping(Mapping="StockCode")], Quantity=1, ReturnReason=DataItem(ID="1"))


def test_a_document_holds_its_lines_items_in_order_and_is_processed_only_when_every_line_was_accepted() -> None:
    # given a processed draft and three lines: two returned items (accepted), one exchanged (accepted), one not graded
    draft = load_ruleset(DEMO_RULES).draft(build_return(BASE, {}))
    assert draft.process
    first = Line("item-1", [_returned("A-1"), _returned("A-2")], [], accepted=True, credit=Decimal("20.00"))
    swap = ExchangeItem(SKU="C-1", Mapping=[ItemMapping(Mapping="StockCode")], Quantity=1)
    second = Line("item-2", [_returned("B-1")], [swap], accepted=True, credit=Decimal("0.00"))
    third = Line("item-3", [_returned("D-1")], [], accepted=False, credit=Decimal("5.00"))

    whole = draft.document("RV-1", [first, second, third])
    accepted = draft.document("RV-1-2", [first, second])

    assert [item.SKU for item in whole.ReturnedItems] == ["A-1", "A-2", "B-1", "D-1"]
    assert whole.ExchangeItems == [swap]
    assert (whole.AssociatedRef, whole.ProcessReturn) == ("RV-1", False)
    assert (accepted.AssociatedRef, accepted.ProcessReturn) == ("RV-1-2", True)
    assert b"ExchangeItems" not in msgspec.json.encode(draft.document("RV-1", [first]))
    draft.process = False
    assert draft.document("RV-1-2", [first, second]).ProcessReturn is False
    draft.lines = [first, second, third]
    assert str(draft.credit) == "25.00"  # 20.00 + 0.00 + 5.00
    draft.lines = [Line("item-9", [], [], accepted=True, credit=Decimal("1.5"))]
    assert str(draft.credit) == "1.50"  # added to 0.00: in pennies


@given(
    st.lists(
        st.sampled_from(["line", UNGRADED, skipped("rejected"), skipped("received")])
        | st.sampled_from(list(Kind)).map(waits_on),
        max_size=8,
    )
)
def test_the_items_waiting_and_ungraded_are_counted_as_item_outcomes_counts_them(outcomes: list[str]) -> None:
    """Given any outcomes a draft makes, expect the counts `waiting_items` and `ungraded_items` give."""
    assert _waiting_and_ungraded(outcomes) == (waiting_items(outcomes), ungraded_items(outcomes))
