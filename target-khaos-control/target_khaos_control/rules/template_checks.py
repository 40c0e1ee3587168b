"""A rule template read once at load time, and refused if it does what templates may not."""

from __future__ import annotations

from typing import Any, TypeAlias

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from target_khaos_control.rules.template_limits import (
    BINOPS,
    MAX_DEPTH,
    MAX_LOOP,
    MAX_SOURCE,
    TemplateLimit,
    bounded_binop,
)

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
    """A rule template refused at load, with the line of the template it is on."""

    def __init__(self, message: str, line: int = 1) -> None:
        """What is wrong, and on which line of the template."""
        super().__init__(message)
        self.line = line


LOOP = "loop_guard"
# The fields a template may name: each a nested tree of fields, or None for a value (template_context).
Fields: TypeAlias = dict[str, "Fields | None"]
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


def check(env: SandboxedEnvironment, source: str, fields: Fields, tables: set[str]) -> None:
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


def _check_path(node: nodes.Node, fields: Fields, line: int, local: set[str]) -> None:
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
    level: Fields | None = fields
    for depth, part in enumerate(path):
        if not isinstance(level, dict) or part not in level:
            known = ", ".join(sorted(level)) if isinstance(level, dict) else "nothing (it is a value)"
            raise TemplateProblem(
                f"{'.'.join(path[: depth + 1])!r} is not a field of the return; known here: {known}", line
            )
        level = level[part]
