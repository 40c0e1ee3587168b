"""How long the plugins take to start, beside the goals of issue 22.

Runs each command 5 times (after one unmeasured run, so files are in the page cache) and
prints the median wall and CPU time (user + system, the child's own):

- `target-khaos-control --about` and `tap-reveni --about`;
- a one-record run of each: the target loading one return into a store already migrated
  (a scheduled sync's case), the tap reading one return from the Reveni sandbox;
- a one-record scheduled sync through Meltano (`meltano run sync`), tap into target;
- the floor under both plugins: `python -c "import singer_sdk"`, which no plugin built
  on singer-sdk can start faster than.

The plugins are measured as installed in the project's .venv and in Meltano's own
virtualenvs (the ones a scheduled sync runs).

Goals: each plugin's start-up under 0.5 s; a one-record Meltano sync under 2.5 s.
The verdict is by CPU time: on a busy machine (8 engineers, 2 cores) wall time grows with
the load, CPU time barely; on a quiet one the two are close.

    make bench            # or: .venv/bin/python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.servers import BIN, SANDBOX_KEY, ReveniSandbox, target_config

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_GOAL = 0.5
MELTANO_GOAL = 2.5


def measure(
    command: list[str],
    runs: int,
    stdin: Path | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> tuple[float, float]:
    """Median wall and CPU seconds of `command` over `runs` runs (after one to warm up)."""
    walls, cpus = [], []
    for attempt in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        with (stdin or Path(os.devnull)).open("rb") as source:
            subprocess.run(
                command, stdin=source, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, cwd=cwd, env=env
            )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if attempt:
            walls.append(wall)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def line(label: str, figures: tuple[float, float], goal: float | None) -> None:
    wall, cpu = figures
    verdict = "" if goal is None else ("  meets the goal" if cpu < goal else "  MISSES the goal")
    aim = "" if goal is None else f"goal < {goal:.1f} s"
    print(f"{label:<52} {wall:6.2f} s {cpu:6.2f} s   {aim}{verdict}")


def installs() -> list[tuple[str, Path, Path]]:
    """Where the plugins run from: the project's .venv (with the dev tools, whose packages
    singer-sdk's start-up scans too) and, once `make install` built them, Meltano's own
    virtualenvs, which a scheduled sync uses."""
    found = [("the project's .venv", BIN, BIN)]
    target_bin = ROOT / ".meltano" / "loaders" / "target-khaos-control" / "venv" / "bin"
    tap_bin = ROOT / ".meltano" / "extractors" / "tap-reveni" / "venv" / "bin"
    if (target_bin / "target-khaos-control").exists() and (tap_bin / "tap-reveni").exists():
        found.append(("Meltano's plugin virtualenvs (.meltano/)", target_bin, tap_bin))
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    sandbox = ReveniSandbox(returns=1).start()
    try:
        tap_file = work / "tap.json"
        tap_file.write_text(json.dumps(sandbox.tap_config()))
        singer = work / "one.singer"
        with singer.open("wb") as out:
            tap = [str(BIN / "tap-reveni"), "--config", str(tap_file)]
            subprocess.run(tap, stdout=out, stderr=subprocess.DEVNULL, check=True)
        target_file = work / "target.json"
        target_file.write_text(json.dumps(target_config(work)))
        # Migrated once here: each measured run finds the store up to date, as a scheduled sync does.
        target_run = [str(BIN / "target-khaos-control"), "--config", str(target_file)]
        with singer.open("rb") as source:
            subprocess.run(target_run, stdin=source, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        meltano_env = {
            **os.environ,
            "MELTANO_DATABASE_URI": f"sqlite:///{work / 'meltano.db'}",
            "TAP_REVENI_API_URL": sandbox.url,
            "TAP_REVENI_API_KEY": SANDBOX_KEY,
            "TARGET_KHAOS_CONTROL_DATABASE_URL": f"sqlite:///{work / 'meltano-store.db'}",
            "TARGET_KHAOS_CONTROL_EXCEPTIONS_PATH": str(work / "exceptions"),
        }
        print(f"Start-up, median of {args.runs} ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
        print(f"{'':<52} {'wall':>8} {'CPU':>8}")
        for place, target_bin, tap_bin in installs():
            print(place)
            floor = [str(target_bin / "python"), "-c", "import singer_sdk"]
            line("  floor: python -c 'import singer_sdk'", measure(floor, args.runs), None)
            about = [str(target_bin / "target-khaos-control"), "--about"]
            line("  target-khaos-control --about", measure(about, args.runs), PLUGIN_GOAL)
            line("  tap-reveni --about", measure([str(tap_bin / "tap-reveni"), "--about"], args.runs), PLUGIN_GOAL)
            one = [str(target_bin / "target-khaos-control"), "--config", str(target_file)]
            line("  target-khaos-control, one return, migrated store", measure(one, args.runs, singer), PLUGIN_GOAL)
            read = [str(tap_bin / "tap-reveni"), "--config", str(tap_file)]
            line("  tap-reveni, one return from the sandbox", measure(read, args.runs), PLUGIN_GOAL)
        sync = [str(BIN / "meltano"), "--environment", "dev", "run", "sync"]
        print("Meltano")
        line(
            "  meltano run sync, one return (tap into target)",
            measure(sync, args.runs, cwd=ROOT, env=meltano_env),
            MELTANO_GOAL,
        )
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
