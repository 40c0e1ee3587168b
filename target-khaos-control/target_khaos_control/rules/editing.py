"""Write one change into a client's rules.yml as a consultant would: every comment, blank
line, quote and key order kept (ruamel.yaml's round trip), only the changed lines differ.

A path's parts are mapping keys or list indexes; `+` as the last part appends to a list.
A new entry goes after what was last in its list or mapping, and the blank lines and
comments that followed that entry stay after the new one, before the next section.
"""

from __future__ import annotations

import difflib
import io
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.tokens import CommentToken

APPEND = "+"


class EditError(ValueError):
    """The change does not fit the file (a path through something that is not a mapping)."""


def _yaml() -> YAML:
    yaml = YAML()  # round trip
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def apply_edit(text: str, path: tuple[str | int, ...], value: Any, comment: str = "") -> str:
    """`text` with `value` set at `path`; the rest of the file as it was. A `comment` goes
    at the end of a new mapping's first line (`- reason: x  # accepted by ...`)."""
    yaml = _yaml()
    data = yaml.load(text)
    if not isinstance(data, CommentedMap) or not path:
        raise EditError("the rule set is not a mapping of sections")
    node: Any = data
    for depth, part in enumerate(path[:-1]):
        child = node.get(part) if isinstance(node, CommentedMap) else None
        if child is None and isinstance(node, CommentedMap):
            child = CommentedSeq() if path[depth + 1] == APPEND else CommentedMap()
            _add(node, part, child)
        if not isinstance(child, CommentedMap | CommentedSeq):
            raise EditError(f"`{'.'.join(map(str, path[: depth + 1]))}` is not a mapping or a list")
        node = child
    last, new = path[-1], _styled(value)
    if last == APPEND:
        if not isinstance(node, CommentedSeq):
            raise EditError(f"`{'.'.join(map(str, path[:-1]))}` is not a list")
        _add(node, len(node), new)
        if comment and isinstance(new, CommentedMap) and new:
            new.yaml_add_eol_comment(f"# {comment}", next(iter(new)), column=_comment_column(node))
    elif isinstance(node, CommentedMap):
        if last in node:
            node[last] = new
        else:
            _add(node, last, new)
    else:
        raise EditError(f"`{'.'.join(map(str, path[:-1]))}` is not a mapping")
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _comment_column(node: CommentedSeq) -> int:
    """Where the list's other end-of-line comments start, so a new one lines up."""
    for item in node:
        for slot in getattr(getattr(item, "ca", None), "items", {}).values():
            token = slot[2] if len(slot) > 2 else None
            if isinstance(token, CommentToken) and token.value.startswith("#") and token.start_mark is not None:
                return int(token.start_mark.column)
    return 0


def diff(before: str, after: str, name: str) -> str:
    """A unified diff, as `git diff` shows it."""
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), f"a/{name}", f"b/{name}", n=2))


def _add(container: CommentedMap | CommentedSeq, key: Any, value: Any) -> None:
    """Append, moving what followed the old last entry (blank lines, comments on their own
    lines) after the new one."""
    moved = _trailing(container)
    if isinstance(container, CommentedSeq):
        container.append(value)
    else:
        container[key] = value
    if moved:
        _attach(value, container, key, moved)


def _trailing(node: Any) -> str:
    """Cut the own-line comments and blank lines after `node`'s last entry; return them."""
    if isinstance(node, CommentedMap) and node:
        key = list(node)[-1]
        slot, index = node.ca.items.get(key), 2
    elif isinstance(node, CommentedSeq) and node:
        key = len(node) - 1
        slot, index = node.ca.items.get(key), 0
    else:
        return ""
    if slot and isinstance(slot[index], CommentToken):
        token: CommentToken = slot[index]
        head, newline, rest = token.value.partition("\n")
        token.value = head + newline
        return rest
    return _trailing(node[key])


def _attach(value: Any, container: Any, key: Any, comment: str) -> None:
    """Put `comment` (whole lines) after `value`, the entry just added. A trailing
    comment token holds the end of its line too, hence the leading newline."""
    token = CommentToken("\n" + comment, CommentMark(0), None)
    if isinstance(value, CommentedMap) and value:
        value.ca.items.setdefault(list(value)[-1], [None, None, None, None])[2] = token
    elif isinstance(container, CommentedSeq):
        container.ca.items.setdefault(key, [None, None])[0] = token
    else:
        container.ca.items.setdefault(key, [None, None, None, None])[2] = token


def _styled(value: Any) -> Any:
    """A value as the rule files write them: mappings in block style, and text that YAML
    would read as a number ("2", "20.00") in double quotes, so it stays text."""
    if isinstance(value, dict):
        mapping = CommentedMap()
        for key, item in value.items():
            mapping[key] = _styled(item)
        return mapping
    if isinstance(value, str) and re.fullmatch(r"[-+]?[0-9][0-9_.]*|true|false|yes|no|null|~|", value, re.I):
        return DoubleQuotedScalarString(value)
    return value
