"""tap-reveni overrides no private singer-sdk method but those CONTRIBUTING.md says stay, and why."""

from __future__ import annotations

import inspect
import re
from functools import cached_property
from pathlib import Path

import tap_reveni.client
import tap_reveni.pagination
import tap_reveni.streams
import tap_reveni.tap
import tap_reveni.writer

ROOT = Path(__file__).resolve().parent.parent
MODULES = (tap_reveni.client, tap_reveni.pagination, tap_reveni.streams, tap_reveni.tap, tap_reveni.writer)


def private_sdk_overrides() -> set[str]:
    """Each `module.Class._name` of tap_reveni that replaces a private name a singer-sdk base defines."""
    found = set()
    for module in MODULES:
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                continue
            sdk_bases = [base for base in cls.__mro__[1:] if base.__module__.startswith("singer_sdk")]
            for name, value in vars(cls).items():
                method = inspect.isfunction(value) or isinstance(value, (property, cached_property))
                private = name.startswith("_") and not name.startswith("__")
                if method and private and any(name in vars(base) for base in sdk_bases):
                    found.add(f"{module.__name__}.{cls.__name__}.{name}")
    return found


def listed_as_staying() -> set[str]:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    section = text.split("## singer-sdk overrides that stay", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `(tap_reveni\.[\w.]+)`: \S", section, flags=re.MULTILINE))


def test_every_private_singer_sdk_override_of_the_tap_is_listed_with_its_reason() -> None:
    assert private_sdk_overrides() == listed_as_staying()


def test_the_check_sees_a_private_override() -> None:
    """Given the tap as it is, expect the check to find the two that stay (it is not blind)."""
    assert "tap_reveni.streams.ReturnsStream._increment_stream_state" in private_sdk_overrides()
