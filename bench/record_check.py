"""What checking one Reveni return costs, by CPU time: the schema check the target runs on
every record (msgspec Structs, `reveni.breaks`), the contract checks beyond it, both
together as the rules run them (`validation.unreadable`), and jsonschema on the tap's
schema for comparison. Records are the demo sandbox's 200 returns, checked over and over.

Then how many breaks of the tap's schema the check catches (issue 22: 100%): every break
tests/test_reveni_contract.py generates (each kind: type, pattern, format, required, enum,
shape), judged by jsonschema with formats and by the check as the rules run it.

    .venv/bin/python bench/record_check.py [--rounds 50]
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
from reveni_khaos_sandbox.reveni_data import ReturnGenerator
from tap_reveni.schemas import RETURN
from target_khaos_control.reveni import breaks
from target_khaos_control.rules import validation

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import figures
from tests.test_reveni_contract import BREAKS

CAUGHT_GOAL = 100.0  # percent of the breaks jsonschema refuses


def per_record(check: Callable[[dict[str, Any]], Any], records: list[dict[str, Any]], rounds: int) -> float:
    """Microseconds of CPU per record, the best of three."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for _ in range(rounds):
            for record in records:
                check(record)
        best = min(best, time.process_time() - started)
    return best / (rounds * len(records)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    rounds = parser.parse_args().rounds
    generator = ReturnGenerator(seed=7, count=200)
    records = [copy.deepcopy(generator.build(i)) for i in range(200)]
    judge = jsonschema.Draft202012Validator(RETURN, format_checker=jsonschema.FormatChecker())
    print(f"{len(records)} returns, {rounds} rounds; µs of CPU per record:")
    for name, check in (
        ("contract checks only (what the target ran before)", validation._contract),
        ("schema check (msgspec Structs)", breaks),
        ("both, as the rules run them", validation.unreadable),
        ("jsonschema with formats, for comparison", judge.is_valid),
    ):
        print(f"  {name:52} {per_record(check, records, rounds):8.1f}")

    refused = [(path, record) for _, path, record in BREAKS if not judge.is_valid(record)]
    passed = [path for path, record in refused if not validation.unreadable(copy.deepcopy(record))]
    caught = 100 * (len(refused) - len(passed)) / len(refused)
    print(f"breaks of the tap's schema: jsonschema refuses {len(refused)}; the check catches {caught:.1f}%")
    for path in passed[:10]:
        print(f"  passed unchecked: {'.'.join(map(str, path))}")
    figures.record(
        "record_check",
        "schema_breaks_caught",
        f"breaks caught, of {len(refused)} jsonschema refuses",
        caught,
        CAUGHT_GOAL,
        "%",
        at_most=False,
    )


if __name__ == "__main__":
    main()
