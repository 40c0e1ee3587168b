"""Jinja for rule files: sandboxed, strict, and checked before it runs.

Templates run in jinja2's `SandboxedEnvironment` with `StrictUndefined`, so a missing
field is an error, never an empty string. On top of that, each template is read once at
load time and refused if it names anything a return does not have, reaches for
underscore attributes (`__class__`, `__globals__`, `mro` ...), or uses a filter outside
the short documented list. Each compiles once per run.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, nodes, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

# The fields of a Reveni return (shared/spec/reveni-api.md) a template may read; None
# marks a leaf. `item` is the return line, in reason rules only.
ADDRESS = {"line1": None, "line2": None, "city": None, "postcode": None, "country_code": None}
ITEM = {
    "id": None,
    "sku": None,
    "ean": None,
    "name": None,
    "quantity": None,
    "price": None,
    "tax_rate": None,
    "tax": None,
    "total": None,
    "return_reason": {"code": None, "label": None},
    "exchange": {"sku": None, "ean": None, "quantity": None},
    "status": None,
    "reject_reason": None,
    "reject_reason_text": None,
}
RETURN: dict[str, Any] = {
    "id": None,
    "order": {"external_id": None, "number": None},
    "customer": {"id": None, "email": None, "first_name": None, "last_name": None, "address": ADDRESS},
    "type": None,
    "instant": None,
    "status": None,
    "refund_method": None,
    "currency": None,
    "total": None,
    "return_items": None,
    "refunds": None,
    "shipping": {"carrier": None, "tracking_number": None},
    "created_at": None,
    "updated_at": None,
    # Worked out by the engine, for conditions:
    "refunded": None,
    "refunded_amount": None,
    "every_line_accepted": None,
    "credited_amount": None,
}
WITH_ITEM: dict[str, Any] = {**RETURN, "item": ITEM}
FILTERS = (
    "lookup",
    "decimal",
    "money",
    "lower",
    "upper",
    "trim",
    "default",
    "replace",
    "truncate",
    "string",
    "length",
    "first",
    "last",
    "join",
    "abs",
    "round",
)
FORBIDDEN = {"mro", "func_globals", "gi_frame", "f_globals", "format", "format_map"}


class TemplateProblem(ValueError):
    def __init__(self, message: str, line: int = 1) -> None:
        super().__init__(message)
        self.line = line


def to_decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None


def money(value: Any) -> Decimal:
    return to_decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pass_context
def lookup(context: Context, value: Any, table: str, default: Any = None) -> Any:
    """`value | lookup('table')`: the table's entry for `value`, or `default` (None)."""
    tables = context.get("tables") or {}
    if table not in tables:
        raise ValueError(f"no table named {table!r}")
    return tables[table].get(str(value), default)


def environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.filters = {name: env.filters[name] for name in FILTERS if name in env.filters}
    env.filters.update(lookup=lookup, decimal=to_decimal, money=money)
    env.globals = {}  # no range, lipsum, cycler, namespace ...
    return env


def check(env: SandboxedEnvironment, source: str, fields: dict[str, Any], tables: set[str]) -> None:
    """Refuse what a template must not do, before it ever runs."""
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as error:
        raise TemplateProblem(f"template syntax: {error.message}", error.lineno) from None
    for node in tree.find_all((nodes.Name, nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Call, nodes.Test)):
        line = getattr(node, "lineno", 1) or 1
        if isinstance(node, nodes.Filter) and node.name not in env.filters:
            raise TemplateProblem(f"filter {node.name!r} is not available; use one of {', '.join(FILTERS)}", line)
        if isinstance(node, nodes.Filter) and node.name == "lookup":
            table = node.args[0].value if node.args and isinstance(node.args[0], nodes.Const) else None
            if table not in tables:
                raise TemplateProblem(f"lookup names a table that is not under `tables:`: {table!r}", line)
        if isinstance(node, nodes.Call):
            raise TemplateProblem("templates may not call functions or methods", line)
        if isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Name):
            _check_path(node, fields, line)


def _check_path(node: nodes.Node, fields: dict[str, Any], line: int) -> None:
    path: list[str] = []
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        if isinstance(node, nodes.Getattr):
            path.append(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            path.append(node.arg.value)
        else:
            return  # an index into a list: its elements are checked where they are named
        node = node.node
    if not isinstance(node, nodes.Name) or node.ctx != "load":
        return
    path.append(node.name)
    path.reverse()
    for part in path:
        if part.startswith("_") or part in FORBIDDEN:
            raise TemplateProblem(f"{'.'.join(path)!r} reaches for an internal attribute; templates may not", line)
    level: Any = fields
    for depth, part in enumerate(path):
        if not isinstance(level, dict) or part not in level:
            known = ", ".join(sorted(level)) if isinstance(level, dict) else "nothing (it is a value)"
            raise TemplateProblem(
                f"{'.'.join(path[: depth + 1])!r} is not a field of the return; known here: {known}", line
            )
        level = level[part]


def compile_text(env: SandboxedEnvironment, source: str) -> Callable[[dict[str, Any]], str]:
    """A template that renders text (a URN, a reference, notes).

    Plain text, and a lone field such as `{{ order.external_id }}`, skip Jinja's render:
    they are most templates, and rendering is the rules' main cost per return."""
    body = env.parse(source).body
    if len(body) == 1 and isinstance(body[0], nodes.Output):
        parts = body[0].nodes
        if all(isinstance(part, nodes.TemplateData) for part in parts):
            text = "".join(part.data for part in parts).strip()  # type: ignore[attr-defined]
            return lambda variables: text
        path = _field_path(parts[0]) if len(parts) == 1 else None
        if path is not None:
            return lambda variables: _read(variables, path)
    template = env.from_string(source)
    return lambda variables: template.render(variables).strip()


def _field_path(node: nodes.Node) -> list[str] | None:
    path: list[str] = []
    while isinstance(node, nodes.Getattr):
        path.append(node.attr)
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    return [node.name, *reversed(path)]


def _read(variables: dict[str, Any], path: list[str]) -> str:
    """What Jinja would render for the field, StrictUndefined included."""
    value: Any = variables
    for part in path:
        if not isinstance(value, dict) or part not in value:
            raise ValueError(f"{'.'.join(path)!r} is undefined in this return")
        value = value[part]
    return "None" if value is None else str(value).strip()


def compile_condition(env: SandboxedEnvironment, source: str) -> Callable[[dict[str, Any]], bool]:
    """A condition written as one expression, `{{ ... }}`, evaluated to a real boolean."""
    inner = source.strip()
    if not (inner.startswith("{{") and inner.endswith("}}")):
        raise TemplateProblem("a condition is one expression in {{ ... }}")
    expression = env.compile_expression(inner[2:-2], undefined_to_none=False)
    return lambda variables: bool(expression(**variables))
