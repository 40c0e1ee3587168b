"""What checking one Reveni return costs, by CPU time: the schema check the target runs on
every record (msgspec Structs, `reveni.breaks`), the contract checks beyond it, both
together as the rules run them (`validation.unreadable`), and jsonschema on the tap's
schema for comparison. Records are the demo sandbox's 200 returns, checked over and over.

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


if __name__ == "__main__":
    main()
