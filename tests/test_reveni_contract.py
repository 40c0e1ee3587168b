"""Every break of tap-reveni's schema becomes an `invalid_record` naming the field.

The yardstick is jsonschema itself, with its `date-time` format checked, on the schema
tap-reveni sends: each generated record is judged by both, and they must agree. The
target's verdict is the demo rule set's draft, run in process.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import jsonschema
import msgspec
import msgspec.inspect
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tap_reveni.schemas import RETURN
from target_khaos_control.reveni import Return, breaks
from target_khaos_control.rules import load_ruleset

from tests.servers import DEMO_RULES

SCHEMA = RETURN
JUDGE = jsonschema.validators.validator_for(SCHEMA)(SCHEMA, format_checker=jsonschema.FormatChecker())
RULES = load_ruleset(DEMO_RULES)

VALID: dict[str, Any] = {
    "id": "ret-1",
    "order": {"external_id": "5123400056", "number": "#10008"},
    "customer": {
        "id": "c-1",
        "email": "cust0001@example.com",
        "first_name": "Ana",
        "last_name": "Ruiz",
        "address": {"line1": "12 High St", "line2": "", "city": "Leeds", "postcode": "LS1 4AP", "country_code": "GB"},
    },
    "type": "refund",
    "instant": False,
    "status": "received",
    "refund_method": "bank_transfer",
    "currency": "GBP",
    "total": "24.00",
    "return_items": [
        {
            "id": "item-0",
            "sku": "TEE-BLK-M",
            "ean": "5056000000017",
            "name": "Logo tee",
            "quantity": 1,
            "price": "24.00",
            "tax_rate": "20.00",
            "tax": "4.00",
            "total": "24.00",
            "return_reason": {"code": "size_too_small", "label": "Too small"},
            "exchange": {"sku": "TEE-BLK-L", "ean": "5056000000024", "quantity": 1, "price": "24.00"},
            "status": "accepted",
            "reject_reason": None,
            "reject_reason_text": None,
        }
    ],
    "refunds": [
        {
            "id": "r-1",
            "method": "bank_transfer",
            "amount": "24.00",
            "currency": "GBP",
            "status": "completed",
            "refunded_at": "2026-11-20T10:00:00Z",
        }
    ],
    "exchange_payments": [
        {"id": "p-1", "amount": "0.00", "currency": "GBP", "status": "completed", "paid_at": "2026-11-20T10:00:00Z"}
    ],
    "shipping": {"carrier": "Evri", "tracking_number": "H1"},
    "created_at": "2026-11-18T09:12:44Z",
    "updated_at": "2026-11-20T10:00:00Z",
}

Path_ = tuple[str | int, ...]
OTHER_TYPES: dict[str, list[Any]] = {  # a value of every JSON type but the one named
    "string": [7, Decimal("24.00"), True, ["a"], {"a": "b"}],
    "integer": ["1", Decimal("1.5"), True, [1], {"n": 1}],
    "boolean": ["yes", 1, Decimal("0.0"), [True], {}],
    "object": ["{}", 1, True, [{}]],
    "array": ["[]", 1, True, {"0": {}}],
}
BAD_PATTERN = ["24,00", "1e5", "£24", " 24.00", "24.", ".5", "٢٤"]
BAD_FORMAT = [
    "yesterday",
    "2026-13-01T00:00:00Z",
    "2026-02-30T10:00:00Z",
    "2026-11-20 10:00:00Z",
    "2026-11-20T10:00:00",
    "2026-11-20T24:00:00Z",
    "2026-11-20T10:00:00+1:00",
    "0000-01-01T00:00:00Z",
]
BAD_ENUM = ["Refund", "unknown", ""]


def _leaves(schema: dict[str, Any], path: Path_ = ()) -> Iterator[tuple[Path_, dict[str, Any]]]:
    yield path, schema
    for name, inner in (schema.get("properties") or {}).items():
        yield from _leaves(inner, (*path, name))
    if "items" in schema:
        yield from _leaves(schema["items"], (*path, 0))


def _with(path: Path_, value: Any, *, delete: bool = False) -> dict[str, Any]:
    record = copy.deepcopy(VALID)
    holder: Any = record
    for part in path[:-1]:
        holder = holder[part]
    if delete:
        del holder[path[-1]]
    else:
        holder[path[-1]] = value
    return record


def _field(path: Path_) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")


def _breaks_of_every_kind() -> Iterator[tuple[str, Path_, dict[str, Any]]]:
    for path, spec in _leaves(SCHEMA):
        if not path:
            continue
        types = spec.get("type") or []
        kinds = [t for t in (types if isinstance(types, list) else [types]) if t != "null"]
        shape = "shape" if kinds and kinds[0] in ("object", "array") else "type"
        for value in OTHER_TYPES.get(kinds[0], []) if kinds else []:
            yield shape, path, _with(path, value)
        if "null" not in types and "enum" not in spec:
            yield "type", path, _with(path, None)
        if "pattern" in spec:
            yield from (("pattern", path, _with(path, value)) for value in BAD_PATTERN)
        if spec.get("format") == "date-time":
            yield from (("format", path, _with(path, value)) for value in BAD_FORMAT)
        if "enum" in spec:
            yield from (("enum", path, _with(path, value)) for value in BAD_ENUM)
    for path in (("id",), ("updated_at",), ("return_items", 0, "id")):
        yield "required", path, _with(path, None, delete=True)


BREAKS = list(_breaks_of_every_kind())


def test_the_valid_record_is_valid_to_both_and_becomes_a_document() -> None:
    assert JUDGE.is_valid(VALID)
    assert breaks(VALID) is None
    draft = RULES.draft(copy.deepcopy(VALID))
    assert [p.kind for p in draft.problems if p.kind == "invalid_record"] == []
    assert [line.item_id for line in draft.lines] == ["item-0"]


def test_every_kind_of_break_is_generated() -> None:
    assert {kind for kind, _, _ in BREAKS} == {"type", "pattern", "format", "required", "enum", "shape"}
    assert len(BREAKS) > 250


@pytest.mark.parametrize("kind", ["type", "pattern", "format", "required", "enum", "shape"])
def test_every_break_jsonschema_finds_is_an_invalid_record_naming_its_field(kind: str) -> None:
    for found_kind, path, record in BREAKS:
        if found_kind != kind:
            continue
        assert not JUDGE.is_valid(record), (path, record)  # the yardstick agrees it is a break
        found = breaks(record)
        assert found is not None, f"{_field(path)}: jsonschema refuses, the check passes it"
        assert found.startswith(_field(path)), (found, path)
        draft = RULES.draft(record)
        assert [p.kind for p in draft.problems] == ["invalid_record"], (path, draft.problems)
        assert _field(path) in draft.problems[0].message
        assert draft.lines == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.decimals(allow_nan=False, places=2),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2),
    max_leaves=4,
)
PATHS = [path for path, _ in _leaves(SCHEMA) if path]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(PATHS),
    JSON | st.sampled_from(BAD_FORMAT + BAD_PATTERN + ["2026-11-20t10:00:00.5z", "2026-11-20T10:00:00.5+01:00"]),
)
def test_on_any_value_anywhere_the_check_agrees_with_jsonschema(path: Path_, value: Any) -> None:
    record = _with(path, value)

    valid = JUDGE.is_valid(record)

    assert (breaks(record) is None) == valid, (path, value, breaks(record))
    if not valid:
        assert any(p.kind == "invalid_record" for p in RULES.draft(record).problems)


def _struct_shape(info: msgspec.inspect.Type) -> Any:
    if isinstance(info, msgspec.inspect.Metadata):  # a field's description
        return _struct_shape(info.type)
    if isinstance(info, msgspec.inspect.UnionType):
        [info] = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
    if isinstance(info, msgspec.inspect.StructType):
        return {f.name: _struct_shape(f.type) for f in info.fields}
    if isinstance(info, msgspec.inspect.ListType):
        return [_struct_shape(info.item_type)]
    if isinstance(info, msgspec.inspect.LiteralType):
        return set(info.values)
    return "value"


def _schema_shape(spec: dict[str, Any]) -> Any:
    if "properties" in spec:
        return {name: _schema_shape(inner) for name, inner in spec["properties"].items()}
    if "items" in spec:
        return [_schema_shape(spec["items"])]
    if "enum" in spec:
        return {value for value in spec["enum"] if value is not None}
    return "value"


def test_the_typed_return_has_the_tap_schemas_every_field_and_listed_value() -> None:
    assert _struct_shape(msgspec.inspect.type_info(Return)) == _schema_shape(SCHEMA)
