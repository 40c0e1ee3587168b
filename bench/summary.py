"""One table of every figure `make bench` measured, each beside its goal of issue 22.

Reads the JSON lines the scripts wrote (bench/figures.py) and prints them goal by goal,
MET or NOT MET. Exits non-zero, naming it, when a script wrote no figure or a goal of
issue 22 was measured by none: a figure missing is never a goal met.

    .venv/bin/python bench/summary.py [--out output/bench]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.figures import Figure, out_dir, read

# Issue 22's goals, in its order, and the script that measures each.
GOALS: dict[str, tuple[str, str]] = {
    "target_vs_sdk_noop": ("target >= 3x the SDK no-op by CPU, at 50k and 500k", "target_throughput"),
    "target_vs_matched_noop": ("target <= 3x the matched no-op by CPU, at 50k and 500k", "target_throughput"),
    "schema_breaks_caught": ("100% of schema breaks caught", "record_check"),
    "grown_store": ("per-return cost into a 500k store within 10% of a new store", "target_throughput"),
    "drain_1m": ("1M drain over HTTP under 12 s, SQLite and Postgres", "channel_drain"),
    "pull_p95": ("pull p95 under 20 ms, SQLite and Postgres", "channel_drain"),
    "pull_p95_loading": ("pull p95 under 50 ms while a target loads", "channel_drain"),
    "tap_cpu": ("tap CPU <= 1.5x the bare loop", "tap_throughput"),
    "startup": ("plugin start-up under 0.5 s each", "startup"),
    "meltano_sync": ("a one-record Meltano sync under 2.5 s", "meltano_sync"),
    "reconcile_1m": ("reconcile 1M returns against 1M credit notes under 60 s", "reconcile_throughput"),
}
SCRIPTS = sorted({script for _, script in GOALS.values()})


def value(figure: Figure) -> str:
    return f"{figure.value:.2f}{figure.unit}"


def goal(figure: Figure) -> str:
    return f"{'<=' if figure.at_most else '>='} {figure.goal:g}{figure.unit}"


def table(found: dict[str, list[Figure]]) -> tuple[list[str], list[str]]:
    """The table's lines, goal by goal, and what is missing from it (scripts or goals without a figure)."""
    lines = [f"{'figure':<72} {'value':>12} {'goal':>12}  verdict"]
    by_goal: dict[str, list[Figure]] = {}
    for figures in found.values():
        for figure in figures:
            by_goal.setdefault(figure.goal_id, []).append(figure)
    missing = [f"bench/{script}.py wrote no figure" for script in SCRIPTS if not found.get(script)]
    for goal_id, (words, script) in GOALS.items():
        lines.append(f"{words}:")
        if not by_goal.get(goal_id):
            lines.append(f"  {'(not measured)':<70} {'-':>12} {'-':>12}  MISSING")
            missing.append(f"no figure for the goal '{words}' (bench/{script}.py)")
        for figure in by_goal.get(goal_id, []):
            verdict = "MET" if figure.met else "NOT MET"
            lines.append(f"  {figure.figure:<70} {value(figure):>12} {goal(figure):>12}  {verdict}")
    unknown = sorted(set(by_goal) - set(GOALS))
    missing += [f"a figure for no goal of issue 22: {goal_id}" for goal_id in unknown]
    return lines, missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="the folder of figures (default: BENCH_OUT)")
    folder = parser.parse_args().out or out_dir()
    lines, missing = table(read(folder))
    print("\nissue 22's goals, every figure of this run beside its goal")
    print("\n".join(lines))
    if missing:
        print("\n".join(f"MISSING: {what}" for what in missing), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
