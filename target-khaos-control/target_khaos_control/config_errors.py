"""Config errors that name the setting and what is wrong with it, never a secret's value.

jsonschema's messages start with the value (`98765432101234 is not of type 'string'`);
singer-sdk prints them as they are. A setting the schema marks `secret` gets a message
built from the rule it broke instead. (tap-reveni has the same few lines: the
two plugins are installed apart and share no code; tests/test_config_errors_twins.py holds
the two equal.)

A missing setting is named with the environment variable that sets it, as Meltano derives
it from the plugin's name (`TARGET_KHAOS_CONTROL__ACME_RULES_PATH` for an inherited plugin),
and all problems are given in one message: `SystemExit`, so no traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft7Validator, ValidationError

# `scheme://user:password@`: the password of any URL a message shows (a database_url given
# with the wrong type is printed by jsonschema's message) becomes `***`.
URL_PASSWORD = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^/\s:@'\"]*:)[^@\s'\"]*@")


def without_passwords(text: str) -> str:
    """`text` with the password of every URL in it shown as `***`."""
    return URL_PASSWORD.sub(r"\1***@", text)


def refusal(plugin: str, kind: str, schema: Mapping[str, Any], config: Mapping[str, object]) -> SystemExit:
    """Every problem with the config in one message; `kind` is Meltano's (extractor, loader)."""
    name = os.environ.get(f"MELTANO_{kind.upper()}_NAME", plugin)
    prefix = name.upper().replace("-", "_")
    errors = list(Draft7Validator(schema).iter_errors(config))
    problems = [
        f"`{missing}` is missing: set {prefix}_{missing.upper()}"
        for error in errors
        if error.validator == "required"
        for missing in error.validator_value
        if missing not in error.instance
    ]
    problems += [_describe(error, schema) for error in errors if error.validator != "required"]
    return SystemExit(without_passwords(f"{name}: the config is not usable: " + "; ".join(dict.fromkeys(problems))))


def _describe(error: ValidationError, schema: Mapping[str, Any]) -> str:
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
