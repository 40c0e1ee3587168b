"""A scheduled one-record sync through Meltano against the same run made directly
(tap-reveni | target-khaos-control), interleaved, median of 3 (issue 22: under 2.5 s).

The Reveni sandbox holds one return. Each round, into a fresh store: `meltano run sync`
as the schedule runs it (with --full-refresh, so each run reads the one return, as the
direct run does), then the tap piped into the target. Meltano's own database is made once
beforehand, as a deployed project's is. Prints wall seconds beside the goal (a sync is
waited for) and CPU seconds of all the processes; the difference is Meltano's own cost.

    .venv/bin/python bench/meltano_sync.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import figures
from bench.measure import Run, against, children_cpu, median_run, run_child
from bench.one_return import one_return
from tests.servers import BIN, SANDBOX_KEY, target_config

ROOT = Path(__file__).resolve().parent.parent
GOAL = 2.5  # seconds, a one-record sync through Meltano


def direct(tap_config: Path, target_config_file: Path) -> Run:
    """tap-reveni piped into target-khaos-control, both to their end."""
    cpu_before, started = children_cpu(), time.perf_counter()
    tap = subprocess.Popen(
        [str(BIN / "tap-reveni"), "--config", str(tap_config)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    target = subprocess.Popen(
        [str(BIN / "target-khaos-control"), "--config", str(target_config_file)],
        stdin=tap.stdout,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert tap.stdout is not None
    tap.stdout.close()  # the target holds the pipe now
    if tap.wait() or target.wait():
        raise SystemExit(f"direct run failed: tap exit {tap.returncode}, target exit {target.returncode}")
    return Run(time.perf_counter() - started, children_cpu() - cpu_before, 0.0)


def store(work: Path, name: str) -> str:
    """A fresh SQLite store for one run."""
    return f"sqlite:///{work / name}.db"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    with one_return("bench-meltano-") as (sandbox, work, tap_config):
        meltano = [str(BIN / "meltano"), "--environment", "dev", "run", "--full-refresh", "sync"]
        env = {
            **os.environ,
            "MELTANO_DATABASE_URI": f"sqlite:///{work / 'meltano.db'}",
            "TAP_REVENI_API_URL": sandbox.url,
            "TAP_REVENI_API_KEY": SANDBOX_KEY,
            "TARGET_KHAOS_CONTROL_EXCEPTIONS_PATH": str(work / "exceptions"),
        }
        run_child(meltano, env={**env, "TARGET_KHAOS_CONTROL_DATABASE_URL": store(work, "warm-up")}, cwd=ROOT)
        through_meltano, directly = [], []
        for n in range(rounds):
            through_meltano.append(
                run_child(
                    meltano, env={**env, "TARGET_KHAOS_CONTROL_DATABASE_URL": store(work, f"meltano-{n}")}, cwd=ROOT
                )
            )
            folder = work / f"direct-{n}"
            folder.mkdir()
            config = folder / "target.json"
            config.write_text(json.dumps(target_config(folder)))
            directly.append(direct(tap_config, config))
    melt, bare = median_run(through_meltano), median_run(directly)
    print(f"a one-record sync, median of {rounds} interleaved runs, each into a fresh store")
    print(f"  through Meltano (meltano run sync): {against(melt.wall, GOAL, ' s')}; CPU {melt.cpu:.2f} s")
    print(f"  direct (tap-reveni | target-khaos-control): {bare.wall:.2f} s; CPU {bare.cpu:.2f} s")
    figures.record("meltano_sync", "meltano_sync", "one-record sync through Meltano, wall", melt.wall, GOAL, " s")
    print(f"  Meltano's own part: {melt.wall - bare.wall:.2f} s wall, {melt.cpu - bare.cpu:.2f} s CPU")


if __name__ == "__main__":
    main()
