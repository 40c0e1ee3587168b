"""Evaluate a client's rule set against one Reveni return.

Every item gets exactly one outcome: a line for Khaos, an exception for a person, or a
recorded reason to leave it out (rejected by the warehouse, not yet inspected). An item
with a problem never becomes a line, so a fix later sends it as a follow-up rather than
a guess now. Money stays Decimal throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from jinja2 import TemplateError

from target_khaos_control.documents import (
    ADDRESS_LENGTHS,
    CONTACT_LENGTHS,
    Draft,
    Line,
    Problem,
    address,
    clean,
    khaos_datetime,
    storable,
    too_long,
)
from target_khaos_control.exception_kinds import KINDS, Owner, Routing
from target_khaos_control.money import Priced, Pricing, credited
from target_khaos_control.rules.catalogue import Catalogue
from target_khaos_control.rules.templates import TemplateFailed
from target_khaos_control.rules.validation import unreadable

DEDUCTION = "(deduction)"  # the line id of what Reveni kept back from a refund


@dataclass(frozen=True)
class Deduction:
    """The Khaos non-stock item that carries what Reveni kept back, as a negative line."""

    stock_code: str
    khaos_reason: str
    tax_code: str


@dataclass(frozen=True)
class ReasonRule:
    reasons: frozenset[str] | None
    verdicts: frozenset[str] | None
    reject_reasons: frozenset[str] | None
    when: Callable[[dict[str, Any]], bool] | None
    khaos_reason: str
    disposition: str
    site: str

    def matches(self, item: dict[str, Any], variables: dict[str, Any]) -> bool:
        return (
            (self.reasons is None or item["return_reason"]["code"] in self.reasons)
            and (self.verdicts is None or item.get("status") in self.verdicts)
            and (self.reject_reasons is None or item.get("reject_reason") in self.reject_reasons)
            and (self.when is None or self.when({**variables, "item": item}))
        )


@dataclass(frozen=True)
class TaxRule:
    rate: Decimal
    countries: frozenset[str] | None
    currencies: frozenset[str] | None
    code: str


@dataclass
class RuleSet:
    client: str
    content_hash: str
    reasons: list[ReasonRule]
    tax_rules: list[TaxRule]
    pricing: Pricing
    tax_code_rates: dict[str, Decimal]  # Khaos tax code ID -> its rate, from khaos.tax_codes
    tax_tolerance: Decimal
    sku_mapping: tuple[str, ...]
    aliases: dict[str, str]
    apply_learned_renames: bool
    replacements: dict[str, str]
    urn: Callable[[dict[str, Any]], str]
    source_order_key: str
    source_order: Callable[[dict[str, Any]], str]
    notes: Callable[[dict[str, Any]], str] | None
    sales_source: Callable[[dict[str, Any]], str] | None
    brand: Callable[[dict[str, Any]], str] | None
    publish_when: Callable[[dict[str, Any]], bool] | None
    tables: dict[str, dict[str, str]]
    statuses: dict[str, str]
    verdicts: dict[str, str]
    process_when: Callable[[dict[str, Any]], bool]
    value_tolerance: Decimal
    hold_alert_days: int
    deduction: Deduction | None = None
    routing: Routing = field(default_factory=Routing)
    names_by: str = "Name"  # how SalesSource and Brand are named: Khaos never matches them by Code
    field_lengths: str = "cut"  # a name or address over Khaos's length: cut (with an exception) or hold
    sites: dict[str, str] = field(default_factory=dict)  # Khaos site id -> its name, for people to read

    def problem(
        self,
        kind: str,
        message: str,
        item_id: str = "",
        *,
        details: dict[str, Any] | None = None,
        hold: bool | None = None,
        part: str = "",
    ) -> Problem:
        owner, severity = self.routing.route(kind)
        return Problem(kind, owner, message, item_id, severity=severity, details=details or {}, hold=hold, part=part)

    def draft(self, record: dict[str, Any], catalogue: Catalogue | None = None) -> Draft:
        return_id = record.get("id")
        draft = Draft(return_id="" if return_id is None else storable(str(return_id)), ruleset_hash=self.content_hash)
        broken = unreadable(record)
        if broken:
            return self._unreadable(draft, record, "; ".join(broken))
        try:
            _Evaluation(self, record, catalogue or Catalogue.empty(), draft).run()
            order = str((record.get("order") or {}).get("number") or "")
            for problem in draft.problems:
                problem.details.setdefault("order_number", order)
                problem.details.setdefault("currency", draft.currency)
                problem.details.setdefault("source_order", draft.source_order)
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError, TemplateError) as error:
            return self._unreadable(draft, record, f"{type(error).__name__}: {error}")
        except TemplateFailed as failed:  # the rules' fault: the return itself may be fine
            draft.lines, draft.header, draft.decided = [], {}, False
            draft.problems = [self.problem("rule_template_failed", f"Reveni return {draft.return_id or '?'}: {failed}")]
            draft.outcomes = {str(i.get("id")): "exception:rule_template_failed" for i in _items(record)}
        return draft

    def _unreadable(self, draft: Draft, record: dict[str, Any], why: str) -> Draft:
        draft.lines, draft.header, draft.decided = [], {}, False
        draft.problems = [
            self.problem("invalid_record", f"Reveni return {draft.return_id or '?'} cannot be read: {why}")
        ]
        draft.outcomes = {str(i.get("id")): "exception:invalid_record" for i in _items(record)}
        return draft


def _items(record: dict[str, Any]) -> list[dict[str, Any]]:
    items = record.get("return_items")
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


@dataclass
class _Evaluation:
    rules: RuleSet
    record: dict[str, Any]
    catalogue: Catalogue
    draft: Draft
    mappings: dict[str, list[str]] = field(default_factory=dict)  # SKU sent -> its Mapping types
    foreign: dict[str, Decimal] = field(default_factory=dict)  # paid in another currency than the return's

    def run(self) -> None:
        record, rules, draft = self.record, self.rules, self.draft
        decision = rules.statuses[record["status"]]
        draft.withdraw = decision == "withdraw"
        draft.hold_reason = f"Reveni status {record['status']!r} is held by the rules" if decision == "hold" else ""
        draft.currency = str(record["currency"])
        refunded = self._completed("refunds")
        draft.refunded = _sum(refunded) - _sum(self._completed("exchange_payments"))
        variables = {
            **record,
            "tables": rules.tables,
            "refunded": bool(refunded),
            "refunded_amount": draft.refunded,
        }
        if not draft.hold_reason and rules.publish_when is not None and not rules.publish_when(variables):
            draft.hold_reason = "the rules' publish_when is not met yet"
        self._header(variables)
        blocked = [p for p in draft.problems if p.blocking]
        for item in record["return_items"]:
            if blocked:
                draft.outcomes[str(item["id"])] = f"exception:{blocked[0].kind}"
            else:
                self._item(item, variables)
        self._deduct()
        draft.settled, draft.tolerance = self._settled(), rules.value_tolerance
        if rules.deduction is not None:
            draft.adjustment = self._deduction_line
        variables |= {
            "every_line_accepted": all(line.accepted for line in draft.lines),
            "credited_amount": draft.credit,
        }
        draft.process = bool(draft.lines) and rules.process_when(variables)
        self._check_refund_against_credit()
        if any(not p.blocking and KINDS[p.kind].owner == Owner.FINANCE for p in draft.problems):
            draft.process = False  # a flagged figure waits for a person to approve the credit

    def _completed(self, key: str) -> list[dict[str, Any]]:
        """Completed money movements of one kind; those in another currency are a problem of
        their own, one per currency (keyed by it), so a later cause never overwrites them."""
        found = [m for m in self.record.get(key) or [] if m.get("status") == "completed"]
        foreign: dict[str, list[dict[str, Any]]] = {}
        for movement in found:
            if movement.get("currency", self.draft.currency) != self.draft.currency:
                foreign.setdefault(str(movement["currency"]), []).append(movement)
        for currency, movements in foreign.items():
            paid = ", ".join(
                f"{m['amount']} {currency} ({key[:-1].replace('_', ' ')} {m.get('id', '?')})" for m in movements
            )
            self.draft.problems.append(
                self.rules.problem(
                    "refund_credit_difference",
                    f"Reveni paid {paid} on a {self.draft.currency} return: agree the amount in "
                    f"{self.draft.currency} before approving the credit",
                    details={"paid_currency": currency, "paid": str(_sum(movements))},
                    part=f"{key}:{currency}",
                )
            )
            self.foreign[currency] = self.foreign.get(currency, Decimal("0.00")) + _sum(movements)
        return [m for m in found if m.get("currency", self.draft.currency) == self.draft.currency]

    def _header(self, variables: dict[str, Any]) -> None:
        record, rules, draft = self.record, self.rules, self.draft
        customer = record["customer"]
        urn = rules.urn(variables)
        if not urn or urn == "None":
            draft.problems.append(
                rules.problem(
                    "customer_not_found",
                    f"No Khaos customer (URN) for the customer of "
                    f"order {record['order']['number']}: add them to the rules' tables",
                )
            )
        order_ref = rules.source_order(variables)
        if not order_ref or order_ref == "None":
            draft.problems.append(
                rules.problem(
                    "source_order_not_found", f"Order {record['order']['number']} has no Khaos sales order reference"
                )
            )
        draft.source_order = {rules.source_order_key: order_ref}
        invoice = address(customer.get("address") or {}, str(customer.get("email") or ""))
        if not (invoice["Line1"] and invoice["Town"] and invoice["Country"]["Code"]):
            draft.problems.append(
                rules.problem(
                    "invalid_record",
                    f"The address on order {record['order']['number']} "
                    "lacks a first line, a town or a country, which Khaos requires",
                )
            )
        if not any(str(customer.get(name) or "").strip() for name in ("first_name", "last_name")):
            # "Either forename or surname must be filled in" (Khaos's README): held, never imported half-made.
            draft.problems.append(
                rules.problem(
                    "customer_name_missing",
                    f"The customer of order {record['order']['number']} has neither a first name nor a surname",
                )
            )
        contact = clean(
            {
                "Forename": customer.get("first_name"),
                "Surname": customer.get("last_name"),
                "Email": customer.get("email"),
            }
        )
        self._fit("InvoiceAddress", invoice, ADDRESS_LENGTHS)
        self._fit("InvoiceContact", contact, CONTACT_LENGTHS)
        # SalesSource and Brand "do not support matching by Code" (README L449, L452).
        by = rules.names_by
        draft.header = clean(
            {
                "CreatedDate": khaos_datetime(record["created_at"]),
                "URN": urn,
                "InvoiceAddress": invoice,
                "InvoiceContact": contact,
                "SalesSource": {by: rules.sales_source(variables)} if rules.sales_source else None,
                "Brand": {by: rules.brand(variables)} if rules.brand else None,
                "Notes": rules.notes(variables) if rules.notes else None,
            }
        )

    def _fit(self, name: str, fields: dict[str, Any], lengths: dict[str, int]) -> None:
        """Khaos's maximum lengths: cut to fit with an exception, or hold the return."""
        hold = self.rules.field_lengths == "hold"
        for part, most in too_long(fields, lengths):
            value = fields[part]
            if not hold:
                fields[part] = value[:most].rstrip()
            self.draft.problems.append(
                self.rules.problem(
                    "field_too_long",
                    f"{name}.{part} is {len(value)} characters; Khaos allows {most}: "
                    + ("the return waits until it is shortened" if hold else f"sent as {fields[part]!r}"),
                    hold=hold,
                    details={"field": f"{name}.{part}", "length": len(value), "limit": most},
                    part=f"{name}.{part}",
                )
            )

    def _item(self, item: dict[str, Any], variables: dict[str, Any]) -> None:
        rules, draft, item_id = self.rules, self.draft, str(item["id"])
        verdict = item.get("status") or "pending"
        policy = rules.verdicts.get(verdict, "skip")
        self._note_disposition(item, variables)
        if policy == "skip" or (policy == "credit_if_refunded" and not variables["refunded"]):
            draft.outcomes[item_id] = f"skip:{verdict}"
            return
        details = {
            "sku": item.get("sku"),
            "quantity": item.get("quantity"),
            "price": item.get("price"),
            "reason": item["return_reason"]["code"],
            "source_order": draft.source_order,
        }
        sku, sku_problem = self._stock_code(str(item["sku"]), item.get("ean"))
        problems = [p for p in (self._reason(item, variables), self._tax(item, sku), sku_problem) if p is not None]
        exchange = item.get("exchange") or None
        swap_sku = ""
        if exchange:
            swap_sku, exchange_problem = self._stock_code(str(exchange["sku"]), exchange.get("ean"))
            if exchange_problem is not None:  # its own exception, beside one about the returned SKU
                problems.append(Problem(exchange_problem.kind, "", exchange_problem.message, part="exchange"))
        rate = self._khaos_rate(item, sku, problems)
        blocking = [p for p in problems if p.blocking]
        for found in problems:
            draft.problems.append(rules.problem(found.kind, found.message, item_id, details=details, part=found.part))
        if blocking:
            draft.outcomes[item_id] = f"exception:{blocking[0].kind}"
            return
        rule = next(r for r in rules.reasons if r.matches(item, variables))
        quantity = int(item["quantity"])
        returned = rules.pricing.price(Decimal(item["total"]), quantity, rate)
        swapped = self._exchange_prices(item, swap_sku, rate) if exchange else []
        draft.lines.append(
            Line(
                item_id,
                [
                    {
                        "SKU": sku,
                        "Mapping": self._mapping(sku),
                        "Quantity": part.quantity,
                        "ReturnReason": {"ID": rule.khaos_reason},
                        "SourceReference": {"SourceOrder": draft.source_order},
                        "UnitPrice": part.price,
                    }
                    for part in returned
                ],
                [
                    {
                        "SKU": swap_sku,
                        "Mapping": self._mapping(swap_sku),
                        "Quantity": part.quantity,
                        "UnitPrice": part.price,
                    }
                    for part in swapped
                ],
                accepted=verdict == "accepted",
                credit=credited(returned) - credited(swapped),
                disposition=rule.disposition,
            )
        )
        draft.outcomes[item_id] = "line"
        self._note_lost_penny(item, returned)

    def _exchange_prices(self, item: dict[str, Any], swap_sku: str, rate: Decimal | None) -> list[Priced]:
        """What the exchange item costs: Reveni's price for it, else like for like (the
        refund-against-credit check then catches a difference Reveni paid or charged)."""
        exchange = item["exchange"]
        quantity = int(exchange.get("quantity") or item["quantity"])
        total = Decimal(exchange["price"]) * quantity if exchange.get("price") else Decimal(item["total"])
        known = self.catalogue.current(swap_sku)
        swap_rate = self.rules.tax_code_rates.get(known.tax_code) if known and known.tax_code else None
        return self.rules.pricing.price(total, quantity, swap_rate if swap_rate is not None else rate)

    def _khaos_rate(self, item: dict[str, Any], sku: str, problems: list[Problem]) -> Decimal | None:
        """The VAT rate Khaos will put on the credit: its stock item's, when Khaos has told us."""
        stock = self.catalogue.current(sku)
        reveni = None if item.get("tax_rate") in (None, "") else Decimal(str(item["tax_rate"]))
        if stock is None or not stock.tax_code:
            return reveni
        khaos = self.rules.tax_code_rates.get(stock.tax_code)
        if khaos is None:
            problems.append(
                Problem(
                    "missing_tax_code",
                    "",
                    f"{sku}: Khaos's stock item carries tax code {stock.tax_code!r}, which is not under "
                    "the rules' khaos.tax_codes",
                    part="khaos",
                )
            )
        elif reveni is not None and khaos != reveni:
            problems.append(
                Problem(
                    "vat_rate_mismatch",
                    "",
                    f"{sku}: Reveni charged VAT at {reveni}% but Khaos's stock item is at {khaos}% "
                    f"(tax code {stock.tax_code}): the credit note's VAT would be wrong",
                )
            )
        return khaos

    def _note_lost_penny(self, item: dict[str, Any], returned: list[Priced]) -> None:
        total = Decimal(item["total"])
        if credited(returned) != total:
            self.draft.problems.append(
                self.rules.problem(
                    "net_price_penny",
                    f"{item['sku']}: with net prices Khaos will credit {credited(returned)} for a line "
                    f"the customer paid {total} for: no net unit price gives the exact gross",
                    str(item["id"]),
                )
            )

    def _note_disposition(self, item: dict[str, Any], variables: dict[str, Any]) -> None:
        """The Khaos reason and disposition the rules give the item now, credited or not:
        what Khaos holds is judged against it when the grade comes after Khaos pulled."""
        try:
            rule = next((r for r in self.rules.reasons if r.matches(item, variables)), None)
        except TemplateFailed:  # the rules' fault; the item's own outcome reports it if it matters
            return
        if rule is not None:
            self.draft.dispositions[str(item["id"])] = (rule.khaos_reason, rule.disposition)

    def _reason(self, item: dict[str, Any], variables: dict[str, Any]) -> Problem | None:
        code = item["return_reason"]["code"]
        if any(r.matches(item, variables) for r in self.rules.reasons):
            return None
        if any(r.reasons is None or code in r.reasons for r in self.rules.reasons):
            return Problem(
                "unmapped_disposition",
                "",
                f"Reason {code!r} with verdict {item.get('status')!r} "
                f"(reject reason {item.get('reject_reason')!r}) matches no rule",
            )
        return Problem(
            "unknown_reason", "", f"Return reason {code!r} is not in the rules: decide its Khaos reason and disposition"
        )

    def _tax(self, item: dict[str, Any], sku: str) -> Problem | None:
        """Reveni's rate and line tax. Khaos takes VAT from its stock item, never from the
        document: where Khaos has told us the item's rate, `_khaos_rate` compares the two;
        otherwise the rules' rate map stands in for it."""
        if item.get("tax_rate") in (None, ""):
            return Problem("missing_tax_code", "", f"{item['sku']}: Reveni sent no tax rate")
        rate = Decimal(str(item["tax_rate"]))
        stock = self.catalogue.current(sku)
        if stock is not None and stock.tax_code:
            return self._line_tax(item, rate)
        country = self.record["customer"].get("address", {}).get("country_code")
        currency = self.record.get("currency")
        if not any(
            r.rate == rate
            and (r.countries is None or country in r.countries)
            and (r.currencies is None or currency in r.currencies)
            for r in self.rules.tax_rules
        ):
            return Problem(
                "missing_tax_code",
                "",
                f"{item['sku']}: tax rate {rate}% ({country}, {currency}) has no Khaos tax code in the rules",
            )
        return self._line_tax(item, rate)

    def _line_tax(self, item: dict[str, Any], rate: Decimal) -> Problem | None:
        if "tax" in item and item["tax"] is not None:
            expected = self.rules.pricing.round(Decimal(item["total"]) * rate / (100 + rate))
            if abs(expected - Decimal(item["tax"])) > self.rules.tax_tolerance:
                return Problem(
                    "value_mismatch",
                    "",
                    f"{item['sku']}: Reveni's tax {item['tax']} is not {rate}% of {item['total']} ({expected})",
                )
        return None

    def _stock_code(self, sku: str, ean: str | None) -> tuple[str, Problem | None]:
        code, problem = self._find_stock(sku, ean)
        self.mappings[code] = self._mapping_types(code, ean)
        return code, problem

    def _mapping_types(self, sent: str, ean: str | None) -> list[str]:
        """Khaos looks up the SKU by each Mapping in turn (README L479-480); a Barcode
        mapping searches the barcodes for the SKU itself, so it goes only with an EAN."""
        if ean and sent == ean:
            return ["Barcode"]
        return [kind for kind in self.rules.sku_mapping if kind != "Barcode"] or list(self.rules.sku_mapping)

    def _find_stock(self, sku: str, ean: str | None) -> tuple[str, Problem | None]:
        rules, catalogue = self.rules, self.catalogue
        code = rules.aliases.get(sku, sku)
        if catalogue.is_empty:
            # Khaos has not pushed its stock: it checks on import. A rule set that maps by
            # Barcode first sends the item's EAN, the value Khaos then searches.
            if ean and rules.sku_mapping and rules.sku_mapping[0] == "Barcode":
                return str(ean), None
            return code, None
        stock = catalogue.current(code)
        if stock is None and catalogue.renamed(code) is not None:
            new_code = catalogue.renamed(code) or code
            if not rules.apply_learned_renames:
                return code, Problem(
                    "sku_renamed_needs_review",
                    "",
                    f"Khaos renamed stock code {code!r} to {new_code!r}: confirm it and add an alias",
                )
            code, stock = new_code, catalogue.current(new_code)
        if stock is None and ean and "Barcode" in rules.sku_mapping:
            stock = catalogue.by_barcode(str(ean))
            code = stock.code if stock is not None else code
        if stock is None:
            return code, Problem("sku_not_found", "", f"No Khaos stock item for SKU {sku!r}")
        if stock.discontinued:
            if code in rules.replacements:
                return rules.replacements[code], None
            return code, Problem(
                "sku_discontinued", "", f"Khaos has discontinued {code!r}: name a replacement or credit it by hand"
            )
        return code, None

    def _mapping(self, sku: str) -> list[dict[str, str]]:
        return [{"Mapping": kind} for kind in self.mappings.get(sku) or self.rules.sku_mapping]

    def _deduct(self) -> None:
        """Reveni kept part of a settled refund back (a return fee, a deduction for damage):
        when the rules name a Khaos non-stock item for it, a negative line carries it, so
        the credit equals the refund and the return may be processed."""
        draft, deduction = self.draft, self.rules.deduction
        kept = draft.credit - draft.refunded
        if deduction is None or not draft.lines or kept <= 0 or draft.refunded <= 0 or not self._settled():
            return
        draft.lines.append(self._deduction_line(-kept, DEDUCTION))

    def _deduction_line(self, amount: Decimal, line_id: str) -> Line:
        """The deductions item at `amount`: negative for what Reveni kept back, positive for a
        deduction Reveni paid out after all (carried by a follow-up document)."""
        rules, draft, deduction = self.rules, self.draft, self.rules.deduction
        assert deduction is not None
        priced = rules.pricing.price(amount, 1, rules.tax_code_rates.get(deduction.tax_code))
        return Line(
            line_id,
            [
                {
                    "SKU": deduction.stock_code,
                    "Mapping": [{"Mapping": "StockCode"}],
                    "Quantity": part.quantity,
                    "ReturnReason": {"ID": deduction.khaos_reason},
                    "SourceReference": {"SourceOrder": draft.source_order},
                    "UnitPrice": part.price,
                }
                for part in priced
            ],
            [],
            accepted=True,
            credit=credited(priced),
            disposition="deduction",
        )

    def _settled(self) -> bool:
        """Every item graded and none waiting on an exception: Reveni's refund is final."""
        return all(i.get("status") != "pending" for i in self.record["return_items"]) and not any(
            outcome.startswith("exception:") for outcome in self.draft.outcomes.values()
        )

    def _check_refund_against_credit(self) -> None:
        """Σ completed refunds against Σ credits the documents ask for, in the return's
        currency. A difference beyond `value_tolerance` is finance's, and Khaos does not
        process the return on import."""
        rules, draft = self.rules, self.draft
        credit = Decimal("0.00") if draft.withdraw else draft.credit
        difference = draft.refunded - credit
        if draft.hold_reason or abs(difference) <= rules.value_tolerance:
            return
        currency = draft.currency
        waiting = sum(1 for outcome in draft.outcomes.values() if outcome.startswith("exception:"))
        ungraded = sum(1 for outcome in draft.outcomes.values() if outcome == "skip:pending")
        if waiting:
            advice = f"{waiting} item(s) wait on other exceptions and follow once those are fixed."
        elif ungraded:
            advice = f"{ungraded} item(s) are not graded by the warehouse yet; their credit follows once they are."
        elif draft.refunded == 0:
            advice = "Reveni has not refunded yet: approve the credit in Khaos only once Reveni's refund is paid."
        elif difference < 0 and self.foreign:
            paid = ", ".join(f"{amount} {code}" for code, amount in sorted(self.foreign.items()))
            advice = (
                f"The rest was paid in another currency ({paid}, an exception of its own): agree what that "
                f"is in {currency} and reduce the credit to the {currency} refund before approving it."
            )
        elif difference < 0 and self.record.get("exchange_payments"):
            advice = (
                "Reveni's refunds less what the customer paid on top for exchange items come to less than the "
                "credit: check the exchange prices in Reveni (and any exchange the warehouse rejected) before "
                "approving the credit."
            )
        elif difference < 0:
            advice = (
                f"Reveni kept {-difference} {currency} back (a fee or a deduction): reduce the credit in Khaos "
                "to the refund before approving it, or have the consultant name a deductions item in the rules."
            )
        else:
            advice = (
                f"Reveni paid {difference} {currency} more than the credit (an item rejected after an instant "
                "refund, or a refund beyond the goods): recover it, or credit it by hand in Khaos."
            )
        draft.problems.append(
            rules.problem(
                "refund_credit_difference",
                f"Reveni refunded {draft.refunded} {currency}; the credit asks Khaos for {credit} {currency}, "
                f"a difference of {difference} {currency}. {advice}",
                details={
                    "currency": currency,
                    "refunded": str(draft.refunded),
                    "credited": str(credit),
                    "difference": str(difference),
                },
            )
        )


def _sum(movements: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(str(m["amount"])) for m in movements), Decimal("0.00"))
