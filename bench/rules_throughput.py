"""Rule evaluation speed on one core, with the demo rule set over the demo data.

Builds 20,000 Reveni returns in memory with the sandbox's generator, then times
`RuleSet.draft` over all of them (templates compiled once, as in a run) in CPU seconds of
this process, so a busy machine does not count against it. Goal (issue 14): at least
10,000 returns/s on one core. The target's ratio to the no-op target, with the
rules in the path, is measured by bench/target_throughput.py.

    .venv/bin/python bench/rules_throughput.py
"""

from __future__ import annotations

import time
from pathlib import Path

from reveni_khaos_sandbox.reveni_data import ReturnGenerator
from target_khaos_control.rules import Catalogue, load_ruleset

RULES = Path(__file__).resolve().parent.parent / "rules" / "demo"
COUNT = 20_000
GOAL = 10_000  # returns/s


def main() -> None:
    generator = ReturnGenerator(seed=7, count=COUNT)
    returns = [generator.build(i) for i in range(COUNT)]
    ruleset = load_ruleset(RULES)
    catalogue = Catalogue.empty()
    for record in returns[:500]:  # warm up
        ruleset.draft(record, catalogue)
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        lines = sum(len(ruleset.draft(record, catalogue).lines) for record in returns)
        best = min(best, time.process_time() - started)
    print(
        f"rules: {COUNT} returns through the demo rule set: best of 3 {best:.2f} CPU s, "
        f"{COUNT / best:,.0f} returns/s ({lines} document lines), one core; "
        f"ratio to the goal of {GOAL:,}/s: {COUNT / best / GOAL:.2f}"
    )


if __name__ == "__main__":
    main()
