"""A later version of a return Khaos already holds, judged against what Khaos holds.

The figure finance sees is the cash now (Reveni's completed refunds in the return's
currency, less top-ups) minus what Khaos holds (`khaos_position`) and what the next
follow-up document will carry. Where a follow-up can carry the difference (items credited
later, a deduction recovered or a fee kept back from items still to go), it does, so Khaos
holds the cash. What remains is one finance exception naming what Khaos holds, the cash
and the difference, with advice that moves Khaos by exactly the difference on a named
reference: it never says to credit by hand what Khaos already holds. A cancellation, a
refund reversed and a refund charged back after posting each have their own kind; a grade
that comes after Khaos pulled an item as return-to-stock is the warehouse's, before
anyone processes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from target_khaos_control.documents import Draft, Line, Problem, associated_ref
from target_khaos_control.exception_kinds import Kind
from target_khaos_control.exception_routing import Routing
from target_khaos_control.item_outcomes import ItemOutcome, ungraded_items, waiting_items
from target_khaos_control.khaos_position import HeldDocument, Position
from target_khaos_control.refunded import Movement
from target_khaos_control.rules.engine import DEDUCTION

REVERSED, CHARGED_BACK = "reversed", "charged_back"  # a completed refund Reveni took back, and how
# Settled by a person in Khaos, which tells us nothing of it: once a person resolves one,
# later versions of the return do not open it again (the money kinds reopen until a
# credit note shows Khaos holds the cash).
SETTLED_IN_KHAOS = frozenset({Kind.GRADED_AFTER_PULL, Kind.CANCELLED_AFTER_POSTING})
RESTOCK = "restock"


@dataclass
class Judgment:
    """What the version adds to the follow-up document, and the exceptions it raises."""

    adjustment: Line | None = None
    problems: list[Problem] = field(default_factory=list)


def judge(
    position: Position, record: Mapping[str, object], draft: Draft, to_send: list[Line], sequence: int, routing: Routing
) -> Judgment:
    """Judge `draft` against what Khaos holds; `to_send` are the item lines of the follow-up
    document numbered `sequence`."""
    judgment = Judgment(problems=_late_grades(position, record, draft, routing))
    if draft.withdraw:
        judgment.problems.append(_cancelled(position, draft, routing))
    if not position.known:  # a document from before its figures were kept: the rules' own check stands
        return judgment
    held, cash = position.held(draft.currency), draft.refunded
    pending = sum((line.credit for line in to_send), Decimal("0.00"))
    judgment.adjustment = _adjustment(position, record, draft, cash - held - pending, pending, sequence)
    if judgment.adjustment is not None:
        pending += judgment.adjustment.credit
    difference = cash - held - pending
    if abs(difference) > draft.tolerance:
        judgment.problems.append(_difference(position, record, draft, held, pending, difference, sequence, routing))
    return judgment


def _adjustment(
    position: Position, record: Mapping[str, object], draft: Draft, gap: Decimal, items: Decimal, sequence: int
) -> Line | None:
    """A deductions line for the follow-up: a deduction Reveni has since paid out (up to
    what was deducted), or a fee kept back from the `items` still to go (up to them)."""
    if draft.adjustment is None or gap == 0 or not draft.settled or draft.withdraw or draft.refunded <= 0:
        return None
    if _taken_back(record, draft.currency):
        return None
    deducted = -sum(
        (line.credit for _, line in position.lines().values() if line.item_id.startswith(DEDUCTION)), Decimal("0.00")
    )
    if 0 < gap <= deducted or (gap < 0 and items + gap >= 0 < items):
        return draft.adjustment(gap, f"{DEDUCTION}-{sequence}")
    return None


def _difference(
    position: Position,
    record: Mapping[str, object],
    draft: Draft,
    held: Decimal,
    pending: Decimal,
    difference: Decimal,
    sequence: int,
    routing: Routing,
) -> Problem:
    currency, amount = draft.currency, abs(difference)
    taken = _taken_back(record, currency)
    kind = Kind.KHAOS_CREDIT_DIFFERENCE
    if difference < 0 and any(m.get("status") == CHARGED_BACK for m in taken):
        kind = Kind.CHARGEBACK_AFTER_POSTING
    elif difference < 0 and any(m.get("status") == REVERSED for m in taken):
        kind = Kind.REFUND_REVERSED_AFTER_POSTING
    more = difference > 0
    advice = _more_cash(position, draft, amount) if more else _less_cash(position, record, draft, taken, kind, amount)
    follow_up = associated_ref(draft.return_id, sequence)
    if not pending:
        waiting = ""
    elif draft.blocking_reason:
        waiting = f", and {pending} {currency} waits in {follow_up}, held back until its exceptions are fixed"
    else:
        waiting = f", and {pending} {currency} goes in {follow_up} at Khaos's next pull"
    owner, severity = routing.route(kind)
    return Problem(
        kind,
        owner,
        f"Khaos holds {held} {currency} for Reveni return {draft.return_id} ({position.describe()}){waiting}; "
        f"Reveni's cash is {draft.refunded} {currency}, a difference of {difference} {currency}. {advice}",
        severity=severity,
        details={
            "currency": currency,
            "held": str(held),
            "pending": str(pending),
            "cash": str(draft.refunded),
            "difference": str(difference),
        },
        part=currency,
    )


def _more_cash(position: Position, draft: Draft, amount: Decimal) -> str:
    currency = draft.currency
    waiting = waiting_items(draft.outcomes.values())
    ungraded = ungraded_items(draft.outcomes.values())
    if waiting:
        return (
            f"{waiting} item(s) wait on other exceptions and go to Khaos in a follow-up document once those are "
            "fixed: credit nothing by hand meanwhile."
        )
    if ungraded:
        return f"{ungraded} item(s) are not graded yet and follow in their own document once they are."
    first = position.documents[0].associated_ref
    return (
        f"Reveni paid {amount} {currency} beyond what Khaos holds (a refund beyond the goods, or an item rejected "
        f"after its refund, or a deduction with no deductions item in the rules): raise a credit for {amount} "
        f"{currency} on {first} only once you have agreed it with Reveni, or recover it from the customer."
    )


def _less_cash(
    position: Position, record: Mapping[str, object], draft: Draft, taken: list[Movement], kind: Kind, amount: Decimal
) -> str:
    currency, doc = draft.currency, _holder(position, draft)
    refunds = [m for m in _listed(record, "refunds") if isinstance(m, Mapping)]
    unpaid = [m for m in refunds if m.get("status") not in ("completed", REVERSED, CHARGED_BACK, "failed")]
    foreign = [m for m in refunds if m.get("status") == "completed" and m.get("currency", currency) != currency]
    if kind == Kind.CHARGEBACK_AFTER_POSTING:
        what = ", ".join(f"refund {m.get('id', '?')} ({m.get('amount')} {currency})" for m in taken)
        cause = f"Reveni's {what} was charged back. Confirm the chargeback with the payment provider, then "
    elif kind == Kind.REFUND_REVERSED_AFTER_POSTING:
        what = ", ".join(f"refund {m.get('id', '?')} ({m.get('amount')} {currency})" for m in taken)
        cause = f"Reveni reversed {what}: "
    elif foreign:
        paid = ", ".join(f"{m.get('amount')} {m.get('currency')} (refund {m.get('id', '?')})" for m in foreign)
        return (
            f"Reveni paid the rest in another currency: {paid}, an exception of its own. Agree with Reveni what "
            f"that is in {currency} before moving {doc.associated_ref}: reverse only what is left over, once."
        )
    elif unpaid or not any(m.get("status") == "completed" for m in refunds):
        what = "; ".join(f"refund {m.get('id', '?')} is still {m.get('status')}" for m in unpaid)
        return (
            f"{what or 'Reveni has not refunded yet'}: the difference closes by itself once it is paid. Until then, "
            + (
                f"leave {doc.associated_ref} awaiting approval in Khaos."
                if not doc.posted
                else f"Khaos has already posted {doc.associated_ref}: credit nothing again."
            )
        )
    else:
        cause = "Reveni kept back or recovered part of the refund after Khaos took the credit: "
    if doc.posted:
        return f"{cause}reverse {amount} {currency} on {doc.associated_ref}; credit nothing again."
    return (
        f"{cause}reverse {amount} {currency} on {doc.associated_ref}: it awaits approval in Khaos, so reduce it by "
        f"{amount} {currency} before approving it."
    )


def _holder(position: Position, draft: Draft) -> HeldDocument:
    """The document to reverse on: the one holding an item no longer credited, else the latest."""
    for doc in position.documents:
        if any(draft.outcomes.get(item, ItemOutcome.LINE) != ItemOutcome.LINE for item in doc.lines):
            return doc
    return position.documents[-1]


def _cancelled(position: Position, draft: Draft, routing: Routing) -> Problem:
    kind = Kind.CANCELLED_AFTER_POSTING
    owner, severity = routing.route(kind)
    held, currency = position.held(draft.currency), draft.currency
    money = (
        "The credit Khaos holds equals Reveni's refund: do not credit it again."
        if position.known and abs(draft.refunded - held) <= draft.tolerance
        else "Finance has the money's difference as an exception of its own."
    )
    return Problem(
        kind,
        owner,
        f"Reveni cancelled return {draft.return_id} after Khaos pulled it ({position.describe()}); Reveni's "
        f"refunds stand at {draft.refunded} {currency}. {money} Ask the customer whether the goods are coming back, "
        "and tell the warehouse whether to expect them.",
        severity=severity,
        details={"currency": currency, "held": str(held), "cash": str(draft.refunded)},
    )


def _late_grades(position: Position, record: Mapping[str, object], draft: Draft, routing: Routing) -> list[Problem]:
    """Items Khaos holds as return-to-stock whose grade now says they may not go to stock."""
    items = {str(i.get("id")): i for i in _listed(record, "return_items") if isinstance(i, Mapping)}
    owner, severity = routing.route(Kind.GRADED_AFTER_PULL)
    found = []
    for item_id, (doc, line) in position.lines().items():
        item = items.get(item_id)
        if line.disposition != RESTOCK or item is None:
            continue
        reason, disposition = draft.dispositions.get(item_id, ("", ""))
        if item.get("status") == "rejected":
            cause = f"the warehouse has since rejected it ({item.get('reject_reason') or 'no reason given'})"
            right = disposition if disposition not in ("", RESTOCK) else "quarantine"
        elif disposition not in ("", RESTOCK):
            cause, right = f"its grade now gives {disposition} (Khaos reason {reason})", disposition
        else:
            continue
        if doc.posted:
            act = f"Khaos has processed {doc.associated_ref}: move it out of saleable stock as {right}"
        else:
            act = f"before anyone processes {doc.associated_ref}, change this line to {right}"
        found.append(
            Problem(
                Kind.GRADED_AFTER_PULL,
                owner,
                f"{item.get('sku')} x{item.get('quantity')} went to Khaos in {doc.associated_ref} as return to stock "
                f"(Khaos reason {line.khaos_reason}) before it was graded; {cause}, so it must not go back to "
                f"stock: {act}.",
                item_id,
                severity=severity,
                details={"associated_ref": doc.associated_ref, "disposition": right, "sku": item.get("sku")},
                part=right,  # a later grade with another disposition is news
            )
        )
    return found


def _taken_back(record: Mapping[str, object], currency: str) -> list[Movement]:
    """Refunds Reveni completed, then reversed or had charged back, in the return's currency."""
    return [
        m
        for m in _listed(record, "refunds")
        if isinstance(m, Mapping)
        and m.get("status") in (REVERSED, CHARGED_BACK)
        and m.get("currency", currency) == currency
    ]


def _listed(record: Mapping[str, object], key: str) -> list[object]:
    """The list at `key`; none where the record has no list there."""
    found = record.get(key)
    return found if isinstance(found, list) else []
