"""What `reveni-khaos clients add | list | check` print: one line per fact, a table, and an
exit code (0 clean, 1 refused or a clash), never a traceback."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from target_khaos_control import clients as project_clients
from target_khaos_control.operations.clients import ClientError, add


def run(args: argparse.Namespace) -> int:
    """Run one `clients` action; returns the exit code."""
    root = Path(args.project)
    try:
        if args.action == "add":
            return _add(root, args.name, Path(args.template) if args.template else None)
        found = project_clients.read(root)
    except (ClientError, project_clients.ProjectError) as error:
        print(f"reveni-khaos clients {args.action}: {error}", file=sys.stderr)
        return 1
    if args.action == "list":
        if args.format == "json":
            print(json.dumps([asdict(client) for client in found], indent=2))
        else:
            _table(found)
        return 0
    clashes = project_clients.clashes(found)
    for clash in clashes:
        print(f"reveni-khaos clients check: {clash}", file=sys.stderr)
    if not clashes:
        names = ", ".join(client.name for client in found)
        print(f"{len(found)} clients ({names}): no two share a store, state id, exceptions path or channel port")
    return 1 if clashes else 0


def _add(root: Path, name: str, template: Path | None) -> int:
    added = add(root, name, template)
    print(
        f"Added client {added.name}: rules in {added.rules}, {added.extractor} and {added.loader} in meltano.yml "
        f"(channel port {added.channel_port}), job {added.job}, schedule {added.schedule}.\n"
        "Next:\n"
        f"  1. Edit {added.rules}/rules.yml for the client, then: reveni-khaos rules validate {added.rules}\n"
        f"  2. In prod, set: {', '.join(added.variables)}\n"
        f"  3. Write its config file: meltano --environment prod invoke --dump=config {added.loader} "
        f"> {added.config_file}\n"
        f"  4. Serve its channel: meltano invoke reveni-khaos:serve-channel-{added.name}; "
        f"sync: meltano --environment prod run {added.job}"
    )
    return 0


def _table(found: list[project_clients.Client]) -> None:
    header = ("client", "environment", "job", "store", "state id", "exceptions path", "port")
    rows = [
        (c.name, env, ", ".join(c.jobs), p.store, p.state_id, p.exceptions_path, p.channel_port)
        for c in found
        for env, p in c.environments.items()
    ]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(value).ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())
