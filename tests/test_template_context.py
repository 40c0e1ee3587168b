"""A rule template may name every field of a Reveni return, and nothing a return does not
have: the template context is walked from the typed return, and held here to the tap's
schema (the third copy of the same shape, written from it by `make schemas`)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from jinja2 import UndefinedError
from tap_reveni.schemas import RETURN as TAP_SCHEMA
from target_khaos_control.reveni import Return
from target_khaos_control.rules import templates
from target_khaos_control.rules.template_context import variables
from target_khaos_control.rules.template_limits import _weight

from tests.test_reveni_contract import VALID

ENV = templates.environment()
ITEM_SCHEMA = TAP_SCHEMA["properties"]["return_items"]["items"]


def _paths(schema: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every field a template can name: an object's fields nest, a list is looped over whole."""
    for name, inner in schema["properties"].items():
        yield (*prefix, name)
        if "properties" in inner:
            yield from _paths(inner, (*prefix, name))


def _claimed(context: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, inner in context.items():
        yield (*prefix, name)
        if isinstance(inner, dict):
            yield from _claimed(inner, (*prefix, name))


def _value(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for name in path:
        value = value[name]
    return value


RETURN_PATHS = sorted(_paths(TAP_SCHEMA))
ITEM_PATHS = sorted(_paths(ITEM_SCHEMA))


def test_the_schema_walk_finds_the_fields_the_issue_named() -> None:
    # given the fields the template context once lacked (issue 20)
    assert ("exchange_payments",) in RETURN_PATHS
    assert ("exchange", "price") in ITEM_PATHS
    assert len(RETURN_PATHS) == 29  # 15 fields; order 2, customer 5, its address 5, shipping 2
    assert len(ITEM_PATHS) == 20  # 14 fields, return_reason 2, exchange 4


@pytest.mark.parametrize("path", RETURN_PATHS, ids=".".join)
def test_every_field_of_the_return_is_readable_by_a_template(path: tuple[str, ...]) -> None:
    source = "{{ " + ".".join(path) + " }}"

    templates.check(ENV, source, templates.RETURN, set())
    written = templates.compile_text(ENV, source)(VALID)

    assert written == str(_value(VALID, path)).strip()


@pytest.mark.parametrize("path", ITEM_PATHS, ids=".".join)
def test_every_field_of_a_return_line_is_readable_by_a_reason_rule(path: tuple[str, ...]) -> None:
    source = "{{ item." + ".".join(path) + " }}"
    item = VALID["return_items"][0]

    templates.check(ENV, source, templates.WITH_ITEM, set())
    written = templates.compile_text(ENV, source)({**VALID, "item": item})

    assert written == str(_value(item, path)).strip()


def test_the_context_claims_the_returns_fields_and_only_the_engines_own_besides() -> None:
    worked_out = {("refunded",), ("refunded_amount",), ("every_line_accepted",), ("credited_amount",)}

    assert set(_claimed(templates.RETURN)) == set(RETURN_PATHS) | worked_out
    assert set(_claimed(templates.ITEM)) == set(ITEM_PATHS)
    assert set(_claimed(templates.WITH_ITEM)) == (
        set(RETURN_PATHS) | worked_out | {("item",)} | {("item", *path) for path in ITEM_PATHS}
    )


@pytest.mark.parametrize(
    ("source", "fields", "refused"),
    [
        ("{{ exchange_payment }}", templates.RETURN, "'exchange_payment' is not a field of the return"),
        ("{{ item.exchange.colour }}", templates.WITH_ITEM, "'item.exchange.colour' is not a field"),
        ("{{ item.sku }}", templates.RETURN, "'item' is not a field of the return"),
        ("{{ total.amount }}", templates.RETURN, "known here: nothing"),
    ],
)
def test_a_name_the_return_does_not_have_is_refused_at_load(source: str, fields: dict[str, Any], refused: str) -> None:
    with pytest.raises(templates.TemplateProblem, match=refused):
        templates.check(ENV, source, fields, set())


def test_a_template_loops_over_the_top_ups_and_reads_their_amounts() -> None:
    # given VALID's one exchange payment of 0.00, completed
    source = "{% for paid in exchange_payments %}{{ paid.status }} {{ paid.amount }}{% endfor %}"

    templates.check(ENV, source, templates.RETURN, set())

    assert templates.compile_text(ENV, source)(VALID) == "completed 0.00"


# --- the engine gives templates the typed return: they read it as they read the record ----------

TYPED = msgspec.convert(VALID, Return)
LEAVES = [path for path in RETURN_PATHS if not isinstance(_value(VALID, path), dict | list)]


@pytest.mark.parametrize("path", LEAVES, ids=".".join)
def test_each_field_renders_the_same_from_the_typed_return_as_from_the_record(path: tuple[str, ...]) -> None:
    direct = "{{ " + ".".join(path) + " }}"  # worked out without Jinja's render
    rendered = "{{ " + ".".join(path) + " ~ '' }}"  # through Jinja's sandbox

    for source in (direct, rendered):
        template = templates.compile_text(ENV, source)
        assert template(variables(TYPED)) == template(VALID) == str(_value(VALID, path)).strip()


def _left_out_and_null() -> dict[str, Any]:
    """VALID with its order's external id left out and its number sent as null."""
    record = copy.deepcopy(VALID)
    del record["order"]["external_id"]
    record["order"]["number"] = None
    return record


@pytest.mark.parametrize(
    ("source", "written"),
    [
        ("{{ order.number }}", "None"),
        ("{{ order.number ~ '' }}", "None"),
        ("{{ order.number | default('none given') }}", "None"),
        ("{{ order.external_id | default('none given') }}", "none given"),
        ("{% if order.number %}a number{% else %}no number{% endif %}", "no number"),
        (
            "{% for item in return_items %}{{ item.sku }} for {{ item.return_reason.code }}{% endfor %}",
            "TEE-BLK-M for size_too_small",
        ),
    ],
)
def test_a_null_field_reads_none_and_a_left_out_one_is_undefined_in_the_typed_return_as_in_the_record(
    source: str, written: str
) -> None:
    record = _left_out_and_null()
    template = templates.compile_text(ENV, source)

    assert template(variables(msgspec.convert(record, Return))) == template(record) == written


@pytest.mark.parametrize("source", ["{{ order.external_id }}", "{{ order.external_id ~ '' }}"])
def test_a_template_naming_a_field_reveni_left_out_fails_on_the_typed_return_as_on_the_record(source: str) -> None:
    record = _left_out_and_null()
    template = templates.compile_text(ENV, source)

    for given in (record, variables(msgspec.convert(record, Return))):
        with pytest.raises((ValueError, UndefinedError), match="external_id"):
            template(given)


def test_the_typed_return_weighs_at_least_what_its_record_did_against_the_limits() -> None:
    # given a bound far above either weight: each is counted whole
    assert _weight(TYPED, 10**6) >= _weight(VALID, 10**6) > 100
