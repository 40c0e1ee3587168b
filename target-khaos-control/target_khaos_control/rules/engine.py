"""Evaluate a client's rule set against one Reveni return.

Every item gets exactly one outcome: a line for Khaos, an exception for a person, or a
recorded reason to leave it out (rejected by the warehouse, not yet inspected). An item
with a problem never becomes a line, so a fix later sends it as a follow-up rather than
a guess now. Money stays Decimal throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from jinja2 import TemplateError

from target_khaos_control.documents import Draft, Line, Problem, storable
from target_khaos_control.exception_kinds import Kind, Owner
from target_khaos_control.exception_routing import Routing
from target_khaos_control.item_outcomes import ItemOutcome, skipped, waits_on
from target_khaos_control.khaos_documents import (
    DataItem,
    ExchangeItem,
    OrderRef,
    OrderReference,
    Price,
    ReturnedItem,
)
from target_khaos_control.money import Priced, Pricing, credited
from target_khaos_control.reveni import Return, ReturnItem, Sent, required, sent
from target_khaos_control.rules.catalogue import Catalogue
from target_khaos_control.rules.document_header import DocumentHeader
from target_khaos_control.rules.item_pricing import AMOUNTS_KEPT, ItemPricing
from target_khaos_control.rules.reason_rules import ReasonMatching, ReasonRule, by_reason, certain, reason_code
from target_khaos_control.rules.refund_check import DEDUCTION as DEDUCTION
from target_khaos_control.rules.refund_check import ZERO, RefundCheck, paid_total
from target_khaos_control.rules.stock_codes import StockCodes, without_barcode
from target_khaos_control.rules.template_context import NAMES as TEMPLATE_FIELDS
from target_khaos_control.rules.template_context import Variables, variables_of
from target_khaos_control.rules.templates import TemplateFailed
from target_khaos_control.rules.validation import checked


@dataclass(frozen=True)
class Deduction:
    """The Khaos non-stock item that carries what Reveni kept back, as a negative line."""

    stock_code: str
    khaos_reason: str
    tax_code: str


@dataclass(frozen=True)
class TaxRule:
    """One entry of `tax:`: a VAT rate, for which countries and currencies, and its Khaos tax code."""

    rate: Decimal
    countries: frozenset[str] | None
    currencies: frozenset[str] | None
    code: str


@dataclass
class RuleSet:
    """A client's rules, loaded and checked: what turns each Reveni return into Khaos documents."""

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
    urn: Callable[[Variables], str]
    source_order_key: str
    source_order: Callable[[Variables], str]
    notes: Callable[[Variables], str] | None
    sales_source: Callable[[Variables], str] | None
    brand: Callable[[Variables], str] | None
    publish_when: Callable[[Variables], bool] | None
    tables: dict[str, dict[str, str]]
    statuses: dict[str, str]
    verdicts: dict[str, str]
    process_when: Callable[[Variables], bool]
    value_tolerance: Decimal
    hold_alert_days: int
    deduction: Deduction | None = None
    routing: Routing = field(default_factory=Routing)
    names_by: str = "Name"  # how SalesSource and Brand are named: Khaos never matches them by Code
    field_lengths: str = "cut"  # a name or address over Khaos's length: cut (with an exception) or hold
    sites: dict[str, str] = field(default_factory=dict)  # Khaos site id -> its name, for people to read
    # The return's fields its templates name (`read_by`): each return's variables hold only these.
    template_fields: tuple[str, ...] = TEMPLATE_FIELDS
    # `template_fields` read from a return, made with the rule set (as `reasons_by_code`).
    template_variables: Callable[[Return], Variables] = field(init=False, repr=False, compare=False)
    # `reasons` by reason code: an item is tried against its reason's rules only (`by_reason`).
    reasons_by_code: dict[str, tuple[ReasonRule, ...]] | None = field(init=False, repr=False, compare=False)
    # The rule a reason code's items all match, where its first rule has no condition (`certain`).
    certain_reasons: dict[str, ReasonRule] = field(init=False, repr=False, compare=False)
    # `tax_rules` by rate: only a rule of the item's rate can match it (equal Decimals hash alike).
    tax_rules_by_rate: dict[Decimal, tuple[TaxRule, ...]] = field(init=False, repr=False, compare=False)
    # `sku_mapping` but Barcode: how Khaos finds a stock code sent as it is, not as an EAN.
    mapping_but_barcode: tuple[str, ...] = field(init=False, repr=False, compare=False)
    # Each amount's Decimal by its text as Reveni sent it (`amount`): prices and rates repeat from
    # return to return, and a Decimal made once keeps its hash for the look-ups that key by it.
    amounts: dict[str, Decimal] = field(default_factory=dict, init=False, repr=False, compare=False)
    # A line's tax as the rules expect it, by its paid total and rate (`ItemPricing._line_tax`).
    expected_taxes: dict[tuple[Decimal, Decimal], Decimal] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        """Index the reason and tax rules, and make the reading of the templates' fields, once, as they are loaded."""
        self.reasons_by_code = by_reason(self.reasons)
        self.certain_reasons = certain(self.reasons_by_code)
        self.mapping_but_barcode = without_barcode(self.sku_mapping)
        self.tax_rules_by_rate = {
            rate: tuple(rule for rule in self.tax_rules if rule.rate == rate)
            for rate in {r.rate for r in self.tax_rules}
        }
        self.template_variables = variables_of(self.template_fields)

    def amount(self, text: str) -> Decimal:
        """`Decimal(text)`, made once for each text (a Decimal is never changed): at most
        AMOUNTS_KEPT are kept, then they are made again."""
        found = self.amounts.get(text)
        if found is None:
            if len(self.amounts) >= AMOUNTS_KEPT:
                self.amounts.clear()
            found = self.amounts[text] = Decimal(text)
        return found

    def problem(
        self,
        kind: Kind,
        message: str,
        item_id: str = "",
        *,
        details: Mapping[str, object] | None = None,
        hold: bool | None = None,
        part: str = "",
    ) -> Problem:
        """An exception of this kind as a draft finds it (a `Problem`), routed as the client's rules say."""
        owner, severity = self.routing.route(kind)
        return Problem(
            kind, owner, message, item_id, severity=severity, details=dict(details or {}), hold=hold, part=part
        )

    def draft(self, record: Sent, catalogue: Catalogue | None = None, *, written: bool = False) -> Draft:
        """What the rules make of one Reveni return: its document lines, exceptions and figures
        (`written`: msgspec wrote the record already, as `reveni.read` says)."""
        return_id = record.get("id")
        draft = Draft(return_id="" if return_id is None else storable(str(return_id)), ruleset_hash=self.content_hash)
        typed = checked(record, written=written)  # converted once: the rules read the typed return from here on
        if isinstance(typed, list):
            return self._unreadable(draft, record, "; ".join(typed))
        try:
            _Evaluation(self, typed, catalogue or Catalogue.empty(), draft).run()
            if draft.problems:  # most returns have none: the order number is not read
                self._detailed(draft, str((typed.order and typed.order.number) or ""))
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError, TemplateError) as error:
            return self._unreadable(draft, record, f"{type(error).__name__}: {error}")
        except TemplateFailed as failed:  # the rules' fault: the return itself may be fine
            draft.lines, draft.header, draft.decided = [], None, False
            draft.problems = [
                self.problem(Kind.RULE_TEMPLATE_FAILED, f"Reveni return {draft.return_id or '?'}: {failed}")
            ]
            draft.outcomes = {item.id: waits_on(Kind.RULE_TEMPLATE_FAILED) for item in typed.return_items or []}
        return draft

    @staticmethod
    def _detailed(draft: Draft, order: str) -> None:
        """Each problem's details name the return's order, currency and source order, unless they say otherwise."""
        for problem in draft.problems:
            problem.details.setdefault("order_number", order)
            problem.details.setdefault("currency", draft.currency)
            problem.details.setdefault("source_order", draft.source_order)

    def _unreadable(self, draft: Draft, record: Sent, why: str) -> Draft:
        draft.lines, draft.header, draft.decided = [], None, False
        draft.problems = [
            self.problem(Kind.INVALID_RECORD, f"Reveni return {draft.return_id or '?'} cannot be read: {why}")
        ]
        draft.outcomes = dict.fromkeys(_item_ids(record), waits_on(Kind.INVALID_RECORD))
        return draft


def _item_ids(record: Sent) -> list[str]:
    """The ids of a record's items, read from the record itself when it is no typed return."""
    items = record.get("return_items")
    return [str(i.get("id")) for i in items if isinstance(i, dict)] if isinstance(items, list) else []


@dataclass
class _Evaluation(DocumentHeader, RefundCheck, ItemPricing, StockCodes, ReasonMatching):
    rules: RuleSet
    record: Return  # the Reveni return, typed: mypy checks each field the rules read
    catalogue: Catalogue
    draft: Draft
    mappings: dict[str, tuple[str, ...]] = field(default_factory=dict)  # SKU sent -> its Mapping types
    foreign: dict[str, Decimal] = field(default_factory=dict)  # paid in another currency than the return's
    # Every returned item's SourceReference: made once a return (its source order is known by then).
    source: OrderReference | None = None
    tax_place: tuple[str | None, str | None] | None = None  # the return's country and currency, for `_tax`

    def run(self) -> None:
        record, rules, draft = self.record, self.rules, self.draft
        status = required(record.status, "status")
        decision = rules.statuses[status]
        draft.withdraw = decision == "withdraw"
        draft.hold_reason = f"Reveni status {status!r} is held by the rules" if decision == "hold" else ""
        draft.currency = str(record.currency)
        # Most returns: no top-ups, often no refund yet; nothing to look through then.
        refunded = self._completed("refunds") if record.refunds else []
        top_ups = self._completed("exchange_payments") if record.exchange_payments else []
        draft.refunded = paid_total(refunded) - paid_total(top_ups) if refunded or top_ups else ZERO
        # Only the fields the rules' templates name (a new dict each return: the engine's own join it in place).
        variables = rules.template_variables(record)
        variables["tables"] = rules.tables
        variables["refunded"] = bool(refunded)
        variables["refunded_amount"] = draft.refunded
        if not draft.hold_reason and rules.publish_when is not None and not rules.publish_when(variables):
            draft.hold_reason = "the rules' publish_when is not met yet"
        self._header(variables)
        items = required(record.return_items, "return_items")
        blocked = next((p for p in draft.problems if p.blocking), None) if draft.problems else None
        for item in items:
            if blocked is not None:
                draft.outcomes[item.id] = waits_on(blocked.kind)
            else:
                self._item(item, variables)
        settled = self._settled(items)  # the deduction line changes no outcome: worked out once
        if rules.deduction is not None:
            self._deduct(settled)
            draft.adjustment = self._deduction_line
        draft.settled, draft.tolerance = settled, rules.value_tolerance
        lines = draft.lines
        if lines:  # every line's credit, the deduction's too: no line is added after it
            credit, accepted = ZERO, True  # `draft.credit` and `all(line.accepted ...)`, in one loop
            for line in lines:
                credit += line.credit
                accepted = accepted and line.accepted
            variables["every_line_accepted"] = accepted
            variables["credited_amount"] = credit
            draft.process = rules.process_when(variables)
        else:  # nothing to credit: Khaos processes nothing, and `process_when` is not asked
            credit = ZERO
        self._check_refund_against_credit(credit)
        if (
            draft.process
            and draft.problems
            and any(not p.blocking and p.kind.owner == Owner.FINANCE for p in draft.problems)
        ):
            draft.process = False  # a flagged figure waits for a person to approve the credit

    def _item(self, item: ReturnItem, variables: Variables) -> None:
        rules, draft, item_id = self.rules, self.draft, item.id
        verdict = item.status or "pending"
        policy = rules.verdicts.get(verdict, "skip")
        rule, failed = self._matching(item, variables)  # once per item: `when` may render a template
        if rule is not None:  # noted credited or not: a grade after Khaos pulled is judged against it
            draft.dispositions[item_id] = (rule.khaos_reason, rule.disposition)
        if policy == "skip" or (policy == "credit_if_refunded" and not variables["refunded"]):
            draft.outcomes[item_id] = skipped(verdict)
            return
        sku, sku_problem = self._stock_code(str(item.sku), sent(item.ean))
        stock = self.catalogue.current(sku)  # read once: for Reveni's tax and for Khaos's rate
        reveni_rate = rules.amount(item.tax_rate) if item.tax_rate else None  # its pattern makes it a number
        paid = rules.amount(item.total) if item.total else None  # read once, for the tax check and the price
        problems: list[Problem] = []
        # A rule found by the item's reason code read that code and leaves no problem: `_reason` is not asked.
        reason = None if rule is not None and rules.reasons_by_code is not None else self._reason(item, rule, failed)
        for found in (reason, self._tax(item, reveni_rate, stock, paid), sku_problem):
            if found is not None:  # a loop, not a comprehension: Python 3.11 makes a function for one
                problems.append(found)
        exchange = item.exchange or None
        swap_sku = ""
        if exchange:
            swap_sku, exchange_problem = self._stock_code(str(exchange.sku), sent(exchange.ean))
            if exchange_problem is not None:  # its own exception, beside one about the returned SKU
                problems.append(Problem(exchange_problem.kind, "", exchange_problem.message, part="exchange"))
        rate = self._khaos_rate(sku, stock, reveni_rate, problems)
        if problems:  # most items have none: their details are never read, nothing blocks them
            details = {
                "sku": sent(item.sku),
                "quantity": sent(item.quantity),
                "price": sent(item.price),
                "reason": reason_code(item),
                "source_order": draft.source_order,
            }
            for found in problems:
                draft.problems.append(
                    rules.problem(found.kind, found.message, item_id, details=details, part=found.part)
                )
            blocking = next((p for p in problems if p.blocking), None)
            if blocking is not None:
                draft.outcomes[item_id] = waits_on(blocking.kind)
                return
        assert rule is not None  # no rule matched is a blocking problem (`_reason`)
        quantity = required(item.quantity, "quantity")
        paid = required(paid, "total")
        returned = rules.pricing.price(paid, quantity, rate)
        credit = credited(returned)  # read for the line and for a lost penny: added up once
        swapped = self._exchange_prices(item, exchange, swap_sku, rate) if exchange else []
        source = self.source
        if source is None:
            source = self.source = OrderReference(SourceOrder=OrderRef(**draft.source_order))
        returned_items = []
        for part in returned:  # a loop, not a comprehension: Python 3.11 makes a function for one
            returned_items.append(
                ReturnedItem(
                    SKU=sku,
                    Mapping=self._mapping(sku),
                    Quantity=part.quantity,
                    ReturnReason=DataItem(ID=rule.khaos_reason),
                    SourceReference=source,
                    UnitPrice=Price(**part.price),
                )
            )
        draft.lines.append(
            Line(
                item_id,
                returned_items,
                self._exchange_items(swap_sku, swapped) if swapped else [],
                accepted=verdict == "accepted",
                credit=credit - credited(swapped) if swapped else credit,  # less nothing: the same Decimal
                disposition=rule.disposition,
            )
        )
        draft.outcomes[item_id] = ItemOutcome.LINE
        if credit != paid:  # only with net prices, and seldom then
            self._note_lost_penny(item, paid, credit)

    def _exchange_items(self, swap_sku: str, swapped: list[Priced]) -> list[ExchangeItem]:
        """What the customer gets instead, at its prices (only exchanged items come here: a
        comprehension over none still costs its function in Python 3.11)."""
        return [
            ExchangeItem(
                SKU=swap_sku, Mapping=self._mapping(swap_sku), Quantity=part.quantity, UnitPrice=Price(**part.price)
            )
            for part in swapped
        ]
