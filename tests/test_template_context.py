"""A rule template may name every field of a Reveni return, and nothing a return does not
have: the template context is walked from the typed return, and held here to the tap's
schema (the third copy of the same shape, written from it by `make schemas`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tap_reveni.schemas import RETURN as TAP_SCHEMA
from target_khaos_control.rules import templates

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
