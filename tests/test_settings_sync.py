"""Settings defined once: meltano.yml and both meltano-hub.yml files say what each plugin's
`--about` says, in everything Meltano can say (`make settings` rewrites them)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.settings_sync import PLUGINS, about, hub_settings, required, settings, sync_hub, sync_project

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def infos() -> dict[str, dict[str, Any]]:
    return {name: about(name) for _, name in PLUGINS}


def _differences(written: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> list[str]:
    """Each setting that differs, and how, so the failure says what `make settings` will change."""
    have, want = {s["name"]: s for s in written}, {s["name"]: s for s in wanted}
    found = [f"{name}: missing" for name in want if name not in have]
    found += [f"{name}: not a setting of the plugin" for name in have if name not in want]
    for name in want.keys() & have.keys():
        for key in sorted(want[name].keys() | have[name].keys()):
            if want[name].get(key) != have[name].get(key):
                found.append(f"{name}.{key}: {have[name].get(key)!r}, the plugin says {want[name].get(key)!r}")
    if not found and [s["name"] for s in written] != [s["name"] for s in wanted]:
        found.append("the settings are in another order than the plugin's")
    return sorted(found)


def test_meltano_yml_declares_each_plugins_settings_as_the_plugin_does(infos: dict[str, dict[str, Any]]) -> None:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    for kind, name in PLUGINS:
        plugin = next(p for p in project["plugins"][kind] if p["name"] == name)
        differences = _differences(plugin["settings"], settings(infos[name]))
        assert not differences, f"meltano.yml {name} (run `make settings`): {'; '.join(differences)}"
        assert plugin.get("settings_group_validation", []) == required(infos[name])


def test_each_hub_listing_declares_the_plugins_settings_as_the_plugin_does(infos: dict[str, dict[str, Any]]) -> None:
    for _, name in PLUGINS:
        listing = yaml.safe_load((ROOT / name / "meltano-hub.yml").read_text())
        differences = _differences(listing["settings"], hub_settings(infos[name]))
        assert not differences, f"{name}/meltano-hub.yml (run `make settings`): {'; '.join(differences)}"
        assert listing.get("settings_group_validation", []) == required(infos[name])


def test_the_required_settings_are_the_ones_production_must_be_given(infos: dict[str, dict[str, Any]]) -> None:
    # The same lists as docs/integration.md's "Production settings" (tests/test_production_config.py).
    assert required(infos["tap-reveni"]) == [["api_key", "store_id"]]
    assert required(infos["target-khaos-control"]) == [
        ["database_url", "rules_path", "channel_username", "channel_password", "public_url"]
    ]


def test_a_schema_property_becomes_the_setting_a_person_would_write() -> None:
    info = {
        "settings": {
            "type": "object",
            "required": ["token"],
            "properties": {
                "token": {"type": ["string"], "description": "The key", "secret": True, "writeOnly": True},
                "wait": {"type": ["number", "null"], "default": 1.5, "description": "Seconds"},
                "since": {"type": ["string", "null"], "format": "date-time"},
                "form": {"type": ["string", "null"], "default": "a", "enum": ["a", "b"]},
                "fields": {"type": ["array", "null"], "items": {"type": ["string"]}, "default": ["Surname"]},
                "columns": {"type": ["object", "null"], "additionalProperties": {"type": ["string"]}},
                "stream_maps": {"type": ["object", "null"]},  # singer-sdk's own, known to Meltano
            },
        }
    }

    assert settings(info) == [
        {"name": "token", "kind": "string", "sensitive": True, "description": "The key"},
        {"name": "wait", "kind": "decimal", "value": 1.5, "description": "Seconds"},
        {"name": "since", "kind": "date_iso8601"},
        {
            "name": "form",
            "kind": "options",
            "value": "a",
            "options": [{"label": "a", "value": "a"}, {"label": "b", "value": "b"}],
        },
        {"name": "fields", "kind": "array", "value": ["Surname"]},
        {"name": "columns", "kind": "object"},
    ]
    assert hub_settings(info)[0] == {
        "name": "token",
        "label": "Token",
        "kind": "string",
        "sensitive": True,
        "description": "The key",
    }
    assert required(info) == [["token"]]


def test_a_setting_meltano_has_no_kind_for_is_refused_by_name() -> None:
    info = {"settings": {"properties": {"limit": {"type": ["integer", "string"]}}}}

    with pytest.raises(ValueError, match=r"setting `limit`: no Meltano kind"):
        settings(info)


def test_syncing_rewrites_a_drifted_copy_and_keeps_the_rest_of_meltano_yml(
    infos: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    project, hub = tmp_path / "meltano.yml", tmp_path / "meltano-hub.yml"
    original = (ROOT / "meltano.yml").read_text()
    drifted = original.replace("value: 8803", "value: 8804").replace(
        "description: Returns per pull\n", "description: Returns per pull.\n"
    )
    assert "value: 8804" in drifted  # the given: a default and a description changed by hand
    assert "Returns per pull.\n" in drifted
    project.write_text(drifted)
    shutil.copy(ROOT / "target-khaos-control" / "meltano-hub.yml", hub)
    hub.write_text(hub.read_text().replace("  sensitive: true\n", "", 1))

    sync_project(project, infos)
    sync_hub(hub, infos["target-khaos-control"])

    # Byte for byte: every comment, environment, job and inherited plugin as it was.
    assert project.read_text() == original
    assert hub.read_text() == (ROOT / "target-khaos-control" / "meltano-hub.yml").read_text()


def test_the_capabilities_meltano_and_the_hub_are_told_are_the_plugins_own(infos: dict[str, dict[str, Any]]) -> None:
    # given what each plugin says it can do (the target no longer offers singer-sdk's
    # validate_records or flattening: it checks every record itself, and a flattened record
    # is no Reveni return)
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    for kind, plugin in (("extractors", "tap-reveni"), ("loaders", "target-khaos-control")):
        about = infos[plugin]  # the plugin's own `--about --format=json`
        declared = next(p for p in project["plugins"][kind] if p["name"] == plugin)["capabilities"]
        hub = yaml.safe_load((ROOT / plugin / "meltano-hub.yml").read_text())["capabilities"]

        # expect meltano.yml and the hub listing to claim nothing the plugin does not do
        # (state, catalog and discover are every singer-sdk tap's, not listed by --about)
        assert set(hub) - {"state", "catalog", "discover"} <= set(about["capabilities"]), plugin
        assert set(declared) - {"state", "catalog", "discover"} <= set(about["capabilities"]), plugin
    assert "validate-records" not in about["capabilities"]
