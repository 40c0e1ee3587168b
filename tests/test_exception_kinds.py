"""One registry of exception kinds: each has its owner, fix and doc row; nothing raises an
unregistered kind; a client overrides only the kinds it names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from target_khaos_control.exception_kinds import KINDS, Owner, Routing, Severity
from target_khaos_control.rules import load_ruleset

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "target-khaos-control" / "target_khaos_control"


@pytest.mark.parametrize("name", sorted(KINDS))
def test_every_kind_has_a_fix_and_a_row_in_its_owners_page(name: str) -> None:
    kind = KINDS[name]
    assert kind.title.strip()
    assert kind.suggested_fix.strip()
    page = ROOT / "docs" / kind.doc
    rows = [line for line in page.read_text().splitlines() if line.startswith("|")]
    assert any(line.startswith(f"| `{name}`") for line in rows), f"{page} has no table row for `{name}`"


def _raised_kinds() -> set[str]:
    """Every string literal handed to the places that raise exceptions."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name in {"problem", "Problem"} and node.args and isinstance(node.args[0], ast.Constant):
                    found.add(str(node.args[0].value))
    reconcile = (PACKAGE / "operations" / "reconciliation" / "report.py").read_text()
    found |= set(re.findall(r'\(\s*"([a-z_]+)",\s*\n\s*"', reconcile))
    return found


def test_every_kind_raised_in_the_code_is_registered() -> None:
    raised = _raised_kinds()
    assert {"unknown_reason", "sku_not_found", "khaos_import_failed"} <= raised  # the scan sees both places
    assert raised <= set(KINDS), f"unregistered: {sorted(raised - set(KINDS))}"


def test_a_client_overrides_only_what_it_names() -> None:
    routing = Routing({"value_mismatch": {"severity": "high"}, "sku_not_found": {"owner": "cx"}})
    assert routing.route("value_mismatch") == ("finance", "high")
    assert routing.route("sku_not_found") == ("cx", "high")
    assert routing.route("unknown_reason") == ("cx", "high")  # the registry's default


def test_acme_overrides_one_kind_and_keeps_every_default() -> None:
    ruleset = load_ruleset(ROOT / "rules" / "acme")
    assert ruleset.routing.route("value_mismatch") == (Owner.FINANCE, Severity.HIGH)
    assert ruleset.routing.route("missing_tax_code") == (Owner.FINANCE, Severity.HIGH)
