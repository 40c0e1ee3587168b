"""The sandboxes tell the truth about money: the Reveni sandbox serves the cases finance
meets (discounts, fees kept back, partial refunds, several currencies, exchanges for a
dearer or cheaper item), and khaos-sandbox posts credit notes as Khaos would
(UnitPrice × Quantity, VAT from its stock item, exchange items charged). Figures worked
out by hand."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.servers import ReveniSandbox
from tests.test_khaos_sandbox import customer_return, item, small_khaos


def _all_returns(sandbox: ReveniSandbox) -> list[dict[str, Any]]:
    page = sandbox.get("returns", page_size=200).json()
    assert page["next"] is None, "the demo set fits one page"
    return list(page["results"])


def _paid(line: dict[str, Any]) -> Decimal:
    return Decimal(line["total"])


def test_the_reveni_sandbox_serves_what_finance_meets(demo_sandbox: ReveniSandbox) -> None:
    returns = _all_returns(demo_sandbox)
    lines = [line for r in returns for line in r["return_items"]]

    discounted = [line for line in lines if _paid(line) < Decimal(line["price"]) * line["quantity"]]
    exchanged = [line for line in lines if line["exchange"]]
    priced_apart = [
        line for line in exchanged if Decimal(line["exchange"]["price"]) * line["exchange"]["quantity"] != _paid(line)
    ]
    topped_up = [r for r in returns if r["exchange_payments"]]
    fee_kept = [
        r
        for r in returns
        if r["instant"]
        and r["refunds"]
        and Decimal(r["refunds"][0]["amount"])
        < sum((_paid(i) for i in r["return_items"] if not i["exchange"]), Decimal(0))
    ]
    partly = [r for r in returns if r["status"] == "partly_accepted" and r["refunds"]]

    assert len(discounted) >= 10
    assert len(priced_apart) >= 5, "exchanges for a dearer or a cheaper item"
    assert topped_up, "a customer who paid on top for a dearer item"
    assert fee_kept, "a return fee kept back from an instant refund"
    assert partly, "a partial refund: one item accepted, one rejected"
    assert {r["currency"] for r in returns} == {"GBP", "EUR", "USD"}
    for r in topped_up:  # what the customer paid on top is what the dearer items cost beyond the returned ones
        extra = sum(
            (
                max(Decimal(i["exchange"]["price"]) * i["exchange"]["quantity"] - _paid(i), Decimal(0))
                for i in r["return_items"]
                if i["exchange"]
            ),
            Decimal(0),
        )
        assert Decimal(r["exchange_payments"][0]["amount"]) == extra
        assert r["exchange_payments"][0]["currency"] == r["currency"]


def test_khaos_charges_an_exchange_item_on_the_credit_note() -> None:
    # A 24.00 tee back, a 59.99 hoodie out: credit 24.00, charge 59.99, note -35.99.
    # Tee: net 20.00 + VAT 4.00; hoodie: gross 59.99 at 20% -> net 49.99, VAT 10.00.
    khaos = small_khaos()
    swap = {"SKU": "HOODIE-GREY-M", "Mapping": [{"Mapping": "StockCode"}], "Quantity": 1, "UnitPrice": {"Gross": 59.99}}
    outcome = khaos.import_return(customer_return("RV-1", item(), ExchangeItems=[swap]))
    assert outcome.reasons == []

    note, _ = khaos.process("RV-1")

    assert [(line.stock_code, line.quantity, line.net, line.tax, line.gross) for line in note.lines] == [
        ("TEE-BLK-M", 1, Decimal("20.00"), Decimal("4.00"), Decimal("24.00")),
        ("HOODIE-GREY-M", -1, Decimal("-49.99"), Decimal("-10.00"), Decimal("-59.99")),
    ]
    assert note.gross == Decimal("-35.99")


def test_khaos_adds_vat_per_line_to_net_prices() -> None:
    # 2 at net 0.56: net 1.12, VAT 0.224 -> 0.22, gross 1.34; 1 at net 0.56: 0.56 + 0.11 = 0.67.
    # (Two stock items, both at 20%: the order sold two of each.)
    khaos = small_khaos()
    outcome = khaos.import_return(
        customer_return(
            "RV-1", item(quantity=2, UnitPrice={"Net": 0.56}), item("HOODIE-GREY-M", UnitPrice={"Net": 0.56})
        )
    )
    assert outcome.reasons == []

    note, _ = khaos.process("RV-1")

    assert [line.gross for line in note.lines] == [Decimal("1.34"), Decimal("0.67")]
    assert note.gross == Decimal("2.01")
