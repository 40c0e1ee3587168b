"""How long the plugins take to start, beside issue 22's goal: under 0.5 s each.

Each command runs once unmeasured (files into the page cache), then `--runs` times (5 by
default); prints the median wall and CPU seconds (user + system, bench/measure.py) of:

- `target-khaos-control --about` and `tap-reveni --about`;
- a one-record run of each: the target loading one return into a store already migrated
  (a scheduled sync's case), the tap reading one return from the Reveni sandbox;
- the floor under both: `python -c "import singer_sdk"`, which no plugin built on
  singer-sdk can start faster than.

The plugins are measured as installed in the project's .venv and in Meltano's own
virtualenvs (the ones a scheduled sync runs); a whole sync through Meltano is
bench/meltano_sync.py's. The verdict is by CPU time: on a busy machine wall time grows
with the load, CPU time barely; on a quiet one the two are close.

Each command runs with its compiled bytecode cached (in the work folder, as the warm-up
run leaves it), as a deployed plugin runs: the image (Dockerfile) lets Python write it. With
PYTHONDONTWRITEBYTECODE set in the shell, every run would compile the project's own
modules again (about 50 ms): a cost of that shell, not of the plugins.

    make bench            # or: .venv/bin/python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import figures
from bench.measure import Run, against, median_run, run_child
from bench.one_return import one_return
from tests.servers import BIN, target_config

ROOT = Path(__file__).resolve().parent.parent
GOAL = 0.5  # seconds, each plugin's start-up


def cached_bytecode(work: Path) -> dict[str, str]:
    """This environment, with compiled modules kept under `work` (never in the source tree)."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(work / "bytecode")}


def measure(command: list[str], runs: int, stdin: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """The median of `runs` runs of `command`, after one to warm up (which also compiles)."""
    run_child(command, stdin, env)
    return median_run([run_child(command, stdin, env) for _ in range(runs)])


def line(label: str, run: Run, goal: float | None = GOAL, place: str = "") -> None:
    verdict = f"CPU {against(run.cpu, goal, ' s')}" if goal else f"CPU {run.cpu:.2f} s"
    print(f"  {label:<50} wall {run.wall:.2f} s; {verdict}")
    if goal:
        figures.record("startup", "startup", f"{label} ({place}), CPU", run.cpu, goal, " s")


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with one_return("bench-startup-") as (_, work, tap_file):
        singer = work / "one.singer"
        with singer.open("wb") as out:
            tap = [str(BIN / "tap-reveni"), "--config", str(tap_file)]
            subprocess.run(tap, stdout=out, stderr=subprocess.DEVNULL, check=True)
        target_file = work / "target.json"
        target_file.write_text(json.dumps(target_config(work)))
        # Migrated once here: each measured run finds the store up to date, as a scheduled sync does.
        run_child([str(BIN / "target-khaos-control"), "--config", str(target_file)], singer)
        env = cached_bytecode(work)
        print(f"Start-up, median of {runs} runs ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f})")
        for place, target_bin, tap_bin in installs():
            print(place)
            where = "Meltano's venv" if "Meltano" in place else ".venv"
            line(
                "floor: python -c 'import singer_sdk'",
                measure([str(target_bin / "python"), "-c", "import singer_sdk"], runs, env=env),
                None,
            )
            about = measure([str(target_bin / "target-khaos-control"), "--about"], runs, env=env)
            line("target-khaos-control --about", about, place=where)
            line("tap-reveni --about", measure([str(tap_bin / "tap-reveni"), "--about"], runs, env=env), place=where)
            one = [str(target_bin / "target-khaos-control"), "--config", str(target_file)]
            line("target-khaos-control, one return, migrated store", measure(one, runs, singer, env), place=where)
            if os.environ.get("PYTHONDONTWRITEBYTECODE"):  # what this shell alone would cost, for comparison
                line("  the same, compiling as this shell does", measure(one, runs, singer), None)
            line(
                "tap-reveni, one return from the sandbox",
                measure([str(tap_bin / "tap-reveni"), "--config", str(tap_file)], runs, env=env),
                place=where,
            )


if __name__ == "__main__":
    main()
