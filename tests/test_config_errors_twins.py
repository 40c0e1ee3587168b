"""The tap's and the target's config errors are one logic written twice, and stay so.

The two plugins install apart (each in its own Meltano venv) and share no code, so each
carries `config_errors.py`; these tests fail the day the two copies drift.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from tap_reveni import config_errors as tap_errors
from target_khaos_control import config_errors as target_errors

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "api_key": {"type": "string", "secret": True},
        "store_id": {"type": "string"},
        "page_size": {"type": "integer", "minimum": 1},
        "form": {"type": "string", "enum": ["docs", "flat"]},
    },
    "required": ["api_key", "store_id"],
}


def test_the_description_of_one_problem_is_the_same_source_in_both_plugins() -> None:
    """Given both copies, expect `_describe` to read the same to the letter."""
    assert inspect.getsource(tap_errors._describe) == inspect.getsource(target_errors._describe)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"api_key": "k"},
            "tap-reveni: the config is not usable: `store_id` is missing: set TAP_REVENI_STORE_ID",
        ),
        (
            {"api_key": 98765432101234, "store_id": "s"},
            "tap-reveni: the config is not usable: the value given (a secret, so not shown) "
            "is not of type string in config['api_key']",
        ),
        (
            {"api_key": "k", "store_id": "s", "page_size": 0, "form": "xml"},
            "tap-reveni: the config is not usable: 0 is less than the minimum of 1 in config['page_size']; "
            "'xml' is not one of ['docs', 'flat'] in config['form']",
        ),
    ],
)
def test_both_plugins_refuse_a_config_in_the_same_words(
    config: dict[str, Any], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a bad config without URLs, expect the tap and the target to say the same."""
    monkeypatch.delenv("MELTANO_EXTRACTOR_NAME", raising=False)
    assert str(tap_errors.refusal("tap-reveni", "extractor", SCHEMA, config)) == expected
    assert str(target_errors.refusal("tap-reveni", "extractor", SCHEMA, config)) == expected
