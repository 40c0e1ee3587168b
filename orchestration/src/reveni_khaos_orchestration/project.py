"""What the orchestrator runs, read from meltano.yml: each job, its schedules, and its client.

The clients and their names are the project's own (`target_khaos_control.clients`, what
`reveni-khaos clients list` shows): a job feeding a client's loader is that client's. A
`sync*` job must be one: its one task an extractor inheriting from `tap-reveni` and a
loader inheriting from `target-khaos-control`. Any other job (the daily reconciliation)
runs on its schedules too, without a client. A mistake in meltano.yml is an error naming
the file and the job, never a client silently left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import yaml
from target_khaos_control import clients

TAP, LOADER = "tap-reveni", "target-khaos-control"


class ProjectError(ValueError):
    """meltano.yml cannot be turned into jobs and schedules: says what and where."""


@dataclass(frozen=True)
class MeltanoJob:
    """One `jobs:` entry of meltano.yml, with the cron lines of the schedules that run it."""

    name: str
    tasks: tuple[str, ...]
    crons: tuple[str, ...]
    client: str | None  # None: a job that syncs no client (e.g. the reconciliation)


def read_project(project_dir: str | Path) -> list[MeltanoJob]:
    """Every job of the Meltano project in `project_dir`, in the order meltano.yml lists them."""
    file = Path(project_dir) / "meltano.yml"
    try:
        project = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise ProjectError(f"{file}: cannot read the Meltano project ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise ProjectError(f"{file}: not valid YAML: {error}") from None
    plugins = project.get("plugins") or {}
    parents = {
        plugin["name"]: plugin.get("inherit_from", plugin["name"])
        for kind in ("extractors", "loaders")
        for plugin in plugins.get(kind) or []
    }
    crons: dict[str, list[str]] = {}
    for schedule in project.get("schedules") or []:
        if "job" in schedule:  # a schedule of an extractor and loader pair is Meltano's legacy form
            if "interval" not in schedule:
                raise ProjectError(f"{file}: schedule {schedule.get('name')!r} has no `interval` (a cron line)")
            crons.setdefault(schedule["job"], []).append(str(schedule["interval"]))
    try:
        owners = {
            job: client.name
            for client in clients.of_project(cast(clients.MeltanoProject, project), file.parent, {})
            for job in client.jobs
        }
    except (clients.ProjectError, KeyError, TypeError) as error:
        raise ProjectError(f"{file}: its clients cannot be read ({error})") from None
    jobs = []
    for entry in project.get("jobs") or []:
        name, tasks = entry["name"], tuple(_tasks(entry.get("tasks") or []))
        if name.startswith("sync") and not _pairs(tasks, parents):
            raise ProjectError(
                f"{file}: job {name!r} is named like a client's sync but its task is not one "
                f"`{TAP}...` extractor and one `{LOADER}...` loader: {list(tasks)}"
            )
        jobs.append(MeltanoJob(name, tasks, tuple(crons.pop(name, [])), owners.get(name)))
    for job in crons:
        raise ProjectError(f"{file}: a schedule runs job {job!r}, which `jobs:` does not define")
    return jobs


def _tasks(tasks: Any) -> list[str]:
    """A job's tasks as Meltano accepts them: a string, or a list of strings or of lists."""
    if isinstance(tasks, str):
        return [tasks]
    return [" ".join(task) if isinstance(task, list) else str(task) for task in tasks]


def _pairs(tasks: tuple[str, ...], parents: dict[str, str]) -> bool:
    """One task: an extractor of tap-reveni's line, then a loader of target-khaos-control's."""
    blocks = tasks[0].split() if len(tasks) == 1 else []
    return len(blocks) == 2 and _root(blocks[0], parents) == TAP and _root(blocks[1], parents) == LOADER


def _root(plugin: str, parents: dict[str, str]) -> str | None:
    """The plugin a chain of `inherit_from` ends at."""
    seen = {plugin}
    while plugin in parents and parents[plugin] != plugin:
        plugin = parents[plugin]
        if plugin in seen:
            return None
        seen.add(plugin)
    return plugin if plugin in parents else None
