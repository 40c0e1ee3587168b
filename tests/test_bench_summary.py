"""The table `make bench` ends with: every goal of issue 22 beside its figure, none missing.

Checks the plumbing on a fixture of figures (no timing here: speed belongs in bench/).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench import figures, summary

ROOT = Path(__file__).resolve().parent.parent
ISSUE_22_GOALS = [
    "target >= 3x the SDK no-op by CPU, at 50k and 500k",
    "target <= 3x the matched no-op by CPU, at 50k and 500k",
    "100% of schema breaks caught",
    "per-return cost into a 500k store within 10% of a new store",
    "1M drain over HTTP under 12 s, SQLite and Postgres",
    "pull p95 under 20 ms, SQLite and Postgres",
    "pull p95 under 50 ms while a target loads",
    "tap CPU <= 1.5x the bare loop",
    "plugin start-up under 0.5 s each",
    "a one-record Meltano sync under 2.5 s",
    "reconcile 1M returns against 1M credit notes under 60 s",
]


def a_figure(script: str, goal_id: str, value: float, goal: float, *, at_most: bool = True) -> str:
    met = value <= goal if at_most else value >= goal
    fields = {"script": script, "goal_id": goal_id, "figure": f"{goal_id} measured", "value": value}
    return json.dumps({**fields, "goal": goal, "unit": " s", "at_most": at_most, "met": met})


def every_goal_measured(folder: Path) -> None:
    """One figure a goal, each in its script's file; the tap's misses its goal."""
    for goal_id, (_, script) in summary.GOALS.items():
        value = 2.3 if goal_id == "tap_cpu" else 0.4
        with (folder / f"{script}.jsonl").open("a") as out:
            out.write(a_figure(script, goal_id, value, 1.5) + "\n")


def test_the_table_names_every_goal_of_issue_22_beside_its_figure_and_verdict(tmp_path: Path) -> None:
    # given every script's figures
    every_goal_measured(tmp_path)
    # when the summary reads them
    lines, missing = summary.table(figures.read(tmp_path))
    text = "\n".join(lines)
    # expect each goal of the issue named, its figure beside it, and nothing missing
    for goal in ISSUE_22_GOALS:
        assert f"{goal}:" in text
    figure_lines = [line for line in lines if line.startswith("  ")]
    assert len(figure_lines) == 11
    assert [line for line in figure_lines if line.endswith("NOT MET")] == [
        f"  {'tap_cpu measured':<70} {'2.30 s':>12} {'<= 1.5 s':>12}  NOT MET"
    ]
    assert missing == []


def test_a_script_that_wrote_no_figure_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # given every figure but the start-up script's, whose file is there but empty
    every_goal_measured(tmp_path)
    (tmp_path / "startup.jsonl").write_text("")
    # when the summary runs
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.argv", ["summary.py", "--out", str(tmp_path)])
        status = summary.main()
    # expect it to fail, naming the script and the goal left unmeasured
    said = capsys.readouterr()
    assert status == 1
    assert "MISSING: bench/startup.py wrote no figure" in said.err
    assert "MISSING: no figure for the goal 'plugin start-up under 0.5 s each'" in said.err
    assert "plugin start-up under 0.5 s each:\n  (not measured)" in said.out


def test_a_script_with_no_file_at_all_is_refused(tmp_path: Path) -> None:
    every_goal_measured(tmp_path)
    (tmp_path / "record_check.jsonl").unlink()
    _, missing = summary.table(figures.read(tmp_path))
    assert "bench/record_check.py wrote no figure" in missing


def test_a_figure_for_no_goal_of_the_issue_is_refused(tmp_path: Path) -> None:
    every_goal_measured(tmp_path)
    with (tmp_path / "startup.jsonl").open("a") as out:
        out.write(a_figure("startup", "start_up", 0.3, 0.5) + "\n")  # a misspelt goal
    _, missing = summary.table(figures.read(tmp_path))
    assert missing == ["a figure for no goal of issue 22: start_up"]


def test_a_line_that_is_not_a_figure_is_an_error_naming_where(tmp_path: Path) -> None:
    (tmp_path / "meltano_sync.jsonl").write_text(a_figure("meltano_sync", "meltano_sync", 2.1, 2.5) + "\n{oops\n")
    with pytest.raises(SystemExit, match=r"meltano_sync\.jsonl:2: not a bench figure"):
        figures.read(tmp_path)


def test_a_recorded_figure_is_read_back_with_its_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given the bench's output folder set for this run
    monkeypatch.setenv("BENCH_OUT", str(tmp_path))
    # when a script records a ratio that must be at least 3 and is 2.5
    figures.record("target_throughput", "target_vs_sdk_noop", "ratio at 50,000", 2.5, 3.0, "x", at_most=False)
    # expect it in the script's file, read back as not met
    [line] = (tmp_path / "target_throughput.jsonl").read_text().splitlines()
    assert json.loads(line)["met"] is False
    [figure] = figures.read(tmp_path)["target_throughput"]
    assert (figure.figure, figure.value, figure.goal, figure.met) == ("ratio at 50,000", 2.5, 3.0, False)


def test_every_goal_is_recorded_by_its_script_and_every_script_runs_in_both_benches() -> None:
    # the goal ids each script passes to figures.record, read from its source
    recorded: dict[str, set[str]] = {}
    for path in (ROOT / "bench").glob("*.py"):
        for script, goal_id in re.findall(r'figures\.record\(\s*"(\w+)",\s*"(\w+)"', path.read_text()):
            assert script == path.stem, f"{path.name} records figures as {script}"
            recorded.setdefault(script, set()).add(goal_id)
    for goal_id, (_, script) in summary.GOALS.items():
        assert goal_id in recorded.get(script, set()), f"bench/{script}.py records no figure for {goal_id}"
    makefile = (ROOT / "Makefile").read_text()
    for target in ("bench:", "bench-quick:"):
        recipe = makefile.split(f"\n{target}", 1)[1].split("\n\n", 1)[0]
        for script in [*summary.SCRIPTS, *recorded, "summary"]:  # every script that records a figure
            assert f"bench/{script}.py" in recipe, f"make {target[:-1]} does not run bench/{script}.py"
