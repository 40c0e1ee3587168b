"""Exceptions that come with their fix (issue 21): given open exceptions in a store and a
client's rule set with comments, expect ranked proposals with their evidence, `fix accept`
that keeps the comments, validates, runs the golden cases, shows the impact and replays,
a file left as it was on any failure, rejections that stick, and money left to people."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from starlette.testclient import TestClient
from target_khaos_control import publishing
from target_khaos_control.channel.app import Channel
from target_khaos_control.channel.pushes import save_order_statuses, save_stock_upload
from target_khaos_control.operations import commands, fix_commands
from target_khaos_control.proposals import propose
from target_khaos_control.proposals.reasons import reason_proposals
from target_khaos_control.rules import Catalogue, load_ruleset
from target_khaos_control.rules.editing import EditError, apply_edit
from target_khaos_control.rules.golden import build_return
from target_khaos_control.settings import ChannelSettings
from target_khaos_control.store import exceptions, now, open_store, proposal_decisions

from tests.in_process import CliCommand

RULES = Path(__file__).resolve().parent.parent / "rules"
BASE = yaml.safe_load((RULES / "acme" / "tests" / "base.yaml").read_text())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's rules folder: clients acme and demo."""
    shutil.copytree(RULES, tmp_path / "rules")
    return tmp_path / "rules"


def _store(tmp_path: Path) -> sa.Engine:
    return open_store(f"sqlite:///{tmp_path / 'store.db'}")


def _load(engine: sa.Engine, client: Path, *returns: dict[str, Any]) -> None:
    """What the target does with a batch of Reveni returns, under `client`'s rules."""
    ruleset = load_ruleset(client)
    with engine.begin() as conn:
        catalogue = Catalogue.read(conn)
        publishing.apply_returns(conn, [(r, ruleset.draft(r, catalogue)) for r in returns], now())


def _return(return_id: str, **item: Any) -> dict[str, Any]:
    return build_return(BASE, {"id": return_id, "return_items": [item]})


def _open(engine: sa.Engine) -> list[tuple[str, str]]:
    """The open exceptions, but for finance's refund difference that each held item also
    raises (the refund is paid, the item not credited): it goes when the item does."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(exceptions.c.kind, exceptions.c.return_id).where(
                exceptions.c.status == "open", exceptions.c.kind != "refund_credit_difference"
            )
        )
        return sorted((kind, return_id) for kind, return_id in rows)


def _proposals(engine: sa.Engine, client: Path) -> list[Any]:
    with engine.connect() as conn:
        return propose(conn, client)


def test_accepting_a_reason_keeps_the_comments_checks_the_rules_and_resolves_its_exceptions(
    tmp_path: Path, project: Path
) -> None:
    engine, acme = _store(tmp_path), project / "acme"
    defective = {"return_reason": {"code": "defective", "label": "Defective"}}
    _load(engine, acme, _return("ret-1", **defective), _return("ret-2", **defective))
    before = (acme / "rules.yml").read_text()
    assert _open(engine) == [("unknown_reason", "ret-1"), ("unknown_reason", "ret-2")]

    top = _proposals(engine, acme)[0]
    # Acme writes faulty goods off (its rule for `faulty`), so a defective item is written off too.
    assert (top.subject, top.edit.where, top.edit.value) == (
        "defective",
        "reasons[+]",
        {"reason": "defective", "khaos_reason": "5", "disposition": "write_off"},
    )
    assert top.likely
    assert any("'faulty'" in why for why in top.evidence)
    out = io.StringIO()
    assert fix_commands.accept(engine, str(acme), top.id, dry_run=False, by="ana", out=out) == 0

    after = (acme / "rules.yml").read_text()
    assert after.startswith(before.split("\ntax:")[0])  # everything before the new rule as it was
    assert "  - reason: faulty               # Acme does not refurbish: faulty goods are written off" in after
    today = f"{now():%Y-%m-%d}"
    assert (
        f"  - reason: defective            # accepted by ana on {today} (fix {top.id})\n"
        '    khaos_reason: "5"\n    disposition: write_off\n\ntax:'
    ) in after
    assert after.split("\ntax:")[1] == before.split("\ntax:")[1]  # and everything after it
    shown = out.getvalue()
    assert "valid rule set for 'acme'" in shown
    assert "golden cases: 4 passed, 0 failed" in shown
    assert "impact: 2 of 2 return(s) released; money that moves: +48.00 GBP" in shown
    assert "4 exceptions resolved, 0 still open" in shown  # with the refund differences they raised
    assert _open(engine) == []
    with engine.connect() as conn:
        decided = conn.execute(sa.select(proposal_decisions)).one()
    assert (decided.proposal_id, decided.decision, decided.decided_by, decided.subject) == (
        top.id,
        "accepted",
        "ana",
        "defective",
    )


def test_a_change_that_breaks_a_golden_case_leaves_the_file_as_it_was(tmp_path: Path, project: Path) -> None:
    engine, acme = _store(tmp_path), project / "acme"
    # The client's own case says `defective` must stay an exception: the proposal breaks it.
    (acme / "tests" / "defective.yaml").write_text(
        "- name: defective goods wait for a person\n"
        "  given: {return: {return_items: [{return_reason: {code: defective, label: Defective}}]}}\n"
        "  expect: {exceptions: [{kind: unknown_reason, owner: cx, item: item-1}]}\n"
    )
    _load(engine, acme, _return("ret-1", return_reason={"code": "defective", "label": "Defective"}))
    before = (acme / "rules.yml").read_bytes()
    top = _proposals(engine, acme)[0]

    out = io.StringIO()
    assert fix_commands.accept(engine, str(acme), top.id, dry_run=False, by="ana", out=out) == 1

    assert "FAIL defective.yaml: defective goods wait for a person" in out.getvalue()
    assert f"{acme / 'rules.yml'} is unchanged" in out.getvalue()
    assert (acme / "rules.yml").read_bytes() == before
    assert sorted(p.name for p in acme.iterdir()) == ["rules.yml", "tests"]  # no trial file left behind
    assert _open(engine) == [("unknown_reason", "ret-1")]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(proposal_decisions)).scalar() == 0


def test_a_dry_run_shows_the_diff_and_writes_nothing(tmp_path: Path, project: Path) -> None:
    engine, acme = _store(tmp_path), project / "acme"
    _load(engine, acme, _return("ret-1", return_reason={"code": "defective", "label": "Defective"}))
    before = (acme / "rules.yml").read_bytes()
    top = _proposals(engine, acme)[0]

    out = io.StringIO()
    assert fix_commands.accept(engine, str(acme), top.id, dry_run=True, by="ana", out=out) == 0

    assert out.getvalue().splitlines()[:2] == ["--- a/rules.yml", "+++ b/rules.yml"]
    assert f"+  - reason: defective            # accepted by ana on {now():%Y-%m-%d} (fix {top.id})\n" in out.getvalue()
    assert '+    khaos_reason: "5"\n+    disposition: write_off\n' in out.getvalue()
    assert (acme / "rules.yml").read_bytes() == before
    assert _open(engine) == [("unknown_reason", "ret-1")]


def test_a_rejected_proposal_is_not_offered_again(tmp_path: Path, project: Path) -> None:
    engine, acme = _store(tmp_path), project / "acme"
    _load(engine, acme, _return("ret-1", return_reason={"code": "defective", "label": "Defective"}))
    offered = _proposals(engine, acme)
    assert len(offered) >= 2

    assert fix_commands.reject(engine, str(acme), offered[0].id, by="ben", out=io.StringIO()) == 0
    # The same reason again, on another return: still not offered.
    _load(engine, acme, _return("ret-2", return_reason={"code": "defective", "label": "Defective"}))

    again = _proposals(engine, acme)
    assert [p.id for p in again] == [p.id for p in offered[1:]]
    assert set(again[0].exceptions) == {"unknown_reason:ret-1:item-1", "unknown_reason:ret-2:item-1"}
    with engine.connect() as conn:
        decided = conn.execute(sa.select(proposal_decisions)).one()
    assert (decided.decision, decided.decided_by, decided.path) == ("rejected", "ben", "reasons[+]")


def test_a_mapping_accepted_for_one_client_ranks_first_for_the_same_code_at_another(
    tmp_path: Path, project: Path
) -> None:
    acme, demo = project / "acme", project / "demo"
    acme_store, demo_store = _store(tmp_path / "acme"), _store(tmp_path / "demo")  # one store per client
    defective = {"return_reason": {"code": "defective", "label": "Defective"}}
    _load(acme_store, acme, _return("ret-1", **defective))
    _load(demo_store, demo, _return("ret-9", **defective))
    before = _proposals(demo_store, demo)[0]
    # Demo quarantines faulty goods (its own rule for `faulty`): on its own evidence, Faulty.
    assert before.edit.value == {"reason": "defective", "khaos_reason": "2", "disposition": "quarantine"}
    accepted = _proposals(acme_store, acme)[0]
    assert fix_commands.accept(acme_store, str(acme), accepted.id, dry_run=False, by="ana", out=io.StringIO()) == 0

    top = _proposals(demo_store, demo)[0]

    # Operators wrote defective goods off at acme: that ranks first at demo now.
    assert top.edit.value == {"reason": "defective", "khaos_reason": "5", "disposition": "write_off"}
    assert top.evidence[0] == (
        f"ana accepted 'defective' as Khaos reason \u201cDamaged by customer\u201d for acme on {now():%Y-%m-%d}"
    )


def test_a_reason_another_client_quarantines_is_never_proposed_for_restocking() -> None:
    this = yaml.safe_load((RULES / "demo" / "rules.yml").read_text())
    other = yaml.safe_load((RULES / "demo" / "rules.yml").read_text())
    other["reasons"].append({"reason": "changed_mind_used", "khaos_reason": "2", "disposition": "quarantine"})

    found = reason_proposals("demo", this, "changed_mind_used", "Changed mind (worn)", [("outlet", other)])

    # Alike `changed_mind` (restock) in words, but the other client quarantines worn goods.
    values = [p.edit.value for p in found if p.edit is not None]
    assert len(values) == len(found)
    assert values[0]["khaos_reason"] == "2"
    assert [v["disposition"] for v in values if v["disposition"] == "restock"] == []
    assert "not restocked: outlet quarantines it" in found[0].evidence


def test_only_a_clear_first_proposal_is_ever_likely() -> None:
    demo = yaml.safe_load((RULES / "demo" / "rules.yml").read_text())

    # "Damaged": faulty (demo's `faulty` rule), or the Khaos reason "Damaged by customer"?
    found = reason_proposals("demo", demo, "damaged", "Damaged", [])

    assert [(p.meaning, p.likely) for p in found] == [
        ("Faulty|quarantine", False),
        ("Damaged by customer|write_off", False),
    ]


def test_a_renamed_stock_code_is_proposed_as_an_alias_and_accepted(tmp_path: Path, project: Path) -> None:
    engine, acme = _store(tmp_path), project / "acme"
    for code in ("JEAN-IND-32", "JEANS-INDIGO-32"):  # Khaos renamed the item: same StockID, new code
        save_stock_upload(engine, {"Items": [_stock_item("2001", code, "Slim jeans indigo 32", "505600000055")]}, now())
    _load(engine, acme, _return("ret-1", sku="JEAN-IND-32", ean="", name="Slim jeans indigo 32", tax_rate="20.00"))
    assert _open(engine) == [("sku_renamed_needs_review", "ret-1")]

    top = _proposals(engine, acme)[0]
    assert (top.edit.where, top.edit.value, top.likely) == ("skus.aliases.JEAN-IND-32", "JEANS-INDIGO-32", True)
    assert top.evidence[0] == "Khaos renamed 'JEAN-IND-32' to 'JEANS-INDIGO-32' (the same StockID 2001)"
    assert fix_commands.accept(engine, str(acme), top.id, dry_run=False, by="ana", out=io.StringIO()) == 0

    assert "    JEAN-IND-32: JEANS-INDIGO-32\n" in (acme / "rules.yml").read_text()
    assert "aliases:                        # SKUs Reveni still sends" in (acme / "rules.yml").read_text()
    assert _open(engine) == []


def test_a_finance_kind_gets_advice_and_never_a_rule_edit(tmp_path: Path, project: Path) -> None:
    engine, acme = _store(tmp_path), project / "acme"
    rules = (acme / "rules.yml").read_text().replace('    - {rate: "5.00", code: "3"}\n', "")
    (acme / "rules.yml").write_text(rules)
    _load(engine, acme, _return("ret-1", tax_rate="5.00", tax="1.14"))
    assert _open(engine) == [("missing_tax_code", "ret-1")]

    advice = _proposals(engine, acme)[0]
    assert (advice.edit.where, advice.edit.value) == ("tax.rates[+]", {"rate": "5.00", "code": "3"})
    assert advice.for_people
    assert advice.command == ""
    out = io.StringIO()
    assert fix_commands.accept(engine, str(acme), advice.id, dry_run=False, by="ana", out=out) == 1

    assert "is not accepted by command: it would change what Khaos credits, so it is finance's" in out.getvalue()
    assert (acme / "rules.yml").read_text() == rules
    assert _open(engine) == [("missing_tax_code", "ret-1")]


def test_a_customers_urn_is_proposed_only_where_khaos_pushed_it(tmp_path: Path, project: Path) -> None:
    engine, acme = _store(tmp_path), project / "acme"
    newcomer = build_return(BASE, {"id": "ret-1", "customer": {"email": "New.Customer@example.com"}})
    stranger = build_return(BASE, {"id": "ret-2", "customer": {"email": "stranger@example.com"}})
    _load(engine, acme, newcomer, stranger)
    assert _open(engine) == [("customer_not_found", "ret-1"), ("customer_not_found", "ret-2")]
    order = {"OrderID": "9001", "OrderCode": "SO9001", "Status": "Complete", "AssociatedRef": "5123400056"}
    customer = {"URN": "CUST0042", "Customer": {"Email": "new.customer@example.com"}}
    save_order_statuses(engine, {"Statuses": [order | customer]}, now())

    found = _proposals(engine, acme)

    # The rules look the URN up by the email in lower case: the new row is keyed so.
    assert [(p.subject, p.edit.where if p.edit else "", p.edit.value if p.edit else None) for p in found] == [
        ("New.Customer@example.com", "tables.customer_urns.new.customer@example.com", "CUST0042")
    ]
    assert found[0].evidence == ("Khaos pushed order SO9001 of New.Customer@example.com under URN CUST0042",)
    assert fix_commands.accept(engine, str(acme), found[0].id, dry_run=False, by="cx-lead", out=io.StringIO()) == 0
    assert _open(engine) == [("customer_not_found", "ret-2")]  # the stranger: no URN anywhere, so no guess


def test_an_unknown_proposal_id_is_refused_in_one_line(tmp_path: Path, project: Path, cli_here: CliCommand) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"database_url": f"sqlite:///{tmp_path / 'store.db'}", "rules_path": str(project / "acme")})
    )

    refused = cli_here("fix", "accept", "p0000000000", "--config", str(config))

    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "reveni-khaos fix: no open proposal 'p0000000000' (open now: none); run `reveni-khaos fix list`"
    )


def test_a_vat_rate_khaos_disagrees_with_is_advice_with_nothing_to_write(tmp_path: Path, project: Path) -> None:
    engine, acme = _store(tmp_path), project / "acme"
    item = _stock_item("2002", "TEE-BLK-M", "Logo tee black M", "5056000000017") | {"TaxRate": {"ID": "3"}}
    save_stock_upload(engine, {"Items": [item]}, now())
    _load(engine, acme, _return("ret-1"))  # Reveni charged 20.00%; Khaos's item is at Reduced, 5.00%
    assert _open(engine) == [("vat_rate_mismatch", "ret-1")]

    advice = _proposals(engine, acme)[0]

    assert (advice.edit, advice.for_people, advice.command) == (None, True, "")
    assert advice.evidence == (
        "Khaos's stock item 'TEE-BLK-M' carries tax code 3 \u201cReduced\u201d at 5.00%",
        "Reveni charged 20.00% on the line",
    )
    out = io.StringIO()
    assert fix_commands.accept(engine, str(acme), advice.id, dry_run=False, by="ana", out=out) == 1
    assert "so it is finance's to decide and make by hand" in out.getvalue()


def test_fix_list_shows_each_proposal_with_its_evidence_and_impact(
    tmp_path: Path, project: Path, cli_here: CliCommand
) -> None:
    engine, acme = _store(tmp_path), project / "acme"
    _load(engine, acme, _return("ret-1", return_reason={"code": "defective", "label": "Defective"}))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"database_url": f"sqlite:///{tmp_path / 'store.db'}", "rules_path": str(acme)}))

    listed = cli_here("fix", "list", "--config", str(config), "--owner", "cx", "--format", "json")
    assert listed.returncode == 0, listed.stderr

    first = json.loads(listed.stdout)[0]
    assert {k: first[k] for k in ("exception_id", "kind", "owner", "subject", "proposal", "impact")} == {
        "exception_id": "unknown_reason:ret-1:item-1",
        "kind": "unknown_reason",
        "owner": "cx",
        "subject": "defective",
        "proposal": {
            "path": "reasons[+]",
            "value": {"reason": "defective", "khaos_reason": "5", "disposition": "write_off"},
        },
        "impact": {"exceptions": 1, "returns": 1, "held": {"GBP": "24.00"}},
    }
    assert first["command"] == f"reveni-khaos fix accept {first['id']} --config CONFIG"
    assert first["evidence"]
    assert first["confidence"] >= 80


def test_the_dashboard_shows_each_exceptions_proposals_and_how_many_each_owner_has(
    tmp_path: Path, project: Path
) -> None:
    engine, acme = _store(tmp_path), project / "acme"
    defective = {"return_reason": {"code": "defective", "label": "Defective"}}
    _load(engine, acme, _return("ret-1", **defective), _return("ret-2", **defective))
    top = _proposals(engine, acme)[0]
    settings = ChannelSettings.from_config(
        {
            "database_url": f"sqlite:///{tmp_path / 'store.db'}",
            "rules_path": str(acme),
            "public_url": "https://returns.example.com",
            "channel_username": "khaos",
            "channel_password": "channel-pw",
            "dashboard_username": "cx-lead",
            "dashboard_password": "dash-pw-2c7",
        }
    )
    with TestClient(Channel(engine, settings).app()) as client:
        client.auth = ("cx-lead", "dash-pw-2c7")
        listed = client.get("/dashboard/")
        page = client.get("/dashboard/exception", params={"key": "unknown_reason:ret-1:item-1"})
        other = client.get("/dashboard/exception", params={"key": "refund_credit_difference:ret-1:"})

    assert '<span class="muted proposed">2 with a proposed fix</span>' in listed.text  # cx: both
    assert "proposed fix" not in listed.text.split('data-owner="finance"')[1].split("</a>")[0]
    assert f"<code>reveni-khaos fix accept {top.id} --config CONFIG</code>" in page.text
    assert "87% likely" in page.text
    assert "means faulty, as &#39;faulty&#39; does" in page.text
    assert other.status_code == 200
    assert "Proposed fixes" not in other.text


def _stock_item(stock_id: str, code: str, name: str, ean: str) -> dict[str, Any]:
    return {
        "StockID": stock_id,
        "StockCode": code,
        "ShortDescription": name,
        "Barcodes": [{"Barcode": ean, "Type": "EAN13"}],
        "TaxRate": {"ID": "1", "Code": "1", "Name": "Standard"},
        "Options": {"Discontinued": False},
    }


def test_an_edit_fills_an_empty_mapping_and_refuses_a_path_through_a_value() -> None:
    text = "skus:\n  mapping: [StockCode]   # how Khaos looks it up\n  aliases: {}\n\n# the end\nversion: 1\n"

    written = apply_edit(text, ("skus", "aliases", "OLD-1"), "NEW-1")

    assert written == (
        "skus:\n  mapping: [StockCode]   # how Khaos looks it up\n  aliases:\n    OLD-1: NEW-1\n\n# the end\nversion: 1\n"
    )
    with pytest.raises(EditError, match="`version` is not a mapping or a list"):
        apply_edit(text, ("version", "aliases", "OLD-1"), "NEW-1")


def test_a_replay_that_fails_puts_the_file_back(tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, acme = _store(tmp_path), project / "acme"
    _load(engine, acme, _return("ret-1", return_reason={"code": "defective", "label": "Defective"}))
    before = (acme / "rules.yml").read_bytes()
    top = _proposals(engine, acme)[0]

    def store_gone(*args: Any, **kwargs: Any) -> int:
        raise sa.exc.OperationalError("UPDATE exceptions", {}, Exception("database is locked"))

    monkeypatch.setattr(commands, "replay", store_gone)
    out = io.StringIO()
    with pytest.raises(sa.exc.OperationalError):
        fix_commands.accept(engine, str(acme), top.id, dry_run=False, by="ana", out=out)

    assert f"the replay failed: {acme / 'rules.yml'} is back as it was" in out.getvalue()
    assert (acme / "rules.yml").read_bytes() == before
    assert _open(engine) == [("unknown_reason", "ret-1")]
