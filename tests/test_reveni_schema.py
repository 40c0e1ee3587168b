"""A Reveni return defined once: tap-reveni's schema file is what `make schemas` writes from
the target's typed return, and the tap sends exactly that file."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import msgspec.inspect
import pytest
from msgspec import Meta, Struct
from tap_reveni.schemas import RETURN
from tap_reveni.streams import ReturnsStream

from scripts import reveni_schema
from scripts.reveni_schema import SCHEMA_FILE, schema, text
from tests.reveni_spec import STATUSES

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_schema_file_is_what_make_schemas_writes() -> None:
    assert SCHEMA_FILE == ROOT / "tap-reveni" / "tap_reveni" / "return.schema.json"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == text(), "run `make schemas`"


def test_the_tap_sends_the_schema_file() -> None:
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == RETURN
    assert ReturnsStream.schema == RETURN
    # in the spec's order, as the shipped catalog lists the fields (Meltano's metadata follows it)
    catalog = json.loads((ROOT / "tap-reveni" / "catalog.json").read_text(encoding="utf-8"))
    assert list(RETURN["properties"]) == list(catalog["streams"][0]["schema"]["properties"])
    names = list(RETURN["properties"])
    assert (names[0], names[-1]) == ("id", "updated_at")


def test_the_tap_does_not_import_the_target() -> None:
    # given the tap's sources: Meltano installs the tap in a virtualenv of its own
    sources = (ROOT / "tap-reveni" / "tap_reveni").glob("*.py")

    importing = re.compile(r"^\s*(from|import) target_khaos_control", re.MULTILINE)

    assert [path.name for path in sources if importing.search(path.read_text(encoding="utf-8"))] == []


def test_the_schema_says_what_singer_sdk_says_of_each_kind_of_field() -> None:
    found = schema()

    # the return: required fields are never null, the rest may be; objects stay open
    assert found["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert found["type"] == "object"
    assert found["required"] == ["id", "updated_at"]
    assert found["properties"]["id"] == {"type": ["string"]}
    assert found["properties"]["updated_at"] == {"type": ["string"], "format": "date-time"}
    assert found["properties"]["created_at"] == {"type": ["string", "null"], "format": "date-time"}
    assert found["properties"]["instant"] == {
        "type": ["boolean", "null"],
        "description": "Refunded before the goods are back",
    }
    assert found["properties"]["total"] == {"type": ["string", "null"], "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}
    # listed values in the spec's order, the status ladder, with null among them
    assert found["properties"]["status"]["enum"] == [*STATUSES, None]
    items = found["properties"]["return_items"]
    assert items["type"] == ["array", "null"]
    assert items["items"]["type"] == "object"
    assert items["items"]["required"] == ["id"]
    assert items["items"]["additionalProperties"] is True
    exchange = items["items"]["properties"]["exchange"]
    assert exchange["type"] == ["object", "null"]
    assert exchange["description"] == "The item the customer takes instead; null for a refund"
    assert exchange["properties"]["quantity"] == {"type": ["integer", "null"]}
    assert "paid_at" in found["properties"]["exchange_payments"]["items"]["properties"]


class _Two(Struct):
    amount: Annotated[str, Meta(pattern="^[0-9]+$")] | int | None = None


class _Float(Struct):
    rate: float | None = None


@pytest.mark.parametrize(("typed", "refused"), [(_Two, "a union of"), (_Float, "FloatType")])
def test_a_field_the_tap_could_not_describe_is_refused_by_its_type(typed: type[Struct], refused: str) -> None:
    # given a Struct field of two types (text or a number), or a float (money never is one)
    info = msgspec.inspect.type_info(typed)

    with pytest.raises(ValueError, match=refused):
        reveni_schema._node(info, nullable=False)
