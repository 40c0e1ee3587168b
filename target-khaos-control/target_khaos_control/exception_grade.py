"""How urgent an open exception is now: by the money at stake and how long it has been open.

A kind's registered severity says how bad the problem is in general; a person deciding
what to do first needs how bad this one is. So an exception with money attached (a
price and quantity, a refund against a credit) is graded by that money and its age, and
one without keeps its kind's severity, becoming high once open a week. A severity the
client set in `rules.yml` (`exceptions:`) is never graded over. The thresholds are in
the exception's own currency (docs/finance.md, "How urgent").
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from target_khaos_control.at_stake import amount as money_at_stake
from target_khaos_control.exception_kinds import KINDS, Severity
from target_khaos_control.times import utc

__all__ = ["age_days", "grade", "money_at_stake"]  # money at stake is at_stake's, one definition

HIGH_AMOUNT = Decimal("100")  # at stake: at least this much is high
MEDIUM_AMOUNT = Decimal("20")  # at least this much is medium; below, low
HIGH_AGE_DAYS = 7  # open this long: high, whatever the amount
MEDIUM_AGE_DAYS = 2  # open this long: at least medium


def age_days(first_seen: datetime | None, moment: datetime) -> int | None:
    """Whole days since the exception was first seen."""
    if first_seen is None:
        return None
    first_seen = utc(first_seen)  # SQLite gives back the store's UTC times without their zone
    return max((moment - first_seen).days, 0)


def grade(kind: str, stored: str, at_stake: Decimal | None, age: int | None) -> str:
    """The severity a person sees: `stored` when the client chose it (it differs from the
    kind's), else graded by the money at stake and the age."""
    registered = KINDS.get(kind)
    if registered is None or stored != registered.severity:
        return stored
    old = age or 0
    if at_stake is None:
        return str(Severity.HIGH if old >= HIGH_AGE_DAYS else registered.severity)
    if at_stake >= HIGH_AMOUNT or old >= HIGH_AGE_DAYS:
        return str(Severity.HIGH)
    if at_stake >= MEDIUM_AMOUNT or old >= MEDIUM_AGE_DAYS:
        return str(Severity.MEDIUM)
    return str(Severity.LOW)
