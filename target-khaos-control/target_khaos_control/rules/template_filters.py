"""The filters a rule template may use, each bounded in what it reads and makes."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from jinja2 import pass_context, pass_eval_context
from jinja2.filters import do_join, do_replace
from jinja2.nodes import EvalContext
from jinja2.runtime import Context

from target_khaos_control.rules.template_context import Variables
from target_khaos_control.rules.template_limits import (
    MAX_INPUT,
    MAX_OUTPUT,
    MAX_TEXT,
    TemplateLimit,
    _check_size,
    _weight,
)


@pass_eval_context
def _replace(eval_ctx: EvalContext, value: Any, old: Any, new: Any, count: int | None = None) -> Any:
    text = str(value)
    times = text.count(str(old)) if old else len(text) + 1
    if count is not None and count >= 0:
        times = min(times, count)
    if len(text) + times * len(str(new)) > MAX_TEXT:
        raise TemplateLimit(f"`replace` would make more than {MAX_TEXT} characters")
    return do_replace(eval_ctx, text, old, new, count)


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Any, d: str = "", attribute: str | None = None) -> str:
    items = list(value)
    if len(str(d)) * max(len(items) - 1, 0) > MAX_TEXT:
        raise TemplateLimit(f"`join` would make more than {MAX_TEXT} characters")
    result = str(do_join(eval_ctx, items, d, attribute))
    _check_size(result)
    return result


def _guarded(function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that refuses to read more than MAX_INPUT."""

    @functools.wraps(function)  # keeps Jinja's pass_context marks
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs and type(args[0]) is str:  # a field's text: it weighs its length
            if len(args[0]) + 1 > MAX_INPUT:  # as `_weight` counts it: the list of arguments weighs one
                raise TemplateLimit(f"a filter was given more than {MAX_INPUT} characters or items")
            return function(*args)
        if _weight([*args, *kwargs.values()], MAX_INPUT) > MAX_INPUT:
            raise TemplateLimit(f"a filter was given more than {MAX_INPUT} characters or items")
        return function(*args, **kwargs)

    return guarded


def _finalize(value: Any) -> Any:
    """What each `{{ ... }}` writes, measured before it is turned into text."""
    if (len(value) if isinstance(value, str) else _weight(value, MAX_OUTPUT)) > MAX_OUTPUT:
        raise TemplateLimit(f"it wrote more than {MAX_OUTPUT} characters")
    return value


def to_decimal(value: Any) -> Decimal:
    """The `decimal` filter: a value as an exact Decimal, or an error saying it is not a number."""
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None


def money(value: Any) -> Decimal:
    """The `money` filter: a value to the penny, half up."""
    return to_decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pass_context
def lookup(context: Context, value: Any, table: str, default: Any = None) -> Any:
    """`value | lookup('table')`: the table's entry for `value`, or `default` (None)."""
    tables = context.get("tables") or {}
    if table not in tables:
        raise ValueError(f"no table named {table!r}")
    return tables[table].get(str(value), default)


def _lookup(variables: Variables, value: Any, table: str) -> Any:
    """The `lookup` filter, for a template rendered without Jinja."""
    # Text and a table's name weigh their lengths (and one for the pair), counted without `_weight`.
    plain = type(value) is str and type(table) is str
    if (len(value) + len(table) + 1 if plain else _weight([value, table], MAX_INPUT)) > MAX_INPUT:
        raise TemplateLimit(f"a filter was given more than {MAX_INPUT} characters or items")
    tables = variables.get("tables")  # the rule set's lookup tables, each key to its text
    # A dict, as the engine gives them: known a Mapping without the ABC's slower isinstance.
    if not (type(tables) is dict or isinstance(tables, Mapping)) or table not in tables:
        raise ValueError(f"no table named {table!r}")
    return tables[table].get(str(value))
