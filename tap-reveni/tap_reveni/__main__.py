"""Run the tap with `python -m tap_reveni`."""

from __future__ import annotations

from tap_reveni.cli import main

main()
