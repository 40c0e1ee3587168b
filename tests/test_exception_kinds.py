"""One enum of exception kinds: each member carries its owner, heading, fix and doc page and
has a row on its owner's page; a client overrides only the kinds it names. Every place
that raises one takes a `Kind` (mypy checks each), so no scan of the source is needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from target_khaos_control.exception_kinds import KINDS, Kind, Owner, Severity, kind
from target_khaos_control.exception_routing import Routing
from target_khaos_control.rules import load_ruleset

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("member", list(Kind), ids=str)
def test_every_kind_has_a_fix_and_a_row_on_its_owners_page(member: Kind) -> None:
    assert member.heading.strip()
    assert member.suggested_fix.strip()
    assert member.doc == f"{member.owner}.md", "a kind is explained on its owner's page"
    page = ROOT / "docs" / member.doc
    rows = [line for line in page.read_text().splitlines() if line.startswith("|")]
    assert any(line.startswith(f"| `{member}`") for line in rows), f"{page} has no table row for `{member}`"


@pytest.mark.parametrize("member", list(Kind), ids=str)
def test_the_name_a_kind_is_stored_under_is_its_member_name(member: Kind) -> None:
    # stored rows, docs and clients' rules.yml name kinds by these strings: renaming one is
    # renaming the member, in plain sight
    assert member.value == member.name.lower()
    assert KINDS[member.value] is member is kind(member.value)


def test_stored_names_read_back_as_the_kinds_they_name() -> None:
    stored: str = "sku_not_found"  # as a row of the store holds it
    assert stored == Kind.SKU_NOT_FOUND
    assert (Kind.SKU_NOT_FOUND.owner, Kind.SKU_NOT_FOUND.severity) == (Owner.WAREHOUSE, Severity.HIGH)
    assert not Kind.FIELD_TOO_LONG.holds, "cut to fit by default: the item goes"
    assert f"exception:{Kind.UNKNOWN_REASON}" == "exception:unknown_reason"  # as a draft's outcome says it
    with pytest.raises(KeyError, match="'sku_missing' is not registered"):
        kind("sku_missing")


def test_a_client_overrides_only_what_it_names() -> None:
    routing = Routing({"value_mismatch": {"severity": "high"}, "sku_not_found": {"owner": "cx"}})
    assert routing.route(Kind.VALUE_MISMATCH) == ("finance", "high")
    assert routing.route(Kind.SKU_NOT_FOUND) == ("cx", "high")
    assert routing.route(Kind.UNKNOWN_REASON) == ("cx", "high")  # the registry's default


def test_a_client_cannot_route_a_kind_that_does_not_exist() -> None:
    with pytest.raises(KeyError, match="'sku_missing' is not registered"):
        Routing({"sku_missing": {"owner": "cx"}})


def test_acme_overrides_one_kind_and_keeps_every_default() -> None:
    ruleset = load_ruleset(ROOT / "rules" / "acme")
    assert ruleset.routing.route(Kind.VALUE_MISMATCH) == (Owner.FINANCE, Severity.HIGH)
    assert ruleset.routing.route(Kind.MISSING_TAX_CODE) == (Owner.FINANCE, Severity.HIGH)
