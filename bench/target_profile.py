"""Where target-khaos-control spends its time: a profile of one run on 50,000 returns.

Captures tap-reveni's output once, runs the target on it under cProfile into a fresh
store, and prints the functions that cost most by their own time, then by cumulative
time. This is how issue 14 found what to take out (validation, undone date parsing,
template renders, JSON); run it again after a change to see what is left.

    .venv/bin/python bench/target_profile.py [--returns 50000] [--top 25]
"""

from __future__ import annotations

import argparse
import json
import pstats
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from target_throughput import capture_tap

from tests.servers import BIN, target_config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--returns", type=int, default=50_000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    source = capture_tap(args.returns, work)
    config = work / "target.json"
    config.write_text(json.dumps(target_config(work)))
    profile = work / "target.prof"
    with source.open("rb") as stdin:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "cProfile",
                "-o",
                str(profile),
                str(BIN / "target-khaos-control"),
                "--config",
                str(config),
            ],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
    stats = pstats.Stats(str(profile))
    stats.strip_dirs()
    print(f"target-khaos-control on {args.returns:,} returns under cProfile: top {args.top} by own time")
    stats.sort_stats("tottime").print_stats(args.top)
    print(f"top {args.top} by cumulative time")
    stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
