"""The `tap-reveni` command: singer-sdk and the tap load with the garbage collector paused.

Start-up allocates much and frees little (modules, classes, compiled patterns): collecting
while they load was an eighth of the tap's start-up CPU (issue 22). Once loaded, what
start-up made is frozen out of collection for the run (`tap.main`).
"""

from __future__ import annotations

import gc


def main() -> None:
    """`tap-reveni`: the tap's command (`tap.main`), loaded with the garbage collector paused."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        from tap_reveni.tap import main as run
    finally:
        if collecting:
            gc.enable()
    run()
