"""The rule set's JSON Schema, and what it refuses said in a consultant's words."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import jsonschema

from target_khaos_control.rules.rules_file import Path_, _Reader

SCHEMA = json.loads((Path(__file__).parent / "ruleset.schema.json").read_text())


def _check_schema(reader: _Reader, data: Any) -> None:
    problems = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data))
    reader.schema_failed = bool(problems)
    missing = {(tuple(p.absolute_path), name) for p in problems if p.validator == "required" for name in _missing(p)}
    for problem in problems:
        where = tuple(problem.absolute_path)
        reader.wrong |= {(*where, name) for name in _missing(problem)} if problem.validator == "required" else set()
        if problem.validator == "additionalProperties" and isinstance(problem.instance, dict):
            allowed = sorted((problem.schema.get("properties") or {}).keys())
            for key in problem.instance:
                if key in allowed:
                    continue
                guess = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean `{guess[0]}`?" if guess else f"the keys here are: {', '.join(allowed)}"
                line, column = reader.keys.get((*where, str(key)), reader.positions.get(where, (1, 1)))
                reader.wrong.add((*where, str(key)))
                reader.at(line, column, f"`{key}` is not a key {_under(where)}: {hint}")
                if guess:
                    missing.discard((where, guess[0]))  # one mistake, one message
        elif problem.validator != "required":
            reader.error(where, _schema_words(problem))
            reader.wrong.add(where)
    for where, name in sorted(missing, key=str):
        reader.error(where, f"`{name}` is missing {_under(where)}")


def _missing(problem: jsonschema.ValidationError) -> list[str]:
    return [name for name in problem.validator_value if name not in (problem.instance or {})]


def _under(where: Path_) -> str:
    if not where:
        return "at the top of the rule set"
    return "under `" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in where).lstrip(".") + "`"


_TYPES = {"string": "text", "integer": "a whole number", "object": "a mapping (`key: value` lines)", "array": "a list"}


def _schema_words(problem: jsonschema.ValidationError) -> str:
    if problem.validator in ("oneOf", "anyOf") and problem.context:
        problem = jsonschema.exceptions.best_match(problem.context)
    value, rule = problem.instance, problem.validator_value
    shown = json.dumps(value, default=str) if not isinstance(value, dict | list) else f"this {type(value).__name__}"
    if problem.validator == "enum":
        return f"{shown} is not allowed here: use one of {', '.join(map(str, rule))}"
    if problem.validator == "const":
        return f"{shown} is not allowed here: it must be {rule}"
    if problem.validator == "type" and rule == "string" and isinstance(value, int | float):
        return f'expected text here, not the number {shown}: put it in quotes, like "20.00", so no digit is lost'
    if problem.validator == "type":
        return f"expected {_TYPES.get(str(rule), rule)} here, not {shown}"
    if problem.validator == "pattern" and "0-9" in str(rule):
        return f'{shown} is not a number written in quotes, like "20.00"'
    if problem.validator in ("minItems", "minProperties", "minLength"):
        return "this must not be empty"
    return str(problem.message)
