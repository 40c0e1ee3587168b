"""The typed rules file (rules/rules_document.py) names exactly the keys the rules' JSON
Schema allows, and requires exactly those it requires, section by section: the two cannot drift."""

from __future__ import annotations

from typing import Any

import pytest
from target_khaos_control.rules import rules_document as doc
from target_khaos_control.rules.rules_schema import SCHEMA

# Each typed section and where the schema defines it.
SECTIONS: list[tuple[Any, tuple[str, ...]]] = [
    (doc.RulesDocument, ()),
    (doc.Khaos, ("khaos",)),
    (doc.KhaosReason, ("khaos", "return_reasons", "*")),
    (doc.TaxCode, ("khaos", "tax_codes", "*")),
    (doc.ReasonEntry, ("reasons", "[]")),
    (doc.Tax, ("tax",)),
    (doc.TaxRate, ("tax", "rates", "[]")),
    (doc.Skus, ("skus",)),
    (doc.References, ("references",)),
    (doc.Sequencing, ("sequencing",)),
    (doc.Deductions, ("deductions",)),
]


def _schema_at(path: tuple[str, ...]) -> dict[str, Any]:
    node: dict[str, Any] = SCHEMA
    for part in path:
        node = (
            node["items"] if part == "[]" else node["additionalProperties"] if part == "*" else node["properties"][part]
        )
    return node


@pytest.mark.parametrize(("typed", "path"), SECTIONS, ids=[typed.__name__ for typed, _ in SECTIONS])
def test_a_typed_section_has_the_schema_s_keys_and_requires_what_it_requires(typed: Any, path: tuple[str, ...]) -> None:
    schema = _schema_at(path)

    # Annotations are text here (`from __future__ import annotations`): NotRequired is read as written.
    required = {name for name, kind in typed.__annotations__.items() if "NotRequired[" not in str(kind)}

    assert set(typed.__annotations__) == set(schema["properties"])
    assert required == set(schema.get("required", []))
