"""What Reveni paid out on a return: its completed refunds less the exchange top-ups the
customer paid, per currency; one definition for the rules, the reconciliation and the close.

A movement (a refund or a top-up) counts once Reveni calls it `completed` and its amount
reads as a number (an unreadable one is the rules' `invalid_record`). A movement that
names no currency is in the return's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation

Movement = Mapping[str, object]  # a refund or a top-up, as Reveni sent it
# Each kind of money movement: the record's key and its date's field (refunds count for, top-ups against).
MOVEMENTS: tuple[tuple[str, str], ...] = (("refunds", "refunded_at"), ("exchange_payments", "paid_at"))


def completed(record: Mapping[str, object], key: str) -> list[Movement]:
    """The completed movements of one kind (`refunds` or `exchange_payments`) whose amount reads."""
    found = record.get(key)
    return [
        m
        for m in (found if isinstance(found, list) else [])
        if isinstance(m, Mapping) and m.get("status") == "completed" and is_amount(m.get("amount"))
    ]


def currency_of(movement: Movement, currency: str) -> str:
    """The movement's currency; the return's (`currency`) when it names none."""
    return str(movement.get("currency") or currency)


def total(movements: Iterable[Movement]) -> Decimal:
    """The movements' amounts added up."""
    return sum((Decimal(str(m["amount"])) for m in movements), Decimal("0.00"))


def net(refunds: Iterable[Movement], top_ups: Iterable[Movement]) -> Decimal:
    """What Reveni paid out in one currency: the refunds less the customer's top-ups."""
    return total(refunds) - total(top_ups)


def refunded(
    record: Mapping[str, object], currency: str, *, dated: Callable[[str], bool] | None = None
) -> dict[str, Decimal]:
    """Per currency, completed refunds less completed top-ups; with `dated`, only the
    movements whose date (`refunded_at` or `paid_at`, '' when missing) it accepts."""
    refunds, top_ups = (
        [m for m in completed(record, key) if dated is None or dated(str(m.get(when) or ""))] for key, when in MOVEMENTS
    )
    return paid_out(refunds, top_ups, currency)


def paid_out(refunds: Iterable[Movement], top_ups: Iterable[Movement], currency: str) -> dict[str, Decimal]:
    """Per currency (in the order first met), `completed` refunds less `completed` top-ups:
    for a caller that has them already (the reconciliation reads them once per return)."""
    moved: dict[str, list[Decimal]] = {}  # currency -> [refunds, top-ups], each added up from 0.00 as `total`
    for side, movements in enumerate((refunds, top_ups)):
        for m in movements:
            sums = moved.setdefault(currency_of(m, currency), [Decimal("0.00"), Decimal("0.00")])
            sums[side] += Decimal(str(m["amount"]))
    return {paid_in: paid - topped_up for paid_in, (paid, topped_up) in moved.items()}


def is_amount(value: object) -> bool:
    """Whether `value` reads as a finite number."""
    try:
        return value is not None and Decimal(str(value)).is_finite()
    except InvalidOperation:
        return False
