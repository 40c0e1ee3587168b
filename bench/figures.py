"""The bench's figures, each beside its goal, kept for the summary table `make bench` ends with.

Each script appends one JSON line a figure to `<BENCH_OUT>/<script>.jsonl` (BENCH_OUT, by
default output/bench): which goal of issue 22 it measures, what was measured, the value,
the goal and whether it was met. bench/summary.py reads them all back into one table.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def out_dir() -> Path:
    """Where the figures of this run go (BENCH_OUT, or output/bench in the project)."""
    return Path(os.environ.get("BENCH_OUT") or ROOT / "output" / "bench")


def cache_dir() -> Path:
    """What the bench builds once and keeps between runs (e.g. a grown store)."""
    return out_dir() / "cache"


@dataclass(frozen=True)
class Figure:
    """One measured figure beside its goal; `at_most` says which side of the goal meets it."""

    script: str
    goal_id: str
    figure: str
    value: float
    goal: float
    unit: str
    at_most: bool = True

    @property
    def met(self) -> bool:
        return self.value <= self.goal if self.at_most else self.value >= self.goal


def record(
    script: str, goal_id: str, figure: str, value: float, goal: float, unit: str, *, at_most: bool = True
) -> Figure:
    """Append one figure to `script`'s file of figures, and return it."""
    found = Figure(script, goal_id, figure, round(value, 4), goal, unit, at_most)
    folder = out_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{script}.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps({**asdict(found), "met": found.met}) + "\n")
    return found


def read(folder: Path) -> dict[str, list[Figure]]:
    """Every script's figures in `folder`, by script; a line that is not a figure is an error naming it."""
    found: dict[str, list[Figure]] = {}
    for path in sorted(folder.glob("*.jsonl")):
        figures = found.setdefault(path.stem, [])
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                fields = json.loads(line)
                fields.pop("met", None)
                figures.append(Figure(**fields))
            except (ValueError, TypeError) as error:
                raise SystemExit(f"{path}:{number}: not a bench figure ({error}): {line[:200]}") from error
    return found
