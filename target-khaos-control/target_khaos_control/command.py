"""The `target-khaos-control` command: the target, started with the garbage collector off."""

from __future__ import annotations

import gc


def main() -> None:
    """Run the target as the command Meltano calls."""
    # What start-up loads (singer-sdk, SQLAlchemy, the rules) lives until the process ends,
    # so a collection while loading it would only walk it again and again: about 50 ms of
    # CPU on each run (issue 22; bench/startup.py). The target turns the collector back on
    # once started (TargetKhaosControl.__init__), so a long run collects as usual.
    gc.disable()
    from target_khaos_control.target import TargetKhaosControl

    TargetKhaosControl.cli()
