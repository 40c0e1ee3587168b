"""Exceptions reach their owners, alerts do not flood, fixes flow, and reconciliation
finds every gap between Reveni's refunds and Khaos's credit notes, and nothing else."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.in_process import CliCommand, InProcessChannel, TapCommand, TargetCommand
from tests.servers import DEMO_RULES, ReveniSandbox, tap_output, target_config
from tests.test_target_khaos_control import _a_return, _records


class Webhook:
    """A local receiver for alert posts; answers `status` (200 unless told otherwise)."""

    def __init__(self, status: int = 200) -> None:
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.attempts += 1
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if status == 200:
                    outer.received.append(body)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def _stream(workdir: Path) -> list[dict[str, Any]]:
    messages = [
        json.loads(line)
        for file in sorted((workdir / "exceptions").glob("*.jsonl"))
        for line in file.read_text().splitlines()
    ]
    return messages


def _config(workdir: Path, **settings: Any) -> dict[str, Any]:
    return target_config(workdir, exceptions_path=str(workdir / "exceptions"), **settings)


def test_exceptions_go_out_as_a_singer_stream_with_what_the_owner_needs(
    demo_sandbox: ReveniSandbox, tmp_path: Path, target_here: TargetCommand, tap_here: TapCommand
) -> None:
    run = target_here(tmp_path, _config(tmp_path), tap_output(tap_here(tmp_path, demo_sandbox.tap_config())))

    assert run.returncode == 0, run.stderr
    messages = _stream(tmp_path)
    assert messages[0]["type"] == "SCHEMA"
    assert messages[0]["stream"] == "exceptions"
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert {r["type"] for r in records} >= {"missing_tax_code", "unknown_reason"}
    untaxed = next(r for r in records if r["type"] == "missing_tax_code")
    assert untaxed["owner"] == "finance"
    assert untaxed["order_number"].startswith("#")
    assert untaxed["sales_order_ref"].startswith("AssociatedRef ")
    assert untaxed["sku"]
    assert untaxed["quantity"] >= 1
    assert untaxed["unit_price"]
    assert untaxed["suggested_fix"]
    assert untaxed["trace_key"] == f"missing_tax_code:{untaxed['return_id']}:{untaxed['item_id']}"
    assert not any("@" in json.dumps(record) for record in records), "no email address in an exception"


def test_alerts_one_message_per_owner_and_nothing_for_repeats(
    tmp_path: Path, webhook: Webhook, target_here: TargetCommand
) -> None:
    unmapped = _a_return("accepted", reason="colour_not_as_pictured")
    untaxed = {**_a_return("accepted", tax_rate=None), "id": "ret-2"}
    config = _config(tmp_path, alert_webhook_url=webhook.url)

    first = target_here(tmp_path, config, _records(unmapped, untaxed))
    again = target_here(tmp_path, config, _records({**unmapped, "updated_at": "2026-11-21T00:00:00Z"}))

    assert first.returncode == 0, first.stderr
    assert again.returncode == 0, again.stderr
    assert sorted(m["text"] for m in webhook.received) == [
        "reveni-khaos demo: 1 new exception(s) for cx, 1 open",
        "reveni-khaos demo: 1 new exception(s) for finance, 1 open",
    ], "one batched message per owner, and nothing more for a repeat"
    cx = next(m for m in webhook.received if "for cx" in m["text"])
    assert "unknown_reason" in cx["blocks"][2]["text"]["text"]


def test_a_failing_webhook_never_fails_the_load(tmp_path: Path, target_here: TargetCommand) -> None:
    broken = Webhook(status=500)
    try:
        config = _config(tmp_path, alert_webhook_url=broken.url, alert_attempts=3, alert_backoff_seconds=0.05)
        run = target_here(tmp_path, config, _records(_a_return("accepted", reason="colour_not_as_pictured")))
    finally:
        broken.close()

    assert run.returncode == 0, run.stderr
    assert broken.attempts == 3, "retried, then given up"
    assert "alert webhook failed after 3 attempts" in run.stderr


def test_a_rules_fix_and_replay_resolve_the_exception_and_khaos_gets_the_return(
    tmp_path: Path, target_here: TargetCommand, cli_here: CliCommand
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEMO_RULES, rules)
    config = _config(tmp_path, rules_path=str(rules))
    target_here(tmp_path, config, _records(_a_return("accepted", refunded=True, reason="colour_not_as_pictured")))
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    text = (rules / "rules.yml").read_text()
    (rules / "rules.yml").write_text(
        text.replace("  - reason: wrong_item\n", "  - reason: [wrong_item, colour_not_as_pictured]\n")
    )

    replayed = cli_here("replay", "--config", str(config_file), "--type", "unknown_reason")

    assert replayed.returncode == 0, replayed.stderr
    # The unknown reason, and finance's refund not yet credited that it caused.
    assert "0 exceptions opened, 2 exceptions resolved, 0 still open" in replayed.stdout
    channel = InProcessChannel(config, tmp_path).start()
    try:
        served = channel.get("/khaos/returns.json", headers={"Sirion-Continuation": "2026-11-26 14:00:00Z"}).json()[
            "Returns"
        ]
    finally:
        channel.stop()
    assert [(r["AssociatedRef"], r["ReturnedItems"][0]["ReturnReason"]) for r in served] == [("RV-ret-1", {"ID": "6"})]


def _served_long_ago(workdir: Path) -> None:
    with sa.create_engine(f"sqlite:///{workdir / 'store.db'}").begin() as conn:
        conn.execute(sa.text("update documents set state = 'served', first_served_at = '2026-10-01 00:00:00'"))


def test_reconciliation_finds_each_planted_gap_and_nothing_else(
    tmp_path: Path, target_here: TargetCommand, cli_here: CliCommand
) -> None:
    returns = {
        "ok": _a_return("accepted", refunded=True),  # 24.00 refunded, 24.00 credited
        "ok-eur": _a_return("accepted", refunded=True),  # 24.00 EUR both sides
        "missing": _a_return("accepted", refunded=True),  # no credit note, served long ago
        "off": _a_return("accepted", refunded=True),  # credited 20.00
        "twice": _a_return("accepted", refunded=True),  # credited 24.00 twice
        "unpaid": _a_return("accepted"),  # credited, never refunded
        "wrong-currency": _a_return("accepted", refunded=True),  # 24.00 EUR refunded, 24.00 GBP credited
        "rejected": _a_return("rejected", instant=True),  # refunded, the warehouse rejected the item
    }
    for name, record in returns.items():
        record["id"] = name
        if name in ("ok-eur", "wrong-currency"):
            record["currency"] = "EUR"
            record["refunds"][0]["currency"] = "EUR"
    config = _config(tmp_path, unconfirmed_after_hours=1)
    target_here(tmp_path, config, _records(*returns.values()))
    _served_long_ago(tmp_path)
    notes = tmp_path / "credit-notes.csv"
    notes.write_text(
        "CreditNoteCode,Date,AssociatedRef,SalesOrderCode,URN,Currency,Net,Tax,Gross,Status\n"
        "CN1,2026-11-21,RV-ok,SO1,CUST0001,GBP,20.00,4.00,24.00,Posted\n"
        "CN2,2026-11-21,RV-off,SO1,CUST0001,GBP,16.67,3.33,20.00,Posted\n"
        "CN3,2026-11-21,RV-twice,SO1,CUST0001,GBP,20.00,4.00,24.00,Posted\n"
        "CN4,2026-11-21,RV-twice,SO1,CUST0001,GBP,20.00,4.00,24.00,Posted\n"
        "CN5,2026-11-21,RV-unpaid,SO1,CUST0001,GBP,20.00,4.00,24.00,Posted\n"
        "CN6,2026-11-21,RV-ok-eur,SO1,CUST0001,EUR,20.00,4.00,24.00,Posted\n"
        "CN7,2026-11-21,RV-wrong-currency,SO1,CUST0001,GBP,20.00,4.00,24.00,Posted\n"
        "CN8,2026-11-21,RV-by-hand,SO9,CUST0002,GBP,10.00,2.00,12.00,Posted\n"
    )
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))

    report = cli_here("reconcile", "--config", str(config_file), "--credit-notes", str(notes), "--format", "json")

    assert report.returncode == 0, report.stderr
    found = json.loads(report.stdout)
    gaps = {line["return_id"]: line["gaps"] for line in found["gaps"]}
    assert gaps == {
        "missing": ["not_confirmed"],
        "off": ["amount_difference"],
        "twice": ["duplicate_credit_note"],  # 48.00 for 24.00: beyond the cash
        "unpaid": ["credit_note_without_refund"],
        "wrong-currency": ["currency_mismatch"],
        "rejected": ["refund_without_credit_note"],
    }
    assert found["summary"]["matched"] == 2  # ok, ok-eur
    assert found["summary"]["credit_notes_for_unknown_returns"] == ["CN8"]
    # GBP refunded: ok, missing, off, twice, rejected = 5 × 24.00 = 120.00.
    # GBP credited: CN1 24 + CN2 20 + CN3 24 + CN4 24 + CN5 24 + CN7 24 = 140.00 (CN8 is no return's).
    # EUR refunded: ok-eur, wrong-currency = 48.00; EUR credited: CN6 = 24.00.
    assert found["summary"]["totals_by_currency"] == {
        "EUR": {"refunded": "48.00", "credited": "24.00", "gap": "24.00"},
        "GBP": {"refunded": "120.00", "credited": "140.00", "gap": "-20.00"},
    }
    with sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}").connect() as conn:
        rows = conn.execute(
            sa.text(
                "select return_id, kind, owner from exceptions where status = 'open' and item_id = '(reconciliation)'"
            )
        ).all()
    assert sorted(rows) == [
        ("", "credit_note_unknown_reference", "finance"),
        ("missing", "not_collected_by_khaos", "integration"),
        ("off", "amount_difference", "finance"),
        ("rejected", "refund_without_credit_note", "finance"),
        ("twice", "duplicate_credit_note", "finance"),
        ("unpaid", "credit_note_without_refund", "finance"),
        ("wrong-currency", "currency_mismatch", "finance"),
    ]

    table = cli_here("reconcile", "--config", str(config_file), "--credit-notes", str(notes))
    as_csv = cli_here(
        "reconcile",
        "--config",
        str(config_file),
        "--credit-notes",
        str(notes),
        "--format",
        "csv",
        "--output",
        str(tmp_path / "gaps.csv"),
    )
    assert "2 of 8 returns match (25.0%)" in table.stdout
    assert as_csv.returncode == 0
    assert len((tmp_path / "gaps.csv").read_text().splitlines()) == 7  # a header and six returns


def test_a_return_whose_credit_notes_add_up_to_the_refund_is_matched_whatever_we_sent(
    tmp_path: Path, target_here: TargetCommand, cli_here: CliCommand
) -> None:
    # The documents asked Khaos for 24.00; Reveni refunded 19.00 (a fee kept back) and
    # finance corrected the credit in Khaos to 19.00 before approving it: matched.
    fee = _a_return("accepted", refunded=True)
    fee["refunds"][0]["amount"] = "19.00"
    config = _config(tmp_path, unconfirmed_after_hours=1)
    target_here(tmp_path, config, _records(fee))
    _served_long_ago(tmp_path)
    notes = tmp_path / "credit-notes.csv"
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))

    notes.write_text("CreditNoteCode,Date,AssociatedRef,Currency,Gross\nCN1,2026-11-21,RV-ret-1,GBP,19.00\n")
    corrected = json.loads(
        cli_here("reconcile", "--config", str(config_file), "--credit-notes", str(notes), "--format", "json").stdout
    )
    notes.write_text("CreditNoteCode,Date,AssociatedRef,Currency,Gross\nCN1,2026-11-21,RV-ret-1,GBP,24.00\n")
    as_sent = json.loads(
        cli_here("reconcile", "--config", str(config_file), "--credit-notes", str(notes), "--format", "json").stdout
    )

    assert corrected["gaps"] == []
    assert corrected["summary"]["matched"] == 1
    assert [(line["return_id"], line["gaps"]) for line in as_sent["gaps"]] == [("ret-1", ["amount_difference"])]
    assert as_sent["summary"]["totals_by_currency"]["GBP"] == {"refunded": "19.00", "credited": "24.00", "gap": "-5.00"}


def test_a_credit_note_export_with_other_headers_is_named_in_the_error(
    tmp_path: Path, target_here: TargetCommand, cli_here: CliCommand
) -> None:
    target_here(tmp_path, _config(tmp_path), [])
    notes = tmp_path / "export.csv"
    notes.write_text("Number,Ref,Total,Cur,When\nCN1,RV-x,1.00,GBP,2026-11-21\n")
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(_config(tmp_path)))

    refused = cli_here("reconcile", "--config", str(config_file), "--credit-notes", str(notes))
    config_file.write_text(
        json.dumps(
            _config(
                tmp_path,
                credit_note_columns={
                    "code": "Number",
                    "associated_ref": "Ref",
                    "gross": "Total",
                    "currency": "Cur",
                    "date": "When",
                },
            )
        )
    )
    mapped = cli_here("reconcile", "--config", str(config_file), "--credit-notes", str(notes))

    assert refused.returncode == 1
    assert "no column CreditNoteCode, AssociatedRef, Gross, Currency, Date" in refused.stderr
    assert "credit_note_columns" in refused.stderr
    assert mapped.returncode == 0, mapped.stderr
    assert "CN1" in mapped.stdout, "a credit note for a reference Reveni never sent is shown"


def test_an_alias_added_and_a_replay_resolve_a_renamed_stock_code(
    tmp_path: Path, target_here: TargetCommand, cli_here: CliCommand
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(DEMO_RULES, rules)
    config = _config(tmp_path, rules_path=str(rules))
    target_here(tmp_path, config, [])
    channel = InProcessChannel(config, tmp_path).start()
    try:
        for code in ("JEAN-IND-32", "JEANS-INDIGO-32"):  # Khaos renames the item: two pushes, one StockID
            push = {"Items": [{"StockID": "1006", "StockCode": code}], "Deleted": []}
            assert channel.post("/khaos/stock", json.dumps(push).encode()).status_code == 200
        jeans = _a_return("accepted", refunded=True)
        jeans["return_items"][0] |= {"sku": "JEAN-IND-32", "price": "79.50", "total": "79.50", "tax": "13.25"}
        jeans["refunds"][0]["amount"] = "79.50"
        target_here(tmp_path, config, _records(jeans))
        (tmp_path / "config.json").write_text(json.dumps(config))
        text = (rules / "rules.yml").read_text()
        (rules / "rules.yml").write_text(
            text.replace(
                "    HOOD-GRY-M: HOODIE-GREY-M\n", "    HOOD-GRY-M: HOODIE-GREY-M\n    JEAN-IND-32: JEANS-INDIGO-32\n"
            )
        )

        replayed = cli_here("replay", "--config", str(tmp_path / "config.json"), "--owner", "warehouse")
        served = channel.get("/khaos/returns.json", headers={"Sirion-Continuation": "2026-11-26 14:00:00Z"}).json()[
            "Returns"
        ]
    finally:
        channel.stop()

    assert replayed.returncode == 0, replayed.stderr
    # The rename, and the refund it held.
    assert "0 exceptions opened, 2 exceptions resolved, 0 still open" in replayed.stdout
    assert [line["SKU"] for line in served[0]["ReturnedItems"]] == ["JEANS-INDIGO-32"]
