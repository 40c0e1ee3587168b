"""Reveni's refunds against the credit the documents ask Khaos for, and the deductions line.

A difference beyond the rules' tolerance is finance's exception, with advice that never
invites a second credit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from msgspec import UNSET

from target_khaos_control.documents import Draft, Line
from target_khaos_control.exception_kinds import Kind
from target_khaos_control.item_outcomes import UNGRADED, ItemOutcome
from target_khaos_control.khaos_documents import DataItem, ItemMapping, OrderRef, OrderReference, Price, ReturnedItem
from target_khaos_control.money import credited
from target_khaos_control.reveni import ExchangePayment, Refund, Return, ReturnItem
from target_khaos_control.rules.catalogue import Catalogue

if TYPE_CHECKING:
    from target_khaos_control.rules.engine import RuleSet


DEDUCTION = "(deduction)"  # the line id of what Reveni kept back from a refund
Paid = Refund | ExchangePayment  # a money movement, typed
# An outcome waiting on an exception (`waits_on`): the only outcomes starting with the word.
_WAITING = f"{ItemOutcome.EXCEPTION}:"
ZERO = Decimal("0.00")  # nothing paid or credited; a Decimal is never changed, so one serves every return


def paid_total(movements: list[Paid]) -> Decimal:
    """The movements' amounts added up (as `refunded.total` adds up a record's)."""
    total = ZERO  # as `sum(..., ZERO)` adds, in order: a loop costs less than its generator
    for movement in movements:
        total += Decimal(str(movement.amount))
    return total


def _waiting_and_ungraded(outcomes: Iterable[str]) -> tuple[int, int]:
    """`waiting_items` and `ungraded_items` of the outcomes a draft made, counted in one loop."""
    waiting = ungraded = 0
    for outcome in outcomes:
        if outcome.startswith(_WAITING):
            waiting += 1
        elif outcome == UNGRADED:
            ungraded += 1
    return waiting, ungraded


class RefundCheck:
    """The refund side of one return's evaluation: what Reveni paid, and whether the credit agrees."""

    rules: RuleSet
    record: Return
    catalogue: Catalogue
    draft: Draft
    foreign: dict[str, Decimal]

    def _completed(self, key: str) -> list[Paid]:
        """Completed money movements of one kind; those in another currency are a problem of
        their own, one per currency (keyed by it), so a later cause never overwrites them.
        Read from the typed return as `refunded.completed` reads a record: the same movements."""
        given: Sequence[Paid] = (self.record.refunds if key == "refunds" else self.record.exchange_payments) or []
        if not given:  # most returns: nothing paid of this kind, so nothing to read
            return []
        currency = self.draft.currency
        # A typed amount is text Reveni's pattern passed (`reveni.Money`: always a number), or left out or null.
        found: list[Paid] = []  # completed, in the return's currency
        foreign: dict[str, list[Paid]] = {}  # completed, in another: by currency, in the order first paid
        for movement in given:  # one loop, no comprehension: most returns have one refund
            if movement.status == "completed" and type(movement.amount) is str:
                paid_in = str(movement.currency or currency)
                if paid_in == currency:
                    found.append(movement)
                else:
                    foreign.setdefault(paid_in, []).append(movement)
        for paid_in, movements in foreign.items():
            paid = ", ".join(
                f"{m.amount} {paid_in} ({key[:-1].replace('_', ' ')} {'?' if m.id is UNSET else m.id})"
                for m in movements
            )
            self.draft.problems.append(
                self.rules.problem(
                    Kind.REFUND_CREDIT_DIFFERENCE,
                    f"Reveni paid {paid} on a {currency} return: agree the amount in "
                    f"{currency} before approving the credit",
                    details={"paid_currency": paid_in, "paid": str(paid_total(movements))},
                    part=f"{key}:{paid_in}",
                )
            )
            self.foreign[paid_in] = self.foreign.get(paid_in, Decimal("0.00")) + paid_total(movements)
        return found

    def _deduct(self, settled: bool) -> None:
        """Reveni kept part of a settled refund back (a return fee, a deduction for damage):
        when the rules name a Khaos non-stock item for it, a negative line carries it, so
        the credit equals the refund and the return may be processed. `settled`: `_settled()`."""
        draft, deduction = self.draft, self.rules.deduction
        if deduction is None or not draft.lines or draft.refunded <= 0 or not settled:
            return  # most rule sets name no deductions item: the credit is not added up here
        kept = draft.credit - draft.refunded
        if kept <= 0:
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
                ReturnedItem(
                    SKU=deduction.stock_code,
                    Mapping=[ItemMapping(Mapping="StockCode")],
                    Quantity=part.quantity,
                    ReturnReason=DataItem(ID=deduction.khaos_reason),
                    SourceReference=OrderReference(SourceOrder=OrderRef(**draft.source_order)),
                    UnitPrice=Price(**part.price),
                )
                for part in priced
            ],
            [],
            accepted=True,
            credit=credited(priced),
            disposition="deduction",
        )

    def _settled(self, items: list[ReturnItem]) -> bool:
        """Every item (the return's `items`) graded and none waiting on an exception: Reveni's refund is final."""
        for item in items:
            if item.status == "pending":
                return False
        # `waiting_items` without its count: the first item waiting answers (read by its prefix, as
        # `_waiting_and_ungraded` reads it; a loop: all() of a generator costs more).
        for outcome in self.draft.outcomes.values():  # noqa: SIM110
            if outcome.startswith(_WAITING):
                return False
        return True

    def _check_refund_against_credit(self, asked: Decimal) -> None:
        """Σ completed refunds against Σ credits the documents ask for, in the return's
        currency. A difference beyond `value_tolerance` is finance's, and Khaos does not
        process the return on import. `asked`: the draft's credit, worked out by the caller."""
        rules, draft = self.rules, self.draft
        credit = Decimal("0.00") if draft.withdraw else asked
        difference = draft.refunded - credit
        if draft.hold_reason or abs(difference) <= rules.value_tolerance:
            return
        currency = draft.currency
        waiting, ungraded = _waiting_and_ungraded(draft.outcomes.values())
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
        elif difference < 0 and self.record.exchange_payments:
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
        refunded, asked_for, differs = str(draft.refunded), str(credit), str(difference)  # each written twice
        draft.problems.append(
            rules.problem(
                Kind.REFUND_CREDIT_DIFFERENCE,
                f"Reveni refunded {refunded} {currency}; the credit asks Khaos for {asked_for} {currency}, "
                f"a difference of {differs} {currency}. {advice}",
                details={"currency": currency, "refunded": refunded, "credited": asked_for, "difference": differs},
            )
        )
