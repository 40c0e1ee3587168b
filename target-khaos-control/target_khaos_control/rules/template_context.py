"""The fields of a Reveni return a rule template may read, walked from the typed return,
and the variables a template is given for one return."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import TypeAlias, cast

import msgspec.inspect as mi
from msgspec import UNSET, Struct
from msgspec.structs import astuple

from target_khaos_control.reveni import Address, Return, ReturnItem
from target_khaos_control.rules.template_checks import Fields

# What a template reads: each name to its value (Jinja's context). The return's fields are
# typed values (Structs, lists of them, text); the engine's own are worked out figures.
Variables: TypeAlias = dict[str, object]


def fields(typed: type[Struct]) -> Fields:
    """Each field of `typed` a template may name: a Struct's fields nest, anything else
    (text, a number, a list a template loops over) is a leaf, marked None."""
    struct = cast(mi.StructType, mi.type_info(typed))
    return {field.name: _fields(field.type) for field in struct.fields}


def _fields(info: mi.Type) -> Fields | None:
    while isinstance(info, mi.Metadata | mi.UnionType):
        info = info.type if isinstance(info, mi.Metadata) else next(t for t in info.types if type(t) is not mi.NoneType)
    if isinstance(info, mi.StructType):
        return {field.name: _fields(field.type) for field in info.fields}
    return None


# Worked out by the engine for conditions (rules/engine.py); a return does not hold them.
WORKED_OUT: Fields = {"refunded": None, "refunded_amount": None, "every_line_accepted": None, "credited_amount": None}
ADDRESS = fields(Address)
ITEM = fields(ReturnItem)  # `item`, the return line, in reason rules only
RETURN: Fields = {**fields(Return), **WORKED_OUT}
WITH_ITEM: Fields = {**RETURN, "item": ITEM}

NAMES = Return.__struct_fields__


def variables(reveni_return: Return, names: tuple[str, ...] = NAMES) -> Variables:
    """The return's fields as a template reads them (those of `names`, every one by default):
    one Reveni left out is not there, so a template naming it fails (Jinja's StrictUndefined)
    just as a null one reads None."""
    values = astuple(reveni_return) if names is NAMES else [getattr(reveni_return, name) for name in names]
    return {name: value for name, value in zip(names, values, strict=True) if value is not UNSET}


def variables_of(names: tuple[str, ...]) -> Callable[[Return], Variables]:
    """`variables` for these `names`, made once: their values read in one call (a rule set's, per return)."""
    if len(names) < 2:  # itemgetter's one value is no tuple: read as `variables` reads it
        return lambda reveni_return: variables(reveni_return, names)
    read = attrgetter(*names)

    def of(reveni_return: Return) -> Variables:
        values = read(reveni_return)
        if UNSET in values:  # a field Reveni left out: not there
            return {name: value for name, value in zip(names, values, strict=True) if value is not UNSET}
        return dict(zip(names, values, strict=False))  # one value per name (attrgetter's): not checked again

    return of


def read_by(names: Iterable[str]) -> tuple[str, ...]:
    """The fields of a return among `names` (what a rule set's templates name), in the return's order."""
    named = set(names)
    return tuple(name for name in NAMES if name in named)
