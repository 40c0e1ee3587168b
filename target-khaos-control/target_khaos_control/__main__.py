"""Run the target with `python -m target_khaos_control`."""

from __future__ import annotations

from target_khaos_control.command import main

main()
