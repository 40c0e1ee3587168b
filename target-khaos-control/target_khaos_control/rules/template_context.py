"""The fields of a Reveni return a rule template may read, walked from the typed return."""

from __future__ import annotations

from typing import Any, cast

import msgspec.inspect as mi
from msgspec import Struct

from target_khaos_control.reveni import Address, Return, ReturnItem


def fields(typed: type[Struct]) -> dict[str, Any]:
    """Each field of `typed` a template may name: a Struct's fields nest, anything else
    (text, a number, a list a template loops over) is a leaf, marked None."""
    struct = cast(mi.StructType, mi.type_info(typed))
    return {field.name: _fields(field.type) for field in struct.fields}


def _fields(info: mi.Type) -> Any:
    while isinstance(info, mi.Metadata | mi.UnionType):
        info = info.type if isinstance(info, mi.Metadata) else next(t for t in info.types if type(t) is not mi.NoneType)
    if isinstance(info, mi.StructType):
        return {field.name: _fields(field.type) for field in info.fields}
    return None


# Worked out by the engine for conditions (rules/engine.py); a return does not hold them.
WORKED_OUT = {"refunded": None, "refunded_amount": None, "every_line_accepted": None, "credited_amount": None}
ADDRESS = fields(Address)
ITEM = fields(ReturnItem)  # `item`, the return line, in reason rules only
RETURN: dict[str, Any] = {**fields(Return), **WORKED_OUT}
WITH_ITEM: dict[str, Any] = {**RETURN, "item": ITEM}
