"""What the order of Reveni's ids costs: the same returns loaded with their own ids and with ids in arrival order.

target_throughput.py's grown-store figure (new returns into a 500k store against a new one)
is far from its goal (issue 22), and grown_store_pages.py finds the extra pages in the four
B-trees keyed by Reveni's return ids, which are random UUIDs. This measures how far any
redesign of those keys could go. The same new returns are loaded twice:
- with their own ids;
- with each id replaced by a UUID that sorts after every stored id and after the one before
  it, so that every such B-tree takes them at its end, as a tree keyed by arrival order would.

Nothing else in the records changes, and both inputs are written the same way. Loads into a
copy of the grown store and into a new one, interleaved, medians by CPU, each less a run that
only starts (as target_throughput.py does). Then `--new-load` returns into a new store both
ways: the most such a redesign could take off the target's CPU at that size.

    .venv/bin/python bench/grown_store_keys.py [--grown 500000] [--load 10000] [--new-load 50000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from measure import Run, median_run
from target_throughput import capture_tap, grown_store, into_copy, load, migrated

LAST = "ffffffff-ffff-4fff-8fff-"  # a UUID's shape, after any id a store holds


def rewritten(source: Path, into: Path, *, arrival_order: bool) -> Path:
    """`source`'s messages, each RECORD written again (and its id replaced by the next in arrival order)."""
    count = 0
    with source.open(encoding="utf-8") as lines, into.open("w", encoding="utf-8") as out:
        for line in lines:
            message = json.loads(line)
            if message.get("type") == "RECORD":
                count += 1
                if arrival_order:
                    message["record"]["id"] = f"{LAST}{count:012d}"
                line = json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n"
            out.write(line)
    return into


def both_ways(count: int, work: Path, seed: int) -> tuple[Path, Path]:
    """`count` returns of the sandbox's `seed`, with their own ids and with ids in arrival order."""
    captured = capture_tap(count, work, seed=seed)
    own = rewritten(captured, work / f"own-{count}.singer", arrival_order=False)
    return own, rewritten(captured, work / f"ordered-{count}.singer", arrival_order=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grown", type=int, default=500_000, help="returns in the grown store (the bench's cache)")
    parser.add_argument("--load", type=int, default=10_000, help="new returns loaded into it")
    parser.add_argument(
        "--new-load", type=int, default=50_000, help="returns loaded into a new store both ways (0: none)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-keys-"))
    grown = grown_store(args.grown, work)
    own, ordered = both_ways(args.load, work, seed=8)  # a seed the grown store has never seen
    schema_only = work / "schema-only.singer"
    with own.open("rb") as lines:
        schema_only.write_bytes(lines.readline())
    runs: dict[str, list[Run]] = {
        name: [] for name in ("start", "new own", "new ordered", "grown own", "grown ordered")
    }
    for n in range(args.rounds):
        runs["start"].append(load(migrated(work / f"start-{n}"), schema_only))
        for name, stdin in (("own", own), ("ordered", ordered)):
            runs[f"new {name}"].append(load(migrated(work / f"new-{name}-{n}"), stdin))
            runs[f"grown {name}"].append(into_copy(grown, work / f"grown-{name}-{n}", stdin))
    cpu = {name: median_run(each).cpu for name, each in runs.items()}
    print(
        f"{args.load:,} new returns, CPU seconds (medians of {args.rounds}), {cpu['start']:.2f} s of each starting up:"
    )
    for name, label in (("own", "Reveni's own ids"), ("ordered", "ids in arrival order")):
        ratio = (cpu[f"grown {name}"] - cpu["start"]) / (cpu[f"new {name}"] - cpu["start"])
        print(
            f"  {label:21}: into a {args.grown:,} store {cpu[f'grown {name}']:.2f} s, into a new one "
            f"{cpu[f'new {name}']:.2f} s: grown / new {ratio:.2f}x (goal <= 1.1x)"
        )
    if args.new_load:
        own, ordered = both_ways(args.new_load, work, seed=7)
        new: dict[str, list[Run]] = {"own": [], "ordered": []}
        for n in range(args.rounds):
            for name, stdin in (("own", own), ("ordered", ordered)):
                new[name].append(load(migrated(work / f"{args.new_load}-{name}-{n}"), stdin))
        mine, best = (median_run(new[name]).cpu for name in ("own", "ordered"))
        print(
            f"{args.new_load:,} returns into a new store: {mine:.2f} s with Reveni's ids, {best:.2f} s in arrival order "
            f"({1 - best / mine:.1%} less)"
        )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
