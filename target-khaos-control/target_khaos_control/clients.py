"""The project's clients, as `meltano.yml` declares them, and what each must never share.

A client is one loader (`target-khaos-control` or one inheriting it) with the tap its
job feeds it from, its job and schedule, and, in each environment, its store, its Meltano
state id, its exceptions folder and its channel port. `read` returns them for any Python
caller (`reveni-khaos clients list`, an orchestrator); `clashes` finds two clients that
would share one of those four things, and the target and `serve` refuse to start on one.

A setting is resolved as Meltano does: the plugin's own environment variable, then its
`meltano.yml` value in the environment, then outside any environment, then the same for
the plugin it inherits from, then the setting's default. A `$VARIABLE` still unset is
kept as written: two clients reading the same variable share whatever it will hold.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypedDict, cast

import sqlalchemy as sa
import yaml

LOADER = "target-khaos-control"
SHARED = ("store", "state id", "exceptions path", "channel port")
DEFAULTS = {"exceptions_path": "output/exceptions", "channel_port": "8803"}
PLUGIN_VARIABLES = ("TARGET_KHAOS_CONTROL_", "TAP_REVENI_")
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass(frozen=True)
class Placement:
    """Where one client's data lives in one environment."""

    store: str  # the database URL, its password hidden
    state_id: str
    exceptions_path: str
    channel_port: str
    settings: dict[str, str] = field(default_factory=dict)  # every resolved loader setting (secrets hidden)


@dataclass(frozen=True)
class Client:
    """One client: its plugins, job and schedule, and its placement in each environment."""

    name: str
    extractor: str
    loader: str
    jobs: list[str]
    schedules: list[str]
    environments: dict[str, Placement]


@dataclass(frozen=True)
class Clash:
    """Two clients that would share something that must be theirs alone."""

    environment: str
    what: str  # one of SHARED
    value: str
    first: str
    second: str

    def __str__(self) -> str:
        """The clash in words, and what to do: give each client its own."""
        return (
            f"{self.environment}: clients {self.first!r} and {self.second!r} would share one {self.what} "
            f"({self.value}); give each its own"
        )


SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
PluginKind = Literal["extractors", "loaders", "utilities"]


class Setting(TypedDict, total=False):
    """A setting a plugin declares in meltano.yml, with its default `value`."""

    name: str
    value: object


class Plugin(TypedDict, total=False):
    """An extractor, loader or utility of meltano.yml (or its config in an environment)."""

    name: str
    inherit_from: str
    config: dict[str, object]
    settings: list[Setting]


class Plugins(TypedDict, total=False):
    """The plugins of a project or of one environment's config, by kind."""

    extractors: list[Plugin]
    loaders: list[Plugin]
    utilities: list[Plugin]


class EnvironmentConfig(TypedDict, total=False):
    """What one environment sets."""

    plugins: Plugins


class Environment(TypedDict, total=False):
    """An environment of meltano.yml (dev, prod)."""

    name: str
    config: EnvironmentConfig


class Job(TypedDict, total=False):
    """A job: its tasks, one string, a list, or a list of lists."""

    name: str
    tasks: str | list[str | list[str]]


class Schedule(TypedDict, total=False):
    """A schedule: the job it runs, and when."""

    name: str
    job: str
    interval: str


class MeltanoProject(TypedDict, total=False):
    """meltano.yml, the parts that say who the clients are (read as written: any part may be missing)."""

    plugins: Plugins
    environments: list[Environment]
    jobs: list[Job]
    schedules: list[Schedule]


class ProjectError(ValueError):
    """meltano.yml cannot be read as a project of clients."""


def load_project(root: Path) -> MeltanoProject:
    """meltano.yml as data (read-only: `clients add` edits it keeping its comments)."""
    path = root / "meltano.yml"
    try:
        # libyaml's safe loader, as the rules' (rules/loader.py): read at every target start,
        # meltano.yml costs 15 ms in pure Python, under 2 ms with it.
        project = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER)  # noqa: S506 - a safe loader
    except OSError as error:
        raise ProjectError(f"{path}: cannot read ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise ProjectError(f"{path}: not valid YAML ({error})") from None
    if not isinstance(project, dict):
        raise ProjectError(f"{path}: expected a Meltano project")
    return cast(MeltanoProject, project)  # as written: the readers below take each part as they find it


def read(root: Path = Path(), environ: Mapping[str, str] | None = None) -> list[Client]:
    """Every client of the project at `root`, with its settings resolved per environment."""
    return of_project(load_project(root), root, os.environ if environ is None else environ)


def of_project(project: MeltanoProject, root: Path, environ: Mapping[str, str]) -> list[Client]:
    """Every client of a project already read (`meltano.yml` as data), paths taken from `root`."""
    kinds: tuple[PluginKind, ...] = ("extractors", "loaders")
    plugins = {p["name"]: p for kind in kinds for p in _listed(project.get("plugins"), kind)}
    loaders = [p["name"] for p in _listed(project.get("plugins"), "loaders") if _is_ours(p["name"], plugins)]
    environments = [e["name"] for e in project.get("environments") or []]
    jobs = {job["name"]: [task.split() for task in _tasks(job)] for job in project.get("jobs") or []}
    clients = []
    for loader in loaders:
        mine = {name: tasks for name, tasks in jobs.items() if any(task[-1:] == [loader] for task in tasks)}
        extractor = next((task[0] for tasks in mine.values() for task in tasks if task[-1:] == [loader]), "")
        placements = {}
        for env in environments:
            values = {
                name: _resolved(project, plugins, loader, name, env, environ)
                for name in ("client", "rules_path", "database_url", "exceptions_path", "channel_port", "public_url")
            }
            placements[env] = Placement(
                store=_store(values["database_url"], root),
                state_id=f"{env}:{extractor}-to-{loader}",
                exceptions_path=_folder(values["exceptions_path"], root),
                channel_port=values["channel_port"],
                settings={k: v for k, v in values.items() if k != "database_url"} | {"database_url": _masked(values)},
            )
        first = next(iter(placements.values()), None)
        name = (first.settings.get("client") if first else "") or Path(
            (first.settings.get("rules_path") if first else "") or loader
        ).name
        clients.append(
            Client(
                name=name,
                extractor=extractor,
                loader=loader,
                jobs=sorted(mine),
                schedules=sorted(s["name"] for s in project.get("schedules") or [] if s.get("job") in mine),
                environments=placements,
            )
        )
    return clients


def clashes(clients: list[Client]) -> list[Clash]:
    """Every pair of clients that would share a store, state id, exceptions path or channel port."""
    found = []
    for env in sorted({env for client in clients for env in client.environments}):
        for what in SHARED:
            owners: dict[str, str] = {}
            for client in clients:
                placement = client.environments.get(env)
                if placement is None:
                    continue
                value = getattr(placement, what.replace(" ", "_"))
                if value in owners:
                    found.append(Clash(env, what, value, owners[value], client.name))
                else:
                    owners[value] = client.name
    return found


def project_root() -> Path | None:
    """The Meltano project this process runs in: Meltano says so, or one is in the working folder."""
    named = os.environ.get("MELTANO_PROJECT_ROOT")
    if named:
        return Path(named)
    return Path.cwd() if (Path.cwd() / "meltano.yml").is_file() else None


def clash_for(client: str, environment: str | None = None) -> str | None:
    """Why `client` must not start in this project (a clash naming both clients), or None."""
    root = project_root()
    if root is None:
        return None
    # Meltano hands a plugin its own settings as these variables, whichever client it runs:
    # here they would make every client look like this one. meltano.yml's values, as written,
    # are compared (`clients check`, in a shell, compares the variables' values too).
    declared = {name: value for name, value in os.environ.items() if not name.startswith(PLUGIN_VARIABLES)}
    try:
        found = clashes(read(root, declared))
    except (ProjectError, KeyError, TypeError):
        return None  # not a project of clients (a plain config file's run): nothing to compare
    mine = [c for c in found if client in (c.first, c.second) and environment in (None, c.environment)]
    if not mine:
        return None
    listed = "; ".join(str(clash) for clash in mine)
    return f"{listed} (meltano.yml in {root}; `reveni-khaos clients check` lists every clash)"


def _listed(plugins: Plugins | None, kind: PluginKind) -> Iterator[Plugin]:
    """The named plugins of one kind; a section that is no mapping or list has none."""
    found = plugins.get(kind) if isinstance(plugins, dict) else None
    yield from (item for item in found or [] if isinstance(item, dict) and "name" in item)


def _tasks(job: Job) -> list[str]:
    """A job's tasks as strings: Meltano takes one string, a list, or a list of lists."""
    tasks = job.get("tasks") or []
    found: list[str] = []
    for task in [tasks] if isinstance(tasks, str) else tasks:
        found += [task] if isinstance(task, str) else [" ".join(str(part) for part in task)]
    return found


def _is_ours(name: str, plugins: Mapping[str, Plugin]) -> bool:
    seen = set()
    while name and name not in seen:
        if name == LOADER:
            return True
        seen.add(name)
        name = str((plugins.get(name) or {}).get("inherit_from") or "")
    return False


def _resolved(
    project: MeltanoProject,
    plugins: Mapping[str, Plugin],
    plugin: str,
    setting: str,
    env: str,
    environ: Mapping[str, str],
) -> str:
    variable = f"{plugin.upper().replace('-', '_')}_{setting.upper()}"
    if environ.get(variable):
        return environ[variable]
    for config in (_env_config(project, plugin, env), plugins.get(plugin, {}).get("config") or {}):
        if config.get(setting) not in (None, ""):
            return _expanded(str(config[setting]), environ)
    parent = (plugins.get(plugin) or {}).get("inherit_from")
    if parent and parent in plugins:
        return _resolved(project, plugins, parent, setting, env, environ)
    declared = next((s for s in plugins.get(plugin, {}).get("settings") or [] if s.get("name") == setting), None)
    default = declared.get("value", DEFAULTS.get(setting)) if declared is not None else DEFAULTS.get(setting)
    if default is None:
        # Unset everywhere: the store is whatever the variable will hold, for every client reading it.
        return f"${variable}" if setting == "database_url" else ""
    return str(default)


def _env_config(project: MeltanoProject, plugin: str, env: str) -> dict[str, object]:
    for environment in project.get("environments") or []:
        if environment.get("name") == env:
            config = environment.get("config")
            kinds: tuple[PluginKind, ...] = ("extractors", "loaders", "utilities")
            for kind in kinds:
                for entry in _listed(config.get("plugins") if isinstance(config, dict) else None, kind):
                    if entry["name"] == plugin:
                        return entry.get("config") or {}
    return {}


def _expanded(value: str, environ: Mapping[str, str]) -> str:
    """`$VAR` and `${VAR}` from the environment when set; kept as written when not."""
    return _VARIABLE.sub(lambda m: environ.get(m[1] or m[2], m[0]), value)


def _store(url: str, root: Path) -> str:
    """One form per store: a SQLite file by its absolute path, any other by its URL (no password)."""
    if not url:
        return "(no database_url)"
    if url.startswith("$"):
        return url
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        return url
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return f"sqlite:///{(root / str(parsed.database)).resolve()}"
    return parsed.set(drivername=parsed.get_backend_name()).render_as_string(hide_password=True)


def _folder(path: str, root: Path) -> str:
    return str((root / path).resolve()) if path and not path.startswith("$") else path


def _masked(values: Mapping[str, str]) -> str:
    url = values["database_url"]
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url
