"""`reveni-khaos clients add | list | check`: a client is one thing, added in one command.

`add NAME` writes everything a client needs into the project, as Acme's is written by
hand: its rule folder from a template, its tap and loader in `meltano.yml` (inheriting
the first client's) with its own store, exceptions folder and channel port, its settings
in every environment (dev: its own sandbox and SQLite store; prod: every value from its
own variables, never the first client's), a command serving its channel from its config
file, its job and its schedule. `meltano.yml` is edited round-trip, comments kept; nothing
is written unless all of it can be, and the result is checked for clashes first.
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml as safe_yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from target_khaos_control import clients as project_clients
from target_khaos_control.clients import LOADER

NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
TAP = "tap-reveni"
PORT_STEP = 10  # client k: Reveni sandbox 8801 + 10k, channel 8803 + 10k (demo 0, acme 1)
PROD_FROM_VARIABLES = {
    "extractors": ("api_key", "store_id"),
    "loaders": (
        "database_url",
        "channel_username",
        "channel_password",
        "public_url",
        "dashboard_username",
        "dashboard_password",
        "alert_webhook_url",
    ),
}


class ClientError(ValueError):
    """The client cannot be added as asked; nothing was written."""


@dataclass(frozen=True)
class Added:
    """What `add` wrote, for the person who ran it."""

    name: str
    rules: Path
    extractor: str
    loader: str
    job: str
    schedule: str
    channel_port: int
    config_file: str
    variables: list[str]


def variable(plugin: str, setting: str) -> str:
    """The environment variable Meltano reads for a plugin's setting."""
    return f"{plugin.upper().replace('-', '_')}_{setting.upper()}"


def add(root: Path, name: str, template: Path | None = None) -> Added:
    """Add client `name` to the project at `root`; refuse, writing nothing, what would clash."""
    if not NAME.match(name):
        raise ClientError(f"{name!r} is not a client name: lower-case letters, digits and single dashes, e.g. acme")
    rules, source = root / "rules" / name, template or root / "rules" / "demo"
    if rules.exists():
        raise ClientError(f"{rules} already exists: a client's rule folder is never overwritten or nested into")
    if not (source / "rules.yml").is_file():
        raise ClientError(f"{source} holds no rules.yml: name a rule folder to start from with --template")
    existing = project_clients.read(root, {})  # as declared: ports and names are taken from meltano.yml
    if any(client.name == name for client in existing):
        raise ClientError(f"client {name!r} is already in {root / 'meltano.yml'}")
    extractor, loader = f"{TAP}--{name}", f"{LOADER}--{name}"
    slot = _free_slot(existing)
    port = 8803 + PORT_STEP * slot

    yaml = _yaml()
    path = root / "meltano.yml"
    project = yaml.load(path.read_text(encoding="utf-8"))
    taken = {p["name"] for kind in ("extractors", "loaders") for p in project["plugins"].get(kind) or []}
    taken |= {job["name"] for job in project.get("jobs") or []}
    job, schedule = f"sync-{name}", f"sync-{name}-every-15-minutes"
    clash = {extractor, loader, job} & taken
    if clash:
        raise ClientError(f"{', '.join(sorted(clash))} already in {path}: choose another client name")

    _plugin(project["plugins"]["extractors"], extractor, TAP, {})
    _plugin(
        project["plugins"]["loaders"],
        loader,
        LOADER,
        {
            "client": name,
            "rules_path": f"rules/{name}",
            "exceptions_path": f"output/{name}/exceptions",
            "channel_port": port,
        },
    )
    config_file = f"{name}-config.json"  # git-ignored (*-config.json): it holds the channel's password
    commands = _utility(project).setdefault("commands", CommentedMap())
    commands[f"serve-channel-{name}"] = CommentedMap(
        args=f"serve --config {config_file}", description=f"{name}'s channel and dashboard, from its config file."
    )
    project.setdefault("jobs", CommentedSeq()).append(CommentedMap(name=job, tasks=[f"{extractor} {loader}"]))
    project.setdefault("schedules", CommentedSeq()).append(
        CommentedMap(name=schedule, interval="*/15 * * * *", job=job)
    )
    variables = []
    for environment in project.get("environments") or []:
        plugins = environment.setdefault("config", CommentedMap()).setdefault("plugins", CommentedMap())
        if environment["name"] == "prod":
            for kind, plugin in (("extractors", extractor), ("loaders", loader)):
                settings = {s: f"${variable(plugin, s)}" for s in PROD_FROM_VARIABLES[kind]}
                variables += [value[1:] for value in settings.values()]
                _entry(plugins, kind, plugin, settings)
        else:  # dev and any other: its own sandbox and its own SQLite store
            _entry(
                plugins,
                "extractors",
                extractor,
                {"api_url": f"http://127.0.0.1:{8801 + PORT_STEP * slot}", "store_id": f"{name}-store"},
            )
            _entry(
                plugins,
                "loaders",
                loader,
                {"database_url": f"sqlite:///output/{name}/reveni-khaos.db", "public_url": f"http://127.0.0.1:{port}"},
            )

    written = io.StringIO()
    yaml.dump(project, written)
    _refuse_clashes(root, written.getvalue(), name)
    shutil.copytree(source, rules)
    _rename_rules(rules / "rules.yml", source.name, name)
    path.write_text(written.getvalue(), encoding="utf-8")
    return Added(name, rules, extractor, loader, job, schedule, port, config_file, variables)


def _yaml() -> YAML:
    yaml = YAML()  # round-trip: comments, order and quoting kept
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line
    yaml.indent(mapping=2, sequence=2, offset=0)
    return yaml


def _free_slot(existing: list[project_clients.Client]) -> int:
    ports = {p.channel_port for client in existing for p in client.environments.values()}
    slot = 0
    while str(8803 + PORT_STEP * slot) in ports:
        slot += 1
    return slot


def _plugin(listing: Any, name: str, parent: str, config: Mapping[str, object]) -> None:
    entry = CommentedMap(name=name, inherit_from=parent)
    if config:
        entry["config"] = CommentedMap(config)
    listing.append(entry)


def _utility(project: Any) -> Any:
    for utility in project["plugins"].get("utilities") or []:
        if utility["name"] == "reveni-khaos":
            return utility
    raise ClientError("meltano.yml has no `reveni-khaos` utility to give the client's serve command to")


def _entry(plugins: Any, kind: str, name: str, config: Mapping[str, object]) -> None:
    plugins.setdefault(kind, CommentedSeq()).append(CommentedMap(name=name, config=CommentedMap(config)))


def _refuse_clashes(root: Path, text: str, name: str) -> None:
    """Read the edited project as the target will: refuse if `name` would share anything."""
    edited = project_clients.of_project(safe_yaml.safe_load(text), root, {})
    mine = [str(clash) for clash in project_clients.clashes(edited) if name in (clash.first, clash.second)]
    if mine:
        raise ClientError("; ".join(mine))


def _rename_rules(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"^client: .*$", f"client: {new}", text, count=1, flags=re.MULTILINE)
    path.write_text(text.replace(f"rules/{old}", f"rules/{new}"), encoding="utf-8")
