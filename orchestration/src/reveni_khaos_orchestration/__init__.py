"""Every client's Meltano sync on its schedule, from Dagster: one run per client at a time."""

from __future__ import annotations
