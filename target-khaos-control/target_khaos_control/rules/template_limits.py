"""The size limits every rule template runs under, and the bounded operators that keep them.

A rule file may be wrong or hostile: what a template makes (text, lists, numbers) is
measured, and an operator that would pass a limit is refused before it is worked out.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from jinja2.exceptions import SecurityError
from msgspec import Struct

MAX_SOURCE = 10_000  # characters in one template
MAX_TEXT = 10_000  # characters in a string, or items in a list, that a template makes
MAX_INPUT = 1_000_000  # characters (and items) a filter may read: a whole return fits
MAX_DIGITS = 100  # digits in a number a template makes
MAX_LOOP = 1_000  # turns of all loops in one render together
MAX_OUTPUT = 100_000  # characters one render writes
MAX_DEPTH = 40  # nodes inside one another (`not not ...`, `((...))`, `{% if %}` in `{% if %}`)


class TemplateLimit(SecurityError):
    """A template went past one of the limits above."""


BINOPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "*": operator.mul,
    "**": operator.pow,
    "%": operator.mod,
}


def bounded_binop(op: str, left: Any, right: Any) -> Any:
    """`left op right`, refused before it is worked out if its result would pass a limit."""
    sized = (str, list, tuple)
    if op == "%" and isinstance(left, str):
        raise TemplateLimit("`%` formats text, which templates may not do; use `~` to join text")
    if op == "*" and isinstance(right, sized) and isinstance(left, int):
        left, right = right, left
    if op == "*" and isinstance(left, sized) and isinstance(right, int) and _weight(left, MAX_TEXT) * right > MAX_TEXT:
        size = _weight(left, MAX_TEXT) * right
        raise TemplateLimit(f"it would make {size} characters or items; the limit is {MAX_TEXT}")
    if op == "**" and _is_number(left) and _is_number(right) and left != 0:
        digits = _digits_of_power(left, right)
        if digits > MAX_DIGITS:
            raise TemplateLimit(f"`{left} ** {right}` would have about {digits:.0f} digits; the limit is {MAX_DIGITS}")
    result = BINOPS[op](left, right)
    _check_size(result)
    return result


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal)


def _digits_of_power(base: Any, exponent: Any) -> float:
    """About how many digits `base ** exponent` has (or how many places after the point)."""
    try:
        magnitude = float(abs(base).log10()) if isinstance(base, Decimal) else math.log10(abs(base))
        return abs(float(exponent)) * abs(magnitude)
    except (OverflowError, ValueError, ArithmeticError):
        return math.inf


def _weight(value: Any, limit: int) -> int:
    """The characters and items `value` holds, nested ones included, counted only up to
    just past `limit` (so a value built to be huge costs no more to measure)."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item)
        elif isinstance(item, list | tuple):
            total += 1
            stack.extend(item)
        elif isinstance(item, dict):
            total += 1
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, Struct):  # a typed Reveni return's part weighs as its record did
            total += 1
            stack.extend(item.__struct_fields__)
            stack.extend(getattr(item, name) for name in item.__struct_fields__)
        else:
            total += 1
    return total


def _check_size(value: Any) -> None:
    if isinstance(value, str | list | tuple) and _weight(value, MAX_TEXT) > MAX_TEXT:
        raise TemplateLimit(f"it made {_weight(value, MAX_TEXT)} characters or items; the limit is {MAX_TEXT}")
    if isinstance(value, int) and value.bit_length() > MAX_DIGITS * 3.33:
        raise TemplateLimit(f"it made a number of more than {MAX_DIGITS} digits")
