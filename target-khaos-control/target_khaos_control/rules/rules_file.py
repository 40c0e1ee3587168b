"""A rules file read safely: bounded YAML, where each value sits, and errors in the file's words.

libyaml's safe loader (no `!!python/...` tags); a regular file of at most MAX_BYTES and at
most MAX_NODES values once aliases are expanded. Each error reads `file:line:column: message`.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from target_khaos_control.rules.duplicates import duplicates

MAX_BYTES = 1_000_000  # the demo's is 5 KB; a long customer table still fits
MAX_NODES = 200_000  # values in the file, each alias counted as often as it is used
Path_ = tuple[str | int, ...]
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RuleSetError(ValueError):
    """A rule set that cannot be used, with every error found, each at its file:line:column."""

    def __init__(self, errors: list[str]) -> None:
        """The errors, one a line."""
        super().__init__("\n".join(errors))
        self.errors = errors


def rules_file(path: str | Path) -> Path:
    """A client folder (its `rules.yml`) or the file itself."""
    path = Path(path)
    return path / "rules.yml" if path.is_dir() else path


@dataclass
class _Reader:
    file: Path
    positions: dict[Path_, tuple[int, int]]  # where each value starts
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)  # where each key is written
    found: list[tuple[int, int, str]] = field(default_factory=list)
    schema_failed: bool = False
    wrong: set[Path_] = field(default_factory=set)  # what the schema refused: one mistake, one message

    def error(self, where: Path_, message: str, line_offset: int = 0) -> None:
        if any(where[: len(path)] == path for path in self.wrong):
            return
        probe = where
        while probe and probe not in self.positions:
            probe = probe[:-1]
        line, column = self.positions.get(probe, (1, 1))
        self.at(line + line_offset, column, message)

    def at(self, line: int, column: int, message: str) -> None:
        if (line, column, message) not in self.found:
            self.found.append((line, column, message))

    @property
    def errors(self) -> list[str]:
        return [f"{self.file}:{line}:{column}: {message}" for line, column, message in sorted(self.found)]

    def attempt(self, check: Callable[[], Any]) -> Any:
        """Run one check even where the schema found the data malformed: a part it cannot
        read is skipped, as the schema has already said what is wrong there."""
        try:
            return check()
        except (KeyError, TypeError, AttributeError, IndexError, ValueError, ArithmeticError):
            if not self.schema_failed:
                raise
            return None


def _read_yaml(file: Path) -> tuple[Any, yaml.Node | None]:
    try:
        if not stat.S_ISREG(file.stat().st_mode):
            raise RuleSetError(
                [f"{file}:1:1: the rule set is not a regular file (a FIFO or a device?): refused unread"]
            )
        with file.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError as error:
        raise RuleSetError([f"{file}:1:1: cannot read the rule set ({error.strerror})"]) from None
    if len(raw) > MAX_BYTES:
        raise RuleSetError(
            [f"{file}:1:1: the rule set is over {MAX_BYTES // 1_000_000} MB, far more than rules need: refused unread"]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RuleSetError([f"{file}:1:1: the rule set is not UTF-8 text (byte {error.start})"]) from None
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        _check_expansion(node)
        if twice := duplicates(node):  # before construction, which keeps only the last
            raise RuleSetError([f"{file}:{line}:{column}: {message}" for line, column, message in twice])
        return loader.construct_document(node) if node is not None else None, node
    except yaml.MarkedYAMLError as error:
        line, column, message = _yaml_problem(text, error)
        raise RuleSetError([f"{file}:{line}:{column}: {message}"]) from None
    except (yaml.YAMLError, RecursionError) as error:
        raise RuleSetError([f"{file}:1:1: not valid rule-set YAML: {_plain(error)}"]) from None
    except RuleSetError:  # keys written twice: already in the rule set's words
        raise
    except ValueError as error:  # a whole number longer than Python reads (4,300 digits)
        line, column = _long_number(node)
        raise RuleSetError([f"{file}:{line}:{column}: not valid rule-set YAML: {error}"]) from None
    finally:
        loader.dispose()


def _long_number(root: yaml.Node | None) -> tuple[int, int]:
    """Where the longest plain scalar is: the number YAML could not read."""
    stack, longest, where = [root] if root is not None else [], 0, (1, 1)
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode) and len(str(node.value)) > longest:
            longest, where = len(str(node.value)), (node.start_mark.line + 1, node.start_mark.column + 1)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return where


class _TooBig(yaml.MarkedYAMLError):  # type: ignore[misc]
    pass


def _check_expansion(root: yaml.Node | None) -> None:
    """Count the values as they would be after expanding aliases, without expanding them."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, open_: set[int]) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_:
            raise _TooBig(None, None, "an alias refers to the value that contains it", node.start_mark)
        open_.add(id(node))
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        total = 1
        for child in children:
            total += size(child, open_)
            if total > MAX_NODES:
                raise _TooBig(
                    None,
                    None,
                    f"with its aliases (`*name`) expanded this would be over {MAX_NODES} values: refused",
                    node.start_mark,
                )
        open_.discard(id(node))
        sizes[id(node)] = total
        return total

    if root is not None:
        size(root, set())


def _yaml_problem(text: str, error: yaml.MarkedYAMLError) -> tuple[int, int, str]:
    """Where a YAML mistake is and what it is, in plain words. An unclosed quote makes
    YAML read on into the next lines and complain there: find the quote instead."""
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    if isinstance(error, _TooBig):
        return line, column, str(error.problem)
    quote = _unclosed_quote(text, line)
    if quote is not None:
        return quote[0], quote[1], "this quote is never closed: end the value with the same quote mark"
    problem = str(error.problem or "")
    context = error.context_mark
    if "could not find expected ':'" in problem and context is not None:
        return context.line + 1, context.column + 1, "a key without `:` after it: write `key: value`"
    return line, column, _plain(error)


_PLAIN = (
    ("cannot start any token", "a tab or a character YAML cannot start with: indent with spaces only"),
    ("did not find expected key", "this line does not line up with the lines above it: check its indentation"),
    ("expected <block end>", "this line does not line up with the lines above it: check its indentation"),
    ("mapping values are not allowed", "a `: ` inside a value: put the value in quotes"),
    ("expected ',' or '}'", "a `{...}` on this line is not closed properly: check its commas, quotes and braces"),
    ("expected ',' or ']'", "a `[...]` on this line is not closed properly: check its commas, quotes and brackets"),
    ("found undefined alias", "an alias `*name` with no anchor `&name` before it"),
    ("could not determine a constructor", "a YAML tag (`!!...`) is not allowed in a rule set"),
    ("exceeded maximum nesting depth", "nested too deeply"),
    ("maximum recursion depth", "nested too deeply"),
    ("found duplicate anchor", "the same anchor `&name` twice"),
)


def _plain(error: BaseException) -> str:
    text = str(getattr(error, "problem", None) or error)
    if isinstance(error, yaml.MarkedYAMLError) and error.context and "constructor" in str(error.context):
        text = str(error.context)
    for words, plain in _PLAIN:
        if words in text:
            return f"not valid rule-set YAML: {plain}"
    return f"not valid rule-set YAML: {text}"


def _unclosed_quote(text: str, last_line: int) -> tuple[int, int] | None:
    """The first line up to `last_line` where a quoted value opens and does not close."""
    for number, line in enumerate(text.splitlines()[:last_line], 1):
        quote, start, previous = "", 0, " "
        for column, char in enumerate(line):
            if quote:
                if char == "\\" and quote == '"':
                    previous = "\\" if previous != "\\" else " "
                    continue
                if char == quote and not (quote == '"' and previous == "\\"):
                    quote = ""
            elif char == "#" and previous in " \t":
                break
            elif char in "\"'" and line[:column].rstrip()[-1:] in ("", ":", "-", "[", "{", ","):
                quote, start = char, column
            previous = char
        if quote:
            return number, start + 1
    return None


def _positions(
    node: yaml.Node | None,
) -> tuple[dict[Path_, tuple[int, int]], dict[Path_, tuple[int, int]]]:
    """Where each value starts, and where each mapping key is written, by path."""
    values: dict[Path_, tuple[int, int]] = {}
    keys: dict[Path_, tuple[int, int]] = {}
    seen: set[int] = set()  # an alias's value is placed where it is first written
    stack: list[tuple[yaml.Node, Path_]] = [(node, ())] if node is not None else []
    while stack:
        current, path = stack.pop()
        values.setdefault(path, (current.start_mark.line + 1, current.start_mark.column + 1))
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                keys.setdefault((*path, str(key.value)), (key.start_mark.line + 1, key.start_mark.column + 1))
                stack.append((value, (*path, str(key.value))))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((value, (*path, index)) for index, value in enumerate(current.value))
    return values, keys
