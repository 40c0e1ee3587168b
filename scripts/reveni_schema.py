"""Writes tap-reveni's JSON schema of a Reveni return from the target's typed return.

`target_khaos_control/reveni.py` holds the one definition (msgspec Structs). The tap is a
package of its own (Meltano installs it alone) and may not import the target, so it ships
the schema as a file, `tap_reveni/return.schema.json`, written here in singer-sdk's own
conventions: every field nullable but the required ones, objects open to new fields, the
listed values with `null` among them, money by its pattern, timestamps as `date-time`.
`make schemas` runs this after the Structs change; tests/test_reveni_schema.py fails while
the committed file differs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec.inspect as mi
from target_khaos_control.reveni import STATUSES, TYPES, VERDICTS, Return

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_FILE = ROOT / "tap-reveni" / "tap_reveni" / "return.schema.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCALARS = {mi.StrType: "string", mi.IntType: "integer", mi.BoolType: "boolean"}
# msgspec sorts a Literal's values; the schema lists them in the spec's order (the status ladder).
IN_ORDER: dict[frozenset[Any], tuple[Any, ...]] = {frozenset(values): values for values in (TYPES, STATUSES, VERDICTS)}


def schema() -> dict[str, Any]:
    """The JSON schema of a Reveni return, as the tap sends it in its SCHEMA message."""
    found = _node(mi.type_info(Return), nullable=False)
    del found["additionalProperties"]  # singer-sdk says it of nested objects only
    return {**found, "$schema": DRAFT}


def _node(info: mi.Type, *, nullable: bool) -> dict[str, Any]:
    """One field's schema; `nullable` when null is allowed (every field Reveni may leave out)."""
    extra: dict[str, Any] = {}
    while isinstance(info, mi.Metadata | mi.UnionType):
        if isinstance(info, mi.Metadata):
            extra |= info.extra_json_schema or {}
            info = info.type
            continue
        kinds = [kind for kind in info.types if not isinstance(kind, mi.NoneType)]
        if len(kinds) != 1:
            raise ValueError(f"no Singer schema for a union of {kinds}: a field is one type, or null")
        nullable, info = nullable or len(kinds) < len(info.types), kinds[0]
    null = ["null"] if nullable else []
    if isinstance(info, mi.StructType):
        found: dict[str, Any] = {"type": ["object", *null] if nullable else "object"}
        found["properties"] = {field.name: _node(field.type, nullable=not field.required) for field in info.fields}
        required = [field.name for field in info.fields if field.required]
        found |= {"required": required} if required else {}
        found["additionalProperties"] = True  # Reveni may add fields: they pass through
    elif isinstance(info, mi.ListType):
        found = {"type": ["array", *null], "items": _node(info.item_type, nullable=False)}
    elif isinstance(info, mi.LiteralType):
        values = IN_ORDER.get(frozenset(info.values), info.values)
        found = {"type": ["string", *null], "enum": [*values, *([None] if nullable else [])]}
    elif type(info) in SCALARS:
        found = {"type": [SCALARS[type(info)], *null]}
        pattern = getattr(info, "pattern", None)
        if pattern and "format" not in extra:  # a format is checked as such, not by the target's pattern
            found["pattern"] = pattern
    else:
        raise ValueError(f"no Singer schema for {info!r}")
    return found | extra


def text() -> str:
    """The schema file's text, as committed."""
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    """`make schemas`: tap_reveni/return.schema.json from the target's typed return."""
    SCHEMA_FILE.write_text(text(), encoding="utf-8")
    print(f"{SCHEMA_FILE.relative_to(ROOT)} now matches target_khaos_control/reveni.py")


if __name__ == "__main__":
    main()
