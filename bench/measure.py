"""How the bench measures: the CPU time of a child process, medians and percentiles.

CPU time (user + system) is what one process costs whatever else the machine is doing;
wall time is printed beside it only where a person waits for it (a drain, a sync).
"""

from __future__ import annotations

import math
import os
import resource
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Run:
    """One child process's cost: wall seconds, CPU seconds (user + system), peak RSS in MB."""

    wall: float
    cpu: float
    peak_mb: float


def children_cpu() -> float:
    """CPU seconds of every child process this one has waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_child(
    command: list[str],
    stdin: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Run:
    """Run `command` to its end (stdin from a file, output dropped); its cost, from the
    RUSAGE_CHILDREN delta (which counts the grandchildren it waited for, e.g. Meltano's plugins)."""
    cpu_before = children_cpu()
    with stdin.open("rb") if stdin else open(os.devnull, "rb") as source, tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdin=source, stdout=subprocess.DEVNULL, stderr=errors, env=env, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            said = errors.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"{' '.join(command[:3])} failed with exit {os.waitstatus_to_exitcode(status)}:\n{said}")
    return Run(wall, children_cpu() - cpu_before, usage.ru_maxrss / 1024)


def median_run(runs: list[Run]) -> Run:
    """Each figure's median over the runs (the median of 3 the bench prints)."""
    return Run(
        statistics.median(r.wall for r in runs),
        statistics.median(r.cpu for r in runs),
        statistics.median(r.peak_mb for r in runs),
    )


def percentile(times: list[float], p: float) -> float:
    """The nearest-rank p-th percentile: the smallest time at least p% of `times` are within."""
    if not times:
        raise ValueError("no times to take a percentile of")
    ordered = sorted(times)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def against(figure: float, goal: float, unit: str, *, at_most: bool = True) -> str:
    """`figure` beside its goal, and whether it meets it."""
    met = figure <= goal if at_most else figure >= goal
    return f"{figure:.2f}{unit} (goal {'<=' if at_most else '>='} {goal:g}{unit}: {'met' if met else 'NOT met'})"
