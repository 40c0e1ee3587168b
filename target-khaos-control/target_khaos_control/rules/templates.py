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

import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from jinja2 import StrictUndefined, UndefinedError, meta, nodes, pass_context
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer
from msgspec import UNSET, Struct

from target_khaos_control.rules.template_checks import FILTERS as FILTERS
from target_khaos_control.rules.template_checks import FORBIDDEN as FORBIDDEN
from target_khaos_control.rules.template_checks import LOOP as LOOP
from target_khaos_control.rules.template_checks import NOT_IN_TEMPLATES as NOT_IN_TEMPLATES
from target_khaos_control.rules.template_checks import TemplateProblem as TemplateProblem
from target_khaos_control.rules.template_checks import check as check
from target_khaos_control.rules.template_context import ADDRESS as ADDRESS
from target_khaos_control.rules.template_context import ITEM as ITEM
from target_khaos_control.rules.template_context import RETURN as RETURN
from target_khaos_control.rules.template_context import WITH_ITEM as WITH_ITEM
from target_khaos_control.rules.template_context import Variables
from target_khaos_control.rules.template_filters import _finalize, _guarded, _join, _lookup, _replace
from target_khaos_control.rules.template_filters import lookup as lookup
from target_khaos_control.rules.template_filters import money as money
from target_khaos_control.rules.template_filters import to_decimal as to_decimal
from target_khaos_control.rules.template_limits import BINOPS as BINOPS
from target_khaos_control.rules.template_limits import MAX_DEPTH as MAX_DEPTH
from target_khaos_control.rules.template_limits import MAX_DIGITS as MAX_DIGITS
from target_khaos_control.rules.template_limits import MAX_INPUT as MAX_INPUT
from target_khaos_control.rules.template_limits import MAX_LOOP as MAX_LOOP
from target_khaos_control.rules.template_limits import MAX_OUTPUT as MAX_OUTPUT
from target_khaos_control.rules.template_limits import MAX_SOURCE as MAX_SOURCE
from target_khaos_control.rules.template_limits import MAX_TEXT as MAX_TEXT
from target_khaos_control.rules.template_limits import TemplateLimit as TemplateLimit
from target_khaos_control.rules.template_limits import bounded_binop as bounded_binop

TIME_LIMIT = 1.0  # CPU seconds one render may take (its thread's: a busy machine stops no fair template)


class TemplateFailed(Exception):
    """A rule template the sandbox stopped at run time, or that failed (a division by zero,
    an index out of range, text compared with a number): the rules' fault, not the return's."""

    def __init__(self, template: str, reason: str) -> None:
        """Name the template (its path in the rules) and why it was stopped, and where in the file."""
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


class BoundedSandbox(SandboxedEnvironment):
    """The sandbox with its size-making operators intercepted and bounded."""

    intercepted_binops = frozenset(BINOPS)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """`a.b`: a field Reveni left out of the return is undefined, as a key missing from its record was."""
        value = super().getattr(obj, attribute)
        return self.undefined(obj=obj, name=attribute) if value is UNSET else value

    def getitem(self, obj: Any, argument: Any) -> Any:
        """`a['b']`, `a[0]`: as `getattr`, a field Reveni left out is undefined."""
        value = super().getitem(obj, argument)
        return self.undefined(obj=obj, name=argument) if value is UNSET else value

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Arithmetic in a template: its CPU time checked, and the size of the result bounded."""
        _tick()
        return bounded_binop(operator, left, right)


@pass_context
def _loop(context: Context, value: Any) -> Iterator[Any]:
    """Every `{% for %}` runs over this: it counts the turns against the render's budget."""
    for turn in value:
        _tick(1)
        yield turn


def environment() -> SandboxedEnvironment:
    """The sandbox rule templates run in: only the listed filters, no globals, bounded loops."""
    env = BoundedSandbox(undefined=StrictUndefined, autoescape=False, finalize=_finalize)
    env.filters = {name: env.filters[name] for name in FILTERS if name in env.filters}
    env.filters.update(lookup=lookup, decimal=to_decimal, money=money, replace=_replace, join=_join)
    env.filters = {name: _guarded(function) for name, function in env.filters.items()}
    env.filters[LOOP] = _loop  # put there by `_Bounded`, never by a rule file (not in FILTERS)
    env.globals = {}  # no range, lipsum, cycler, namespace ...
    return env


def compile_text(env: SandboxedEnvironment, source: str, name: str = "template") -> Callable[[Variables], str]:
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


def names(env: SandboxedEnvironment, source: str) -> set[str]:
    """The names a template reads from its variables (a loop's own are not among them)."""
    return meta.find_undeclared_variables(env.parse(source))


Reader = Callable[[Variables], Any]
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
        return _reader(path)
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
        on_text = None if args else _ON_TEXT[node.name]
        if on_text is not None:
            return _on_text(inner, on_text, function)
        return lambda variables: function(inner(variables), *args)
    return None


# What each of DIRECT_FILTERS does to text (Jinja's own is `soft_str(value).lower()` ..., and
# `soft_str` gives text back as it is): called without the guard's and Jinja's two calls.
_ON_TEXT: dict[str, Callable[[str], str]] = {"lower": str.lower, "upper": str.upper, "trim": str.strip, "string": str}


def _on_text(inner: Reader, on_text: Callable[[str], str], guarded: Callable[..., Any]) -> Reader:
    """A filter without arguments on what `inner` reads: text the guard lets through (shorter
    than MAX_INPUT, as `_guarded` measures one text) in one step, anything else through `guarded`."""

    def read(variables: Variables) -> Any:
        value = inner(variables)
        if type(value) is str and len(value) < MAX_INPUT:
            return on_text(value)
        return guarded(value)

    return read


def _joined(name: str, parts: list[Part]) -> Callable[[Variables], str]:
    """Each `{{ ... }}` measured and turned into text as Jinja would, then stripped."""
    if all(isinstance(part, str) for part in parts):
        text = "".join(parts).strip()  # type: ignore[arg-type]
        return lambda variables: text

    first = parts[0]  # not all text (above): there is a part
    only = first if len(parts) == 1 and not isinstance(first, str) else None  # `{{ field }}` alone: nothing to join
    # The text parts in place, and where each `{{ ... }}` goes: only those are worked out per return.
    texts = [part if isinstance(part, str) else "" for part in parts]
    readers = [(at, part) for at, part in enumerate(parts) if not isinstance(part, str)]

    def render(variables: Variables) -> str:
        try:
            if only is not None:
                value = only(variables)
                written = value if type(value) is str else _written(value)  # text, as most is: no call
            else:
                pieces = texts.copy()
                for at, read in readers:
                    value = read(variables)
                    pieces[at] = value if type(value) is str else _written(value)
                written = "".join(pieces)
        except SecurityError as error:
            raise TemplateFailed(name, str(error)) from None
        except RULE_ERRORS as error:
            raise TemplateFailed(name, _error(error)) from None
        if len(written) > MAX_OUTPUT:
            raise TemplateFailed(name, f"it wrote more than {MAX_OUTPUT} characters")
        return written.strip()

    return render


def _written(value: Any) -> str:
    """One `{{ ... }}` as text: a field's text is measured with the whole output, a number or
    true/false weighs one, anything else (a list, a part of the return) is measured first."""
    if type(value) is str:
        return value
    return str(value if type(value) in _SCALARS else _finalize(value))


_SCALARS = frozenset({int, bool, Decimal, type(None)})


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


def _reader(path: list[str]) -> Reader:
    """`_value` along `path`; a set field of a part of the return (`order.number`), the usual
    read, taken in one step (most templates read only those), anything else read in full."""
    if len(path) == 1:  # a field of the return (`{{ id }}`), or a figure the engine worked out
        (only,) = path

        def read_one(variables: Variables) -> Any:
            found = variables.get(only, UNSET) if isinstance(variables, dict) else UNSET
            return found if found is not UNSET else _value(variables, path)  # its error as `_value` raises it

        return read_one
    if len(path) != 2:
        return lambda variables: _value(variables, path)
    top, name = path

    def read(variables: Variables) -> Any:
        value = variables.get(top)
        if isinstance(value, Struct) and name in value.__struct_fields__:
            found = getattr(value, name)
            if found is not UNSET:
                return found
        return _value(variables, path)  # its value as `_value` finds it, or its error

    return read


def _value(variables: Variables, path: list[str]) -> Any:
    """The field's value (of a record or a typed return), or the error Jinja's StrictUndefined would raise."""
    value: Any = variables
    for part in path:
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, Struct) and part in value.__struct_fields__:
            value = getattr(value, part)
        else:
            value = UNSET
        if value is UNSET:  # not there, or left out by Reveni
            raise ValueError(f"{'.'.join(path)!r} is undefined in this return")
    return value


def compile_condition(env: SandboxedEnvironment, source: str, name: str = "condition") -> Callable[[Variables], bool]:
    """A condition written as one expression, `{{ ... }}`, evaluated to a real boolean."""
    body = env.parse(source.strip()).body
    if not (
        len(body) == 1
        and isinstance(body[0], nodes.Output)
        and len(body[0].nodes) == 1
        and not isinstance(body[0].nodes[0], nodes.TemplateData)
    ):
        raise TemplateProblem("a condition is one expression in {{ ... }}")
    if isinstance(body[0].nodes[0], nodes.Const):  # `{{ true }}`: one answer for every return, found once
        answer = bool(body[0].nodes[0].value)
        return lambda variables: answer
    direct = _direct(env, body[0].nodes[0])
    if callable(direct):  # `{{ every_line_accepted }}`: no render needed
        return lambda variables: bool(_guard(name, direct, variables))
    assign = nodes.Assign(nodes.Name("result", "store"), body[0].nodes[0], lineno=1)
    expression = TemplateExpression(env.from_string(_bounded(env, nodes.Template([assign], lineno=1))), False)
    return lambda variables: bool(_run(name, lambda: expression(**variables)))


def _guard(name: str, reader: Reader, variables: Variables) -> Any:
    try:
        return reader(variables)
    except SecurityError as error:
        raise TemplateFailed(name, str(error)) from None
    except RULE_ERRORS as error:
        raise TemplateFailed(name, _error(error)) from None
