"""The code location Dagster loads: `dagster dev -m reveni_khaos_orchestration.location`.

The Meltano project is MELTANO_PROJECT_ROOT (else the working directory) and the
environment MELTANO_ENVIRONMENT (else prod), the same variables Meltano itself reads.
"""

from __future__ import annotations

import os

from reveni_khaos_orchestration.definitions import build_definitions

defs = build_definitions(
    os.environ.get("MELTANO_PROJECT_ROOT") or os.getcwd(),
    os.environ.get("MELTANO_ENVIRONMENT", "prod"),
)
