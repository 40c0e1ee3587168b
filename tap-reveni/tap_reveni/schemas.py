"""The JSON Schema of a Reveni return, as `shared/spec/reveni-api.md` describes it.

Written from the target's typed return (`target_khaos_control/reveni.py`) by `make schemas`
into `return.schema.json`, shipped with the tap: the tap stays a package of its own, and
the tap, the target's check and the rules' templates read one definition. Money stays a
decimal string exactly as Reveni sends it ("24.00"): a float would lose pennies before
finance ever sees the figure.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

RETURN: dict[str, Any] = json.loads(files("tap_reveni").joinpath("return.schema.json").read_text(encoding="utf-8"))
