"""Config errors that name the setting and what is wrong with it, never a secret's value.

jsonschema's messages start with the value (`98765432101234 is not of type 'string'`);
singer-sdk prints them as they are. A setting the schema marks `secret` gets a message
built from the rule it broke instead. (tap-reveni has the same few lines: the
two plugins are installed apart and share no code.)
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft7Validator, ValidationError


def config_errors(schema: dict[str, Any], config: dict[str, Any]) -> list[str]:
    return [_describe(error, schema) for error in Draft7Validator(schema).iter_errors(config)]


def _describe(error: ValidationError, schema: dict[str, Any]) -> str:
    path = list(error.path)
    where = f" in config[{']['.join(repr(part) for part in path)}]" if path else ""
    if path and schema.get("properties", {}).get(path[0], {}).get("secret"):
        rule = error.validator_value
        wanted = (
            f"of type {' or '.join(rule) if isinstance(rule, list) else rule}"
            if error.validator == "type"
            else f"{error.validator} {rule!r}"
        )
        return f"the value given (a secret, so not shown) is not {wanted}{where}"
    return f"{error.message}{where}"
