"""Advice for `missing_tax_code` and `vat_rate_mismatch`: finance's kinds.

A tax code decides the VAT on a credit note, so these are never one-command fixes
(money stays with people): the proposal shows the mapping the evidence points to, from
the rate Khaos's stock item carries or the client's Khaos tax codes, for finance to make
by hand once they agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from target_khaos_control.exception_kinds import Kind
from target_khaos_control.proposals.model import APPEND, Edit, Proposal
from target_khaos_control.rules.rules_document import RulesDocument, TaxCode

ADVICE = "Finance decides: make this change by hand once the rate is confirmed, then validate and replay."


def tax_proposals(
    client: str, kind: Kind, rules: RulesDocument, reveni_rate: str, stock_code: str, stock_tax: Mapping[str, object]
) -> list[Proposal]:
    """What the evidence says of the tax on one line: Reveni's rate, and the tax code
    Khaos's stock item carries (`stock_tax`, as pushed: ID, Code, Name)."""
    khaos = rules.get("khaos")
    codes: dict[str, TaxCode] = {str(k): v for k, v in (khaos.get("tax_codes", {}) if khaos else {}).items()}
    carried = str(stock_tax.get("ID") or "")
    rate = _rate(reveni_rate)
    if kind == Kind.VAT_RATE_MISMATCH and carried in codes:
        return [
            Proposal(
                client=client,
                kind=kind,
                subject=f"{stock_code}:{reveni_rate}",
                edit=None,
                confidence=90,
                evidence=(
                    f"Khaos's stock item {stock_code!r} carries tax code {carried} "
                    f"\u201c{codes[carried].get('name', '')}\u201d at {codes[carried]['rate']}%",
                    f"Reveni charged {reveni_rate}% on the line",
                ),
                advice_only=True,
                advice="Correct the product's tax rate in Reveni, or the stock item's in Khaos, whichever is wrong; "
                "then replay. No rule change fixes a rate that differs.",
            )
        ]
    if carried and carried not in codes and rate is not None:
        name = str(stock_tax.get("Name") or "")
        return [
            Proposal(
                client=client,
                kind=kind,
                subject=f"tax code {carried}",
                edit=Edit(("khaos", "tax_codes", carried), {"name": name, "rate": f"{rate:.2f}"}),
                confidence=70,
                evidence=(
                    f"Khaos's stock item {stock_code!r} carries tax code {carried} \u201c{name}\u201d, "
                    "which the rules' khaos.tax_codes lacks",
                    f"Reveni charged {rate:.2f}% on the line: Khaos did not push the code's rate, so confirm it",
                ),
                advice_only=True,
                advice=ADVICE,
            )
        ]
    if rate is None:
        return []
    proposals = []
    for code, entry in sorted(codes.items()):
        if _rate(str(entry.get("rate"))) == rate:
            reason = (f"the stock item {stock_code!r} carries it",) if code == carried else ()
            proposals.append(
                Proposal(
                    client=client,
                    kind=kind,
                    subject=f"rate {rate:.2f}",
                    edit=Edit(("tax", "rates", APPEND), {"rate": f"{rate:.2f}", "code": code}),
                    confidence=90 if code == carried else 75,
                    evidence=(
                        f"Khaos tax code {code} \u201c{entry.get('name', '')}\u201d is {entry['rate']}%",
                        *reason,
                    ),
                    advice_only=True,
                    advice=ADVICE,
                )
            )
    return sorted(proposals, key=lambda p: -p.confidence)


def _rate(text: str | None) -> Decimal | None:
    try:
        return Decimal(str(text)) if text not in (None, "", "None") else None
    except InvalidOperation:
        return None
