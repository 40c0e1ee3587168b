"""Per-client rules: YAML with sandboxed Jinja, validated before anything runs."""

from __future__ import annotations

from target_khaos_control.rules.catalogue import Catalogue
from target_khaos_control.rules.engine import RuleSet
from target_khaos_control.rules.loader import RuleSetError, load_ruleset

__all__ = ["Catalogue", "RuleSet", "RuleSetError", "load_ruleset"]
