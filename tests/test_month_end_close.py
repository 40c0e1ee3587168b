"""The month-end close: figures per currency and refund method, worked out by hand, and a
closed period that does not move when later data arrives.

Given a store that holds returns as the target leaves them (in process: the demo rules'
drafts applied at a given moment, documents served to Khaos) and Khaos's credit-note
export, expect the close of November 2026 written here.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient
from target_khaos_control.channel.app import Channel
from target_khaos_control.operations import reconciliation
from target_khaos_control.operations.cli import main
from target_khaos_control.operations.commands import keep_credit_notes
from target_khaos_control.operations.month_end import Period, _records_as_of, close_period
from target_khaos_control.operations.month_end_export import as_csv, as_table, summary, write_workbook
from target_khaos_control.publishing import apply_returns
from target_khaos_control.rules import Catalogue
from target_khaos_control.settings import ChannelSettings
from target_khaos_control.store import documents, open_store, return_versions

from tests.servers import DEMO_RULES
from tests.test_dashboard_pages import LOGIN
from tests.test_reconciliation_breaks import HEADER, RULES, a_return

NOVEMBER = Period.parse("2026-11")
NOV_20 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DEC_3 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def paid(record: dict[str, Any], when: str, method: str = "bank_transfer") -> dict[str, Any]:
    record["refunds"][0]["refunded_at"] = when
    record["refunds"][0]["method"] = record["refund_method"] = method
    return record


def sync(engine: Engine, moment: datetime, *records: dict[str, Any]) -> None:
    """The target stores these versions at `moment`, and Khaos pulls their documents then."""
    with engine.begin() as conn:
        apply_returns(conn, [(r, RULES.draft(r, Catalogue())) for r in records], moment, routing=RULES.routing)
        conn.execute(
            documents.update()
            .where(documents.c.first_served_at.is_(None))
            .values(state="served", first_served_at=moment)
        )


def notes(tmp_path: Path, rows: str) -> list[reconciliation.CreditNote]:
    path = tmp_path / "credit-notes.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return reconciliation.read_export(path).notes


NOVEMBER_NOTES = (
    "CN1,2026-11-21,RV-a,GBP,20.00,4.00,24.00\n"  # a: matched
    "CN2,2026-11-12,RV-c,EUR,16.67,3.33,20.00\n"  # c: 20.00 of 30.00
)


@pytest.fixture
def store(tmp_path: Path) -> Engine:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    sync(
        engine,
        NOV_20,
        paid(a_return("a", "24.00"), "2026-11-20T10:00:00Z"),
        paid(a_return("b", "24.00", "28.50"), "2026-11-25T10:00:00Z", "store_credit"),
        paid(a_return("c", "30.00", currency="EUR"), "2026-11-10T10:00:00Z"),
    )
    return engine


def test_november_close_per_currency_and_refund_method(store: Engine, tmp_path: Path) -> None:
    # a: GBP cash 24.00 refunded 20 Nov, CN1 24.00: matched.
    # b: GBP store credit 52.50 refunded 25 Nov, served 20 Nov, no credit note: at 1 Dec
    #    00:00 Khaos has had it over 24 hours: `not_confirmed`, 52.50 to accrue, 5 days old.
    # c: EUR cash 30.00 refunded 10 Nov, CN2 20.00: `amount_difference` 10.00, 20 days old.
    with store.connect() as conn:
        close = close_period(conn, NOVEMBER, notes=notes(tmp_path, NOVEMBER_NOTES), tax_rates=RULES.tax_code_rates)
    close.tie_out([(Decimal("24.00"), "GBP"), (Decimal("35.00"), "EUR")])

    assert summary(close) == {
        "EUR cash": {
            "paid_out": "30.00",
            "credited": "20.00",
            "matched": "0.00",
            "gaps": {"amount_difference": {"count": 1, "amount": "10.00", "oldest_age_days": 20}},
        },
        "GBP cash": {"paid_out": "24.00", "credited": "24.00", "matched": "24.00", "gaps": {}},
        "GBP store credit": {
            "paid_out": "52.50",
            "credited": "0.00",
            "matched": "0.00",
            "gaps": {"not_confirmed": {"count": 1, "amount": "52.50", "oldest_age_days": 5}},
        },
    }
    assert close.tie_outs == [
        "Reveni payout 24.00 GBP against cash refunds less top-ups 24.00 GBP: ties out",
        "Reveni payout 35.00 EUR against cash refunds less top-ups 30.00 EUR: difference 5.00 EUR",
    ]
    assert [entry.line.return_id for entry in close.returns_with("not_confirmed")] == ["b"]


def test_the_accountants_export_lists_every_return_with_net_vat_and_gross(store: Engine, tmp_path: Path) -> None:
    # VAT at 20% in a gross: a 24.00 -> 4.00; b 24.00 + 28.50 -> 4.00 + 4.75 = 8.75;
    # c 30.00 -> 5.00, credited 20.00 with Tax 3.33 and Net 16.67.
    with store.connect() as conn:
        close = close_period(conn, NOVEMBER, notes=notes(tmp_path, NOVEMBER_NOTES), tax_rates=RULES.tax_code_rates)
    rows = list(csv.reader(io.StringIO(as_csv(close))))

    assert [row[:13] for row in rows[1:4]] == [
        ["2026-11", "c", "#10008", "EUR", "cash", "30.00", "30.00", "5.00", "25.00", "20.00", "3.33", "16.67", "10.00"],
        ["2026-11", "a", "#10008", "GBP", "cash", "24.00", "24.00", "4.00", "20.00", "24.00", "4.00", "20.00", "0.00"],
        [
            "2026-11",
            "b",
            "#10008",
            "GBP",
            "store credit",
            "52.50",
            "52.50",
            "8.75",
            "43.75",
            "0.00",
            "",
            "",
            "52.50",
        ],
    ]
    assert [row[13] for row in rows[1:4]] == ["amount_difference", "matched", "not_confirmed"]
    workbook = tmp_path / "close.xlsx"
    write_workbook(close, workbook)
    book = load_workbook(workbook)
    assert book.sheetnames == ["EUR", "GBP"]
    gbp = [[cell.value for cell in row] for row in book["GBP"].iter_rows()]
    assert [row[1] for row in gbp[1:3]] == ["a", "b"]
    assert gbp[1][6] == 24  # a number the accountant can add up, not text
    assert ["GBP", "store credit", "gap: not_confirmed", 1, 52.5, 5] in [row[:6] for row in gbp]


def test_a_closed_november_does_not_move_when_december_data_arrives(store: Engine, tmp_path: Path) -> None:
    with store.connect() as conn:
        before = close_period(conn, NOVEMBER, notes=notes(tmp_path, NOVEMBER_NOTES), tax_rates=RULES.tax_code_rates)
    # On 3 December: c is refunded another 10.00 (a new version of it), b's credit note
    # CN3 arrives dated 2 December, and a new return d is refunded 12.00 on 2 December.
    c = paid(a_return("c", "30.00", refunded="40.00", currency="EUR"), "2026-11-10T10:00:00Z")
    c["refunds"][0]["amount"] = "30.00"
    c["refunds"].append(dict(c["refunds"][0], id="r-2", amount="10.00", refunded_at="2026-12-02T09:00:00Z"))
    c["updated_at"] = "2026-12-02T09:00:00Z"
    sync(store, DEC_3, c, paid(a_return("d", "12.00"), "2026-12-02T10:00:00Z"))
    later = notes(tmp_path, NOVEMBER_NOTES + "CN3,2026-12-02,RV-b,GBP,43.75,8.75,52.50\n")

    with store.connect() as conn:
        after = close_period(conn, NOVEMBER, notes=later, tax_rates=RULES.tax_code_rates)
        december = close_period(conn, Period.parse("2026-12"), notes=later, tax_rates=RULES.tax_code_rates)

    assert summary(after) == summary(before)
    assert as_csv(after) == as_csv(before)
    assert summary(december)["GBP cash"]["paid_out"] == "12.00"  # d
    assert summary(december)["GBP store credit"]["credited"] == "52.50"  # CN3 for b
    assert summary(december)["EUR cash"]["paid_out"] == "10.00"  # c's second refund


def test_a_period_is_a_month_written_yyyy_mm() -> None:
    assert (NOVEMBER.start, NOVEMBER.end) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert Period.parse("2026-12").end == datetime(2027, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="write it as YYYY-MM"):
        Period.parse("November")


def test_the_table_names_each_figure(store: Engine, tmp_path: Path) -> None:
    with store.connect() as conn:
        close = close_period(conn, NOVEMBER, notes=notes(tmp_path, NOVEMBER_NOTES), tax_rates=RULES.tax_code_rates)

    table = as_table(close)

    assert "Month-end close 2026-11" in table
    assert "  GBP      store credit  gap: not_confirmed                     1        52.50       5" in table
    assert "No payout total given" in table


def test_the_dashboard_shows_the_close_with_a_link_per_gap_to_its_returns(store: Engine, tmp_path: Path) -> None:
    keep_credit_notes(store, notes(tmp_path, NOVEMBER_NOTES), NOV_20)
    settings = ChannelSettings.from_config(
        {
            "database_url": f"sqlite:///{tmp_path / 'store.db'}",
            "channel_username": "khaos",
            "channel_password": "channel-pw",
            "public_url": "http://127.0.0.1:8803",
            "dashboard_username": LOGIN[0],
            "dashboard_password": LOGIN[1],
            "rules_path": str(DEMO_RULES),
        }
    )
    with TestClient(Channel(store, settings).app()) as client:
        client.auth = LOGIN
        page = client.get("/dashboard/close?period=2026-11")
        gap = client.get("/dashboard/close/2026-11/not_confirmed")
        refused = client.get("/dashboard/close?period=soon")
        outside = client.get("/dashboard/close?period=2026-11", auth=None)

    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    rows = [re.sub(r"<[^>]+>", "|", row) for row in re.findall(r"<tr>(.*?)</tr>", page.text)]
    assert "|GBP|store credit|gap: not_confirmed|1|52.50|5|" in [re.sub(r"\|+", "|", row) for row in rows]
    assert 'href="/dashboard/close/2026-11/not_confirmed"' in page.text
    assert 'href="/dashboard/close/2026-11/amount_difference"' in page.text
    assert gap.status_code == 200
    assert 'href="/dashboard/returns/b"' in gap.text
    assert 'href="/dashboard/returns/a"' not in gap.text
    assert refused.status_code == 400
    assert outside.status_code == 401


def test_the_workbook_never_holds_a_formula_from_a_return(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    sneaky = paid(a_return("sneaky", "24.00"), "2026-11-20T10:00:00Z")
    sneaky["order"]["number"] = '=HYPERLINK("http://evil","x")'
    sync(engine, NOV_20, sneaky)
    with engine.connect() as conn:
        close = close_period(conn, NOVEMBER, notes=[], tax_rates=RULES.tax_code_rates)

    write_workbook(close, tmp_path / "close.xlsx")
    cell = load_workbook(tmp_path / "close.xlsx")["GBP"]["C2"]

    assert (cell.value, cell.data_type) == ('\'=HYPERLINK("http://evil","x")', "s")


def test_a_bad_period_or_payout_is_one_line_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"database_url": f"sqlite:///{tmp_path / 'store.db'}", "rules_path": str(DEMO_RULES)}))
    (tmp_path / "credit-notes.csv").write_text(HEADER)
    base = ["close", "--config", str(config), "--credit-notes", str(tmp_path / "credit-notes.csv")]

    with pytest.raises(SystemExit) as month:
        main([*base, "--period", "November"])
    said_month = capsys.readouterr().err
    with pytest.raises(SystemExit) as payout:
        main([*base, "--period", "2026-11", "--payout-total", "lots", "GBP"])
    said_payout = capsys.readouterr().err

    assert month.value.code == payout.value.code == 1
    assert said_month == "reveni-khaos close: --period 'November' is not a month: write it as YYYY-MM, e.g. 2026-11\n"
    assert said_payout == (
        "reveni-khaos close: --payout-total lots GBP: write an amount and a currency, e.g. 1234.56 GBP\n"
    )


def test_an_exchange_top_up_carries_the_vat_of_both_items(tmp_path: Path) -> None:
    # A 24.00 tee exchanged for a 59.99 hoodie, both 20%; the customer paid 35.99 on top.
    # VAT: 24.00 -> net 20.00 + 4.00; 59.99 -> net 49.99 + 10.00. The cash, -35.99, holds
    # 4.00 - 10.00 = -6.00 of VAT and -29.99 net.
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    swap = a_return("swap", "24.00")
    swap["refunds"] = []
    swap["return_items"][0]["exchange"] = {"sku": "HOOD-GRY-L", "ean": "5056000000099", "price": "59.99", "quantity": 1}
    swap["exchange_payments"] = [
        {"id": "p-1", "amount": "35.99", "currency": "GBP", "status": "completed", "paid_at": "2026-11-20T09:00:00Z"}
    ]
    sync(engine, NOV_20, swap)
    with engine.connect() as conn:
        close = close_period(conn, NOVEMBER, notes=[], tax_rates=RULES.tax_code_rates)

    row = next(csv.reader(io.StringIO(as_csv(close).splitlines()[1])))

    assert row[1] == "swap"
    assert row[5:9] == ["-35.99", "-35.99", "-6.00", "-29.99"]


def test_a_eur_return_credited_in_gbp_counts_the_credit_in_gbp_and_a_pending_refund_not_at_all(
    tmp_path: Path,
) -> None:
    # e: EUR, 24.00 EUR refunded 20 Nov, credited 24.00 GBP (CN9, 21 Nov): the EUR row shows
    # 24.00 paid out and nothing credited (a `currency_mismatch` of 24.00 EUR), the GBP row
    # the 24.00 credited. f: a 10.00 GBP refund still pending on 30 Nov: no money moved.
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    pending = paid(a_return("f", "10.00"), "2026-11-30T10:00:00Z")
    pending["refunds"][0]["status"] = "pending"
    sync(engine, NOV_20, paid(a_return("e", "24.00", currency="EUR"), "2026-11-20T10:00:00Z"), pending)
    with engine.connect() as conn:
        close = close_period(
            conn,
            NOVEMBER,
            notes=notes(tmp_path, "CN9,2026-11-21,RV-e,GBP,20.00,4.00,24.00\n"),
            tax_rates=RULES.tax_code_rates,
        )

    assert summary(close) == {
        "EUR cash": {
            "paid_out": "24.00",
            "credited": "0.00",
            "matched": "0.00",
            "gaps": {"currency_mismatch": {"count": 1, "amount": "24.00", "oldest_age_days": 10}},
        },
        "GBP cash": {"paid_out": "0.00", "credited": "24.00", "matched": "0.00", "gaps": {}},
    }


def test_a_return_held_back_by_an_open_exception_at_the_end_is_refunded_not_sent(tmp_path: Path) -> None:
    # g: 24.00 refunded 20 Nov, its reason unknown to the rules (an `unknown_reason` that
    # holds the item), still open on 1 Dec: refunded and held back, 24.00 to accrue.
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    mystery = paid(a_return("g", "24.00"), "2026-11-20T10:00:00Z")
    mystery["return_items"][0]["return_reason"] = {"code": "no_such_reason", "label": "?"}
    sync(engine, NOV_20, mystery)
    with engine.connect() as conn:
        close = close_period(conn, NOVEMBER, notes=[], tax_rates=RULES.tax_code_rates)

    assert summary(close)["GBP cash"]["gaps"] == {
        "refunded_not_sent": {"count": 1, "amount": "24.00", "oldest_age_days": 10}
    }


def test_the_version_held_at_the_end_is_the_latest_received_before_it_in_whatever_order_stored(
    tmp_path: Path,
) -> None:
    # given versions stored out of the order received (a replay's batch committed after a
    # sync's it began before), and a return first received after the period's end
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    versions = [
        ("r1", datetime(2026, 11, 10, tzinfo=UTC), '{"id": "r1", "v": 1}'),
        ("r1", datetime(2026, 12, 2, tzinfo=UTC), '{"id": "r1", "v": 3}'),
        ("r1", datetime(2026, 11, 20, tzinfo=UTC), '{"id": "r1", "v": 2}'),
        ("r1", datetime(2026, 11, 5, tzinfo=UTC), '{"id": "r1", "v": 0}'),
        ("r0", datetime(2026, 12, 9, tzinfo=UTC), '{"id": "r0", "v": 2}'),
        ("r0", datetime(2026, 12, 4, tzinfo=UTC), '{"id": "r0", "v": 1}'),
    ]
    with engine.begin() as conn:
        conn.execute(return_versions.insert(), [{"return_id": r, "seen_at": s, "record": t} for r, s, t in versions])

    # when the close reads what the store held at the end of November
    with engine.connect() as conn:
        records, late = _records_as_of(conn, datetime(2026, 12, 1, tzinfo=UTC))

    # expect r1's version received last before the end (v2), r0's first version (v1), late since 4 December
    assert [(record["id"], record["v"]) for record in records] == [("r0", 1), ("r1", 2)]
    assert late == {"r0": datetime(2026, 12, 4, tzinfo=UTC)}
