"""Neither plugin overrides a private singer-sdk method but those CONTRIBUTING.md says stay, and why."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
from functools import cached_property
from pathlib import Path
from types import ModuleType

import tap_reveni.client
import tap_reveni.pagination
import tap_reveni.streams
import tap_reveni.tap
import tap_reveni.writer
import target_khaos_control

ROOT = Path(__file__).resolve().parent.parent
TAP = (tap_reveni.client, tap_reveni.pagination, tap_reveni.streams, tap_reveni.tap, tap_reveni.writer)


def target_modules() -> list[ModuleType]:
    """Every module of target_khaos_control but its migrations and `__main__` (scripts, not libraries)."""
    names = pkgutil.walk_packages(target_khaos_control.__path__, "target_khaos_control.")
    return [
        importlib.import_module(name) for _, name, _ in names if ".migrations" not in name and "__main__" not in name
    ]


def private_sdk_overrides(modules: tuple[ModuleType, ...] | list[ModuleType]) -> set[str]:
    """Each `module.Class._name` of `modules` that replaces a private name a singer-sdk base defines."""
    found = set()
    for module in modules:
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


def listed_as_staying(package: str) -> set[str]:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    section = text.split("## singer-sdk overrides that stay", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(rf"^- `({package}\.[\w.]+)`: \S", section, flags=re.MULTILINE))


def test_every_private_singer_sdk_override_of_the_tap_is_listed_with_its_reason() -> None:
    assert private_sdk_overrides(TAP) == listed_as_staying("tap_reveni")


def test_every_private_singer_sdk_override_of_the_target_is_listed_with_its_reason() -> None:
    assert private_sdk_overrides(target_modules()) == listed_as_staying("target_khaos_control")


def test_the_check_sees_a_private_override() -> None:
    """Given the plugins as they are, expect the check to find overrides that stay (it is not blind)."""
    assert "tap_reveni.streams.ReturnsStream._increment_stream_state" in private_sdk_overrides(TAP)
    assert "target_khaos_control.sinks.ReturnsSink._validate_and_parse" in private_sdk_overrides(target_modules())


def test_a_field_deselected_in_the_catalog_is_still_left_out_of_every_record() -> None:
    """Given Meltano's catalog with `customer` deselected, expect records without it: the fast
    path of `_generate_record_messages` is taken only when every field is selected."""
    catalog = json.loads((ROOT / "tap-reveni" / "catalog.json").read_text())
    for entry in catalog["streams"][0]["metadata"]:
        if entry["breadcrumb"] == ["properties", "customer"]:
            entry["metadata"]["selected"] = False
    config = {"api_key": "k", "store_id": "s"}
    record = {"id": "ret-1", "customer": {"id": "c-1"}, "status": "accepted", "updated_at": "2026-11-20T12:00:00Z"}

    everything = tap_reveni.tap.TapReveni(config=config).streams["returns"]
    deselected = tap_reveni.tap.TapReveni(config=config, catalog=catalog).streams["returns"]

    assert [m.record for m in everything._generate_record_messages(dict(record))] == [record]
    assert [m.record for m in deselected._generate_record_messages(dict(record))] == [
        {"id": "ret-1", "status": "accepted", "updated_at": "2026-11-20T12:00:00Z"}
    ]
