"""Writes each plugin's `settings:` in meltano.yml and its meltano-hub.yml from the plugin itself.

The plugin's settings schema (`tap_reveni/tap.py`, `target_khaos_control/settings.py`), as
`--about --format=json` prints it, is the one definition: names, kinds, descriptions,
defaults, secrets, allowed values and the required ones. `make settings` runs this after
a setting changes; tests/test_settings_sync.py fails while a copy differs. Only the
`settings:` and `settings_group_validation:` of the two plugins are rewritten, comments
and everything else kept (a project's own values belong in `config:`, not in a default).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = (("extractors", "tap-reveni"), ("loaders", "target-khaos-control"))

# singer-sdk adds these to every tap's or target's `--about`; Meltano knows them already.
SDK_BUILT_IN = frozenset(
    {
        "stream_maps",
        "stream_map_config",
        "faker_config",
        "flattening_enabled",
        "flattening_max_depth",
        "flattening_max_key_length",
        "flattening_separator",
        "batch_config",
        "add_record_metadata",
        "load_method",
        "validate_records",
        "batch_size_rows",
        "process_activate_version_messages",
    }
)
KINDS = {"string": "string", "integer": "integer", "number": "decimal", "boolean": "boolean"}
KINDS |= {"array": "array", "object": "object"}


def about(executable: str) -> dict[str, Any]:
    """The plugin's `--about --format=json`, run from the same virtualenv as this script."""
    command = [str(Path(sys.executable).parent / executable), "--about", "--format=json"]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    info: dict[str, Any] = json.loads(done.stdout)
    return info


def setting(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """One Meltano setting definition from one property of the plugin's settings schema."""
    types = [
        kind for kind in ([schema["type"]] if isinstance(schema["type"], str) else schema["type"]) if kind != "null"
    ]
    if len(types) != 1 or types[0] not in KINDS:
        raise ValueError(f"setting `{name}`: no Meltano kind for JSON schema type {schema['type']!r}")
    kind = KINDS[types[0]]
    if "enum" in schema:
        kind = "options"
    elif schema.get("format") == "date-time":
        kind = "date_iso8601"
    found: dict[str, Any] = {"name": name, "kind": kind}
    if "default" in schema:
        found["value"] = schema["default"]
    if "enum" in schema:
        found["options"] = [{"label": str(value), "value": value} for value in schema["enum"]]
    if schema.get("secret") or schema.get("writeOnly"):
        found["sensitive"] = True
    if schema.get("description"):
        found["description"] = schema["description"]
    return found


def settings(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The plugin's own settings, in its schema's order, as meltano.yml declares them."""
    properties: dict[str, Any] = info["settings"]["properties"]
    return [setting(name, schema) for name, schema in properties.items() if name not in SDK_BUILT_IN]


def required(info: dict[str, Any]) -> list[list[str]]:
    """Meltano's way of saying which settings a run needs: one group, the schema's `required`."""
    names: list[str] = info["settings"].get("required", [])
    return [list(names)] if names else []


def hub_settings(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The settings as the Hub lists them: each with a label (the Hub requires one)."""
    return [{"name": s["name"], "label": _label(s["name"]), **s} for s in settings(info)]


def _label(name: str) -> str:
    return " ".join(word.capitalize() for word in name.split("_"))


def _yaml() -> YAML:
    yaml = YAML()  # round trip: comments, key order and quotes kept
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long description
    yaml.indent(mapping=2, sequence=2, offset=0)
    return yaml


def _commented(value: Any) -> Any:
    """Plain data as ruamel nodes: each option written on one line, as a person would."""
    if isinstance(value, dict):
        node = CommentedMap((k, _commented(v)) for k, v in value.items())
        if set(value) == {"label", "value"}:
            node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        items = CommentedSeq(_commented(v) for v in value)
        if all(isinstance(v, str) for v in value):
            items.fa.set_flow_style()  # a group of setting names, a default list of fields
        return items
    return value


def _replace(node: CommentedMap, key: str, value: list[Any]) -> None:
    """Set `key` keeping a comment that followed its old value (ruamel hangs it on the last item)."""
    old = node.get(key)
    trailing = _trailing_comment(old)
    if value and key not in node and "settings" in node:
        node.insert(list(node).index("settings"), key, _commented(value))  # before, as written by hand
    elif value:
        node[key] = _commented(value)
        if trailing is not None:
            last = node[key][-1]
            last.ca.items[list(last)[-1]] = trailing
    elif key in node:
        del node[key]


def _trailing_comment(old: Any) -> Any:
    if not isinstance(old, CommentedSeq) or not old or not isinstance(old[-1], CommentedMap):
        return None
    last = old[-1]
    return last.ca.items.get(list(last)[-1])


def sync_project(path: Path, infos: dict[str, dict[str, Any]]) -> None:
    """Rewrite the two plugins' settings in meltano.yml at `path`, everything else as it was."""
    yaml = _yaml()
    project = yaml.load(path.read_text(encoding="utf-8"))
    for kind, name in PLUGINS:
        plugin = next(p for p in project["plugins"][kind] if p["name"] == name)
        _replace(plugin, "settings_group_validation", required(infos[name]))
        _replace(plugin, "settings", settings(infos[name]))
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(project, out)


def sync_hub(path: Path, info: dict[str, Any]) -> None:
    """Rewrite one plugin's meltano-hub.yml settings at `path`, everything else as it was."""
    yaml = _yaml()
    listing = yaml.load(path.read_text(encoding="utf-8"))
    _replace(listing, "settings_group_validation", required(info))
    _replace(listing, "settings", hub_settings(info))
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(listing, out)


def main() -> None:
    """`make settings`: meltano.yml and both meltano-hub.yml files from the plugins' `--about`."""
    infos = {name: about(name) for _, name in PLUGINS}
    sync_project(ROOT / "meltano.yml", infos)
    for _, name in PLUGINS:
        sync_hub(ROOT / name / "meltano-hub.yml", infos[name])
    print("meltano.yml and the meltano-hub.yml files now match the plugins' settings")


if __name__ == "__main__":
    main()
