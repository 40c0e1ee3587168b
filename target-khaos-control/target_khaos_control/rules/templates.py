"""Jinja for rule files: sandboxed, strict, bounded, and checked before it runs.

Templates run in jinja2's `SandboxedEnvironment` with `StrictUndefined`, so a missing
field is an error, never an empty string. On top of that, each template is read once at
load time and refused if it names anything a return does not have, reaches for
underscore attributes (`__class__`, `__globals__`, `mro` ...), or uses a filter outside
the short documented list. Each compiles once per run.

A rule file is written by a person and may be wrong or hostile, so nothing in it may
cost more than a moment: a template is at most MAX_SOURCE long, MAX_DEPTH deep, and may not set
variables (so nothing it makes can be reused to grow), text and lists it makes are at
most MAX_TEXT long, whole numbers at most MAX_DIGITS digits, what a filter reads at most
MAX_INPUT, loops at most MAX_LOOP turns and the output MAX_OUTPUT characters, and one
render stops after TIME_LIMIT seconds. Constant parts are
worked out at load time under the same limits (Jinja itself would fold `'a' * 10**9`
unbounded while compiling, so those operators are intercepted, which stops its folding).
A template that hits a limit at run time, or fails (a division by zero, an index past the end
of a list, text compared with a number), raises `TemplateFailed`, naming the template.
"""

from __future__ import annotations

import functools
import math
import operator
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, nodes, pass_context, pass_eval_context
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError
from jinja2.filters import do_join, do_replace
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_SOURCE = 10_000  # characters in one template
MAX_TEXT = 10_000  # characters in a string, or items in a list, that a template makes
MAX_INPUT = 1_000_000  # characters (and items) a filter may read: a whole return fits
MAX_DIGITS = 100  # digits in a number a template makes
MAX_LOOP = 1_000  # turns of all loops in one render together
MAX_OUTPUT = 100_000  # characters one render writes
MAX_DEPTH = 40  # nodes inside one another (`not not ...`, `((...))`, `{% if %}` in `{% if %}`)
TIME_LIMIT = 1.0  # CPU seconds one render may take (its thread's: a busy machine stops no fair template)

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


class TemplateLimit(SecurityError):
    """A template went past one of the limits above."""


class TemplateFailed(Exception):
    """A rule template the sandbox stopped at run time, or that failed (a division by zero,
    an index out of range, text compared with a number): the rules' fault, not the return's."""

    def __init__(self, template: str, reason: str) -> None:
        template, _, where = template.partition(" at ")  # the loader names it `path at file:line`
        super().__init__(f"the rules' template `{template}` was stopped: {reason}" + (f" ({where})" if where else ""))
        self.template = template


@dataclass
class _Budget:
    deadline: float = field(default_factory=lambda: time.thread_time() + TIME_LIMIT)
    turns: int = 0

    def tick(self, turns: int = 0) -> None:
        self.turns += turns
        if self.turns > MAX_LOOP:
            raise TemplateLimit(f"its loops went past {MAX_LOOP} turns")
        if time.thread_time() > self.deadline:
            raise TemplateLimit(f"it ran longer than {TIME_LIMIT:g} s of CPU")


_BUDGET: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _tick(turns: int = 0) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.tick(turns)


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
        else:
            total += 1
    return total


def _check_size(value: Any) -> None:
    if isinstance(value, str | list | tuple) and _weight(value, MAX_TEXT) > MAX_TEXT:
        raise TemplateLimit(f"it made {_weight(value, MAX_TEXT)} characters or items; the limit is {MAX_TEXT}")
    if isinstance(value, int) and value.bit_length() > MAX_DIGITS * 3.33:
        raise TemplateLimit(f"it made a number of more than {MAX_DIGITS} digits")


class BoundedSandbox(SandboxedEnvironment):
    """The sandbox with its size-making operators intercepted and bounded."""

    intercepted_binops = frozenset(BINOPS)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _tick()
        return bounded_binop(operator, left, right)


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
        if _weight([*args, *kwargs.values()], MAX_INPUT) > MAX_INPUT:
            raise TemplateLimit(f"a filter was given more than {MAX_INPUT} characters or items")
        return function(*args, **kwargs)

    return guarded


def _finalize(value: Any) -> Any:
    """What each `{{ ... }}` writes, measured before it is turned into text."""
    if (len(value) if isinstance(value, str) else _weight(value, MAX_OUTPUT)) > MAX_OUTPUT:
        raise TemplateLimit(f"it wrote more than {MAX_OUTPUT} characters")
    return value


@pass_context
def _loop(context: Context, value: Any) -> Iterator[Any]:
    """Every `{% for %}` runs over this: it counts the turns against the render's budget."""
    for turn in value:
        _tick(1)
        yield turn


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
    env = BoundedSandbox(undefined=StrictUndefined, autoescape=False, finalize=_finalize)
    env.filters = {name: env.filters[name] for name in FILTERS if name in env.filters}
    env.filters.update(lookup=lookup, decimal=to_decimal, money=money, replace=_replace, join=_join)
    env.filters = {name: _guarded(function) for name, function in env.filters.items()}
    env.filters[LOOP] = _loop  # put there by `_Bounded`, never by a rule file (not in FILTERS)
    env.globals = {}  # no range, lipsum, cycler, namespace ...
    return env


LOOP = "loop_guard"
NOT_IN_TEMPLATES = (
    nodes.Extends,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.Macro,
    nodes.CallBlock,
    nodes.Assign,
    nodes.AssignBlock,
    nodes.With,
)


def check(env: SandboxedEnvironment, source: str, fields: dict[str, Any], tables: set[str]) -> None:
    """Refuse what a template must not do, before it ever runs."""
    if len(source) > MAX_SOURCE:
        raise TemplateProblem(f"the template is {len(source)} characters long; the limit is {MAX_SOURCE}")
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as error:
        raise TemplateProblem(f"template syntax: {error.message}", error.lineno) from None
    except ValueError as error:  # a number literal too long for Python to read, say
        raise TemplateProblem(f"template cannot be read: {error}") from None
    except RecursionError:  # 300 brackets inside one another: Jinja's parser gives up
        raise TemplateProblem(f"the template is nested too deeply; at most {MAX_DEPTH} levels") from None
    if _depth(tree) > MAX_DEPTH:  # 500 `not`s, 200 `if`s: Python could not compile it
        raise TemplateProblem(f"the template is nested too deeply; at most {MAX_DEPTH} levels")
    # A loop's own names (and `loop`) hold what it runs over: checked when it runs.
    targets = [name for loop in tree.find_all(nodes.For) for name in (loop.target, *loop.target.find_all(nodes.Name))]
    local = {"loop"} | {name.name for name in targets if isinstance(name, nodes.Name)}
    for statement in tree.find_all(NOT_IN_TEMPLATES):
        word = {"Assign": "set", "AssignBlock": "set"}.get(type(statement).__name__, type(statement).__name__.lower())
        raise TemplateProblem(f"templates may not use `{word}`", statement.lineno or 1)
    for node in tree.find_all((nodes.Name, nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Call, nodes.Test)):
        line = getattr(node, "lineno", 1) or 1
        if isinstance(node, nodes.Filter) and node.name not in FILTERS:
            raise TemplateProblem(f"filter {node.name!r} is not available; use one of {', '.join(FILTERS)}", line)
        if isinstance(node, nodes.Filter) and node.name == "truncate":
            _check_truncate(node, line)
        if isinstance(node, nodes.Filter) and node.name == "lookup":
            table = node.args[0].value if node.args and isinstance(node.args[0], nodes.Const) else None
            if table not in tables:
                raise TemplateProblem(f"lookup names a table that is not under `tables:`: {table!r}", line)
        if isinstance(node, nodes.Call):
            raise TemplateProblem("templates may not call functions or methods", line)
        if isinstance(node, nodes.Getattr | nodes.Getitem | nodes.Name):
            _check_path(node, fields, line, local)
    _check_constants(tree)


def _depth(tree: nodes.Node) -> int:
    """How many nodes deep the template goes, found without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            break
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return deepest


def _check_truncate(node: nodes.Filter, line: int) -> None:
    """Jinja's `truncate(length, killwords, end, leeway)` asserts its length is at least the
    length of its `end` (`...`): found at load, not on the first return."""
    args = dict(zip(("length", "killwords", "end", "leeway"), node.args, strict=False))
    args |= {str(kw.key): kw.value for kw in node.kwargs}
    length, end, leeway = (_literal(args.get(name)) for name in ("length", "end", "leeway"))
    shortest = len(str(end)) if end is not None else 3
    if length is not None and not (isinstance(length, int) and length >= shortest):
        raise TemplateProblem(
            f"truncate's length is {length!r}: it must be a whole number of at least {shortest}, "
            "the length of what it ends with",
            line,
        )
    if leeway is not None and not (isinstance(leeway, int) and leeway >= 0):
        raise TemplateProblem(f"truncate's leeway is {leeway!r}: it must be a whole number of 0 or more", line)


def _literal(node: nodes.Node | None) -> Any:
    """The value of a literal argument (`5`, `-5`, `'...'`), or None for anything else."""
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.Neg | nodes.Pos) and isinstance(node.node, nodes.Const):
        value = node.node.value
        return -value if isinstance(node, nodes.Neg) and isinstance(value, int | float) else value
    return None


def _check_constants(tree: nodes.Template) -> None:
    """Work out the parts made only of constants now, under the run-time limits, so that
    `{{ 'a' * 10**9 }}` or a loop over a long made-up string is refused at load."""
    for node in tree.find_all((nodes.BinExpr, nodes.Concat, nodes.For)):
        try:
            value = _constant(node.iter if isinstance(node, nodes.For) else node)
        except _NotConstant:
            continue
        except TemplateLimit as limit:
            raise TemplateProblem(f"template refused: {limit}", node.lineno or 1) from None
        except (TypeError, ValueError, ArithmeticError) as error:
            raise TemplateProblem(f"template cannot be worked out: {error}", node.lineno or 1) from None
        if isinstance(node, nodes.For) and hasattr(value, "__len__") and len(value) > MAX_LOOP:
            raise TemplateProblem(
                f"template refused: a loop of {len(value)} turns; the limit is {MAX_LOOP}", node.lineno
            )


class _NotConstant(Exception):
    pass


def _constant(node: nodes.Node) -> Any:
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.BinExpr) and node.operator in BINOPS:
        return bounded_binop(node.operator, _constant(node.left), _constant(node.right))
    if isinstance(node, nodes.Concat):
        text = ""
        for part in node.nodes:
            text = bounded_binop("+", text, str(_constant(part)))
        return text
    if isinstance(node, nodes.List | nodes.Tuple):
        return [_constant(item) for item in node.items]
    raise _NotConstant  # the rest cannot grow: Jinja may fold it


def _check_path(node: nodes.Node, fields: dict[str, Any], line: int, local: set[str]) -> None:
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
    if path[0] in local:
        return
    level: Any = fields
    for depth, part in enumerate(path):
        if not isinstance(level, dict) or part not in level:
            known = ", ".join(sorted(level)) if isinstance(level, dict) else "nothing (it is a value)"
            raise TemplateProblem(
                f"{'.'.join(path[: depth + 1])!r} is not a field of the return; known here: {known}", line
            )
        level = level[part]


def compile_text(env: SandboxedEnvironment, source: str, name: str = "template") -> Callable[[dict[str, Any]], str]:
    """A template that renders text (a URN, a reference, notes).

    Plain text, fields and simple filters (`Return {{ id }}`, `{{ customer.email | lower |
    lookup('urns') }}`) skip Jinja's render: they are most templates, and rendering is the
    rules' main cost per return. The rest render in the bounded sandbox."""
    body = env.parse(source).body
    if len(body) == 1 and isinstance(body[0], nodes.Output):
        parts = [_direct(env, part) for part in body[0].nodes]
        if all(part is not None for part in parts):
            return _joined(name, [part for part in parts if part is not None])
    template = env.from_string(_bounded(env, env.parse(source)))
    return lambda variables: _run(name, lambda: _output(template.generate(variables))).strip()


Reader = Callable[[dict[str, Any]], Any]
Part = Reader | str  # a template's text between the `{{ ... }}` is a str
# Filters a template may chain on a field without Jinja's render: each is linear in what it
# reads and bounded by MAX_INPUT (the guarded filter itself is called).
DIRECT_FILTERS = ("lower", "upper", "trim", "string")


def _direct(env: SandboxedEnvironment, node: nodes.Node) -> Part | None:
    """`node` as a plain function of the variables, when it is text, a constant, a field,
    or one of those through DIRECT_FILTERS or `lookup('table')`; else None."""
    if isinstance(node, nodes.TemplateData):
        return node.data
    if isinstance(node, nodes.Const):
        value = node.value
        return lambda variables: value
    path = _field_path(node)
    if path is not None:
        return lambda variables: _value(variables, path)
    if not isinstance(node, nodes.Filter) or node.node is None or node.kwargs or node.dyn_args or node.dyn_kwargs:
        return None
    inner = _direct(env, node.node)
    if not callable(inner) or not all(isinstance(arg, nodes.Const) for arg in node.args):
        return None
    args = [arg.value for arg in node.args]  # type: ignore[attr-defined]
    if node.name == "lookup" and len(args) == 1:
        table = args[0]
        return lambda variables: _lookup(variables, inner(variables), table)
    if node.name in DIRECT_FILTERS:
        function = env.filters[node.name]
        return lambda variables: function(inner(variables), *args)
    return None


def _joined(name: str, parts: list[Part]) -> Callable[[dict[str, Any]], str]:
    """Each `{{ ... }}` measured and turned into text as Jinja would, then stripped."""
    if all(isinstance(part, str) for part in parts):
        text = "".join(parts).strip()  # type: ignore[arg-type]
        return lambda variables: text

    def render(variables: dict[str, Any]) -> str:
        try:
            written = "".join(part if isinstance(part, str) else str(_finalize(part(variables))) for part in parts)
        except SecurityError as error:
            raise TemplateFailed(name, str(error)) from None
        except RULE_ERRORS as error:
            raise TemplateFailed(name, _error(error)) from None
        if len(written) > MAX_OUTPUT:
            raise TemplateFailed(name, f"it wrote more than {MAX_OUTPUT} characters")
        return written.strip()

    return render


def _lookup(variables: dict[str, Any], value: Any, table: str) -> Any:
    """The `lookup` filter, for a template rendered without Jinja."""
    if _weight([value, table], MAX_INPUT) > MAX_INPUT:
        raise TemplateLimit(f"a filter was given more than {MAX_INPUT} characters or items")
    tables = variables.get("tables") or {}
    if table not in tables:
        raise ValueError(f"no table named {table!r}")
    return tables[table].get(str(value))


class _Bounded(NodeTransformer):
    """Every loop counts its turns, and every `~` is the bounded `+` of text."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, LOOP, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        parts = [nodes.Filter(part, "string", [], [], None, None, lineno=node.lineno) for part in node.nodes]
        joined: nodes.Expr = parts[0]
        for part in parts[1:]:
            joined = nodes.Add(joined, part, lineno=node.lineno)
        return joined


def _bounded(env: SandboxedEnvironment, tree: nodes.Template) -> nodes.Template:
    tree = _Bounded().visit(tree)
    tree.set_environment(env)
    return tree


# What a template's own mistake raises while it runs. A field the return lacks (Jinja's
# UndefinedError) or a value no filter can read (ValueError) is the return's: not here.
RULE_ERRORS = (ArithmeticError, IndexError, KeyError, TypeError, AssertionError, AttributeError, RecursionError)


def _run(name: str, render: Callable[[], Any]) -> Any:
    """One render under a fresh budget; a limit it hits, or an error it makes, is the template's failure."""
    token = _BUDGET.set(_Budget())
    try:
        return render()
    except SecurityError as error:
        raise TemplateFailed(name, str(error)) from None
    except RULE_ERRORS as error:
        raise TemplateFailed(name, _error(error)) from None
    except UndefinedError as error:
        if "has no element" not in str(error):  # a field the return lacks: the return's
            raise
        raise TemplateFailed(name, f"it reads past the end of a list ({error})") from None
    finally:
        _BUDGET.reset(token)


def _error(error: BaseException) -> str:
    return f"it raised {type(error).__name__} ({str(error)[:200] or 'no message'})"


def _output(chunks: Iterator[str]) -> str:
    written: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise TemplateLimit(f"it wrote more than {MAX_OUTPUT} characters")
        written.append(chunk)
    return "".join(written)


def _field_path(node: nodes.Node) -> list[str] | None:
    path: list[str] = []
    while isinstance(node, nodes.Getattr):
        path.append(node.attr)
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    return [node.name, *reversed(path)]


def _value(variables: dict[str, Any], path: list[str]) -> Any:
    """The field's value, or the error Jinja's StrictUndefined would raise."""
    value: Any = variables
    for part in path:
        if not isinstance(value, dict) or part not in value:
            raise ValueError(f"{'.'.join(path)!r} is undefined in this return")
        value = value[part]
    return value


def compile_condition(
    env: SandboxedEnvironment, source: str, name: str = "condition"
) -> Callable[[dict[str, Any]], bool]:
    """A condition written as one expression, `{{ ... }}`, evaluated to a real boolean."""
    body = env.parse(source.strip()).body
    if not (
        len(body) == 1
        and isinstance(body[0], nodes.Output)
        and len(body[0].nodes) == 1
        and not isinstance(body[0].nodes[0], nodes.TemplateData)
    ):
        raise TemplateProblem("a condition is one expression in {{ ... }}")
    direct = _direct(env, body[0].nodes[0])
    if callable(direct):  # `{{ true }}`, `{{ every_line_accepted }}`: no render needed
        return lambda variables: bool(_guard(name, direct, variables))
    assign = nodes.Assign(nodes.Name("result", "store"), body[0].nodes[0], lineno=1)
    expression = TemplateExpression(env.from_string(_bounded(env, nodes.Template([assign], lineno=1))), False)
    return lambda variables: bool(_run(name, lambda: expression(**variables)))


def _guard(name: str, reader: Reader, variables: dict[str, Any]) -> Any:
    try:
        return reader(variables)
    except SecurityError as error:
        raise TemplateFailed(name, str(error)) from None
    except RULE_ERRORS as error:
        raise TemplateFailed(name, _error(error)) from None
