"""Keys written twice in a rule file: YAML keeps the last silently, so the first is lost.

A second `aliases:` block, or the same alias twice, replaced the first without a word and
left the rule-set hash unchanged. Here every mapping is read as written (before YAML's
merge keys `<<` are applied: a merged key a mapping overrides is meant, not a mistake),
and each key written twice is an error at its second place naming the first. The same
goes for an entry listed twice in `skus.mapping`.
"""

from __future__ import annotations

import yaml

MERGE_TAG = "tag:yaml.org,2002:merge"


def duplicates(root: yaml.Node | None) -> list[tuple[int, int, str]]:
    """Each key (or `skus.mapping` entry) written twice: line, column and message."""
    found: list[tuple[int, int, str]] = []
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, "")] if root is not None else []
    while stack:
        node, where = stack.pop()
        if id(node) in seen:  # an alias: its value was read where its anchor is
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[str, yaml.Node] = {}
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag == MERGE_TAG:
                    stack.append((value, where))
                    continue
                name = str(key.value)
                path = f"{where}.{name}" if where else name
                if name in first:
                    found.append(_twice(key, f"`{name}`", _under(where), first[name]))
                else:
                    first[name] = key
                stack.append((value, path))
        elif isinstance(node, yaml.SequenceNode):
            if where == "skus.mapping":
                found.extend(_entries_twice(node))
            stack.extend((item, f"{where}[{n}]") for n, item in enumerate(node.value))
    return sorted(found)


def _entries_twice(sequence: yaml.SequenceNode) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    first: dict[str, yaml.Node] = {}
    for item in sequence.value:
        if not isinstance(item, yaml.ScalarNode):
            continue
        if item.value in first:
            found.append(_twice(item, f"`{item.value}`", "in `skus.mapping`", first[item.value]))
        else:
            first[item.value] = item
    return found


def _twice(again: yaml.Node, what: str, where: str, first: yaml.Node) -> tuple[int, int, str]:
    line, column = again.start_mark.line + 1, again.start_mark.column + 1
    first_at = f"line {first.start_mark.line + 1}, column {first.start_mark.column + 1}"
    return line, column, f"{what} is written twice {where}: first at {first_at}; keep one (YAML keeps only the last)"


def _under(where: str) -> str:
    return f"under `{where}`" if where else "at the top of the rule set"
