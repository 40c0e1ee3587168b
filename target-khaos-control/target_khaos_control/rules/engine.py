"""Evaluate a client's rule set against one Reveni return.

Every item gets exactly one outcome: a line for Khaos, an exception for a person, or a
recorded reason to leave it out (rejected by the warehouse, not yet inspected). An item
with a problem never becomes a line, so a fix later sends it as a follow-up rather than
a guess now. Money stays Decimal throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from typing import Any

from jinja2 import TemplateError

from target_khaos_control.documents import Draft, Line, Problem, address, clean, khaos_datetime
from target_khaos_control.exception_kinds import Routing
from target_khaos_control.rules.catalogue import Catalogue
from target_khaos_control.rules.validation import unreadable

CENT = Decimal("0.01")


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
    gross_prices: bool
    rounding: str
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
    routing: Routing = field(default_factory=Routing)

    def problem(
        self,
        kind: str,
        message: str,
        item_id: str = "",
        *,
        blocking: bool = True,
        details: dict[str, Any] | None = None,
    ) -> Problem:
        owner, severity = self.routing.route(kind)
        return Problem(kind, owner, message, item_id, severity=severity, blocking=blocking, details=details or {})

    def draft(self, record: dict[str, Any], catalogue: Catalogue | None = None) -> Draft:
        return_id = record.get("id")
        draft = Draft(return_id="" if return_id is None else str(return_id), ruleset_hash=self.content_hash)
        broken = unreadable(record)
        if broken:
            return self._unreadable(draft, record, "; ".join(broken))
        try:
            _Evaluation(self, record, catalogue or Catalogue.empty(), draft).run()
            order = str((record.get("order") or {}).get("number") or "")
            for problem in draft.problems:
                problem.details.setdefault("order_number", order)
                problem.details.setdefault("source_order", draft.source_order)
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError, TemplateError) as error:
            return self._unreadable(draft, record, f"{type(error).__name__}: {error}")
        return draft

    def _unreadable(self, draft: Draft, record: dict[str, Any], why: str) -> Draft:
        draft.lines, draft.header = [], {}
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

    def run(self) -> None:
        record, rules, draft = self.record, self.rules, self.draft
        decision = rules.statuses[record["status"]]
        draft.withdraw = decision == "withdraw"
        draft.hold_reason = f"Reveni status {record['status']!r} is held by the rules" if decision == "hold" else ""
        refunded = [r for r in record.get("refunds") or [] if r.get("status") == "completed"]
        variables = {
            **record,
            "tables": rules.tables,
            "refunded": bool(refunded),
            "refunded_amount": sum((Decimal(r["amount"]) for r in refunded), Decimal(0)),
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
        credited = sum(
            (
                Decimal(item["total"])
                for item in record["return_items"]
                if draft.outcomes.get(str(item["id"])) == "line" and not item.get("exchange")
            ),
            Decimal(0),
        )
        variables |= {"every_line_accepted": all(line.accepted for line in draft.lines), "credited_amount": credited}
        draft.process = bool(draft.lines) and rules.process_when(variables)
        self._check_value(variables, credited)
        if any(not p.blocking for p in draft.problems):
            draft.process = False  # a flagged figure waits for a person to approve the credit

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
        draft.header = clean(
            {
                "CreatedDate": khaos_datetime(record["created_at"]),
                "URN": urn,
                "InvoiceAddress": invoice,
                "InvoiceContact": clean(
                    {
                        "Forename": customer.get("first_name"),
                        "Surname": customer.get("last_name"),
                        "Email": customer.get("email"),
                    }
                ),
                "SalesSource": {"Code": rules.sales_source(variables)} if rules.sales_source else None,
                "Brand": {"Code": rules.brand(variables)} if rules.brand else None,
                "Notes": rules.notes(variables) if rules.notes else None,
            }
        )

    def _item(self, item: dict[str, Any], variables: dict[str, Any]) -> None:
        rules, draft, item_id = self.rules, self.draft, str(item["id"])
        verdict = item.get("status") or "pending"
        policy = rules.verdicts.get(verdict, "skip")
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
        problems = [p for p in (self._reason(item, variables), self._tax(item)) if p is not None]
        sku, sku_problem = self._stock_code(str(item["sku"]), item.get("ean"))
        exchange, exchange_problem = None, None
        if item.get("exchange"):
            swap_sku, exchange_problem = self._stock_code(str(item["exchange"]["sku"]), item["exchange"].get("ean"))
            exchange = {
                "SKU": swap_sku,
                "Mapping": self._mapping(),
                "Quantity": int(item["exchange"].get("quantity") or item["quantity"]),
            }
        for found in (sku_problem, exchange_problem):
            if found is not None:
                problems.append(found)
        blocking = [p for p in problems if p.blocking]
        for found in problems:
            draft.problems.append(
                rules.problem(found.kind, found.message, item_id, blocking=found.blocking, details=details)
            )
        if blocking:
            draft.outcomes[item_id] = f"exception:{blocking[0].kind}"
            return
        rule = next(r for r in rules.reasons if r.matches(item, variables))
        draft.lines.append(
            Line(
                item_id,
                {
                    "SKU": sku,
                    "Mapping": self._mapping(),
                    "Quantity": int(item["quantity"]),
                    "ReturnReason": {"ID": rule.khaos_reason},
                    "SourceReference": {"SourceOrder": draft.source_order},
                    "UnitPrice": self._unit_price(item),
                },
                exchange,
                accepted=verdict == "accepted",
                disposition=rule.disposition,
            )
        )
        draft.outcomes[item_id] = "line"

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

    def _tax(self, item: dict[str, Any]) -> Problem | None:
        if item.get("tax_rate") in (None, ""):
            return Problem("missing_tax_code", "", f"{item['sku']}: Reveni sent no tax rate")
        rate = Decimal(str(item["tax_rate"]))
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
        if "tax" in item and item["tax"] is not None:
            expected = self._round(Decimal(item["total"]) * rate / (100 + rate))
            if abs(expected - Decimal(item["tax"])) > self.rules.tax_tolerance:
                return Problem(
                    "value_mismatch",
                    "",
                    f"{item['sku']}: Reveni's tax {item['tax']} is not {rate}% of {item['total']} ({expected})",
                    blocking=False,
                )
        return None

    def _stock_code(self, sku: str, ean: str | None) -> tuple[str, Problem | None]:
        rules, catalogue = self.rules, self.catalogue
        code = rules.aliases.get(sku, sku)
        if catalogue.is_empty:
            return code, None  # Khaos has not pushed its stock yet: it will check on import
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
            stock = catalogue.by_barcode(ean)
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

    def _mapping(self) -> list[dict[str, str]]:
        return [{"Mapping": kind} for kind in self.rules.sku_mapping]

    def _unit_price(self, item: dict[str, Any]) -> dict[str, Decimal]:
        price = Decimal(item["price"])
        if self.rules.gross_prices:
            return {"Gross": price}
        rate = Decimal(str(item["tax_rate"]))
        return {"Net": self._round(price * 100 / (100 + rate))}

    def _round(self, amount: Decimal) -> Decimal:
        return amount.quantize(CENT, rounding=ROUND_HALF_UP if self.rules.rounding == "half_up" else ROUND_HALF_EVEN)

    def _check_value(self, variables: dict[str, Any], credited: Decimal) -> None:
        """Refund against credit: a gap beyond tolerance is finance's to look at."""
        record, draft = self.record, self.draft
        decided = all(i.get("status") != "pending" for i in record["return_items"])
        # Items waiting on an exception explain their own gap; compare only a complete credit.
        complete = not any(result.startswith("exception:") for result in draft.outcomes.values())
        refunded = variables["refunded_amount"]
        if variables["refunded"] and decided and complete and abs(refunded - credited) > self.rules.value_tolerance:
            draft.problems.append(
                self.rules.problem(
                    "value_mismatch",
                    f"Reveni refunded {refunded} {record.get('currency', '')} but the credit comes to {credited}",
                    blocking=False,
                    details={"refunded": str(refunded), "credited": str(credited)},
                )
            )
