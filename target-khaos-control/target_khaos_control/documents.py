"""What one Reveni return should become in Khaos Control: a `CustomerReturn` document
(shared/spec/khaos-control-cloud.md), or problems for a person to fix.

The rules engine fills a `Draft`; the store then decides which document (new, updated,
or a follow-up) carries its lines. Stock never moves before grading: `ProcessReturn` is
true only when the rules say so and every line in the document was accepted by the
warehouse.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from target_khaos_control import reveni
from target_khaos_control.exception_kinds import Kind
from target_khaos_control.khaos_documents import Address, CustomerReturn, DataItem, ExchangeItem, ReturnedItem
from target_khaos_control.times import utc

# Everything XML 1.0 (section 2.2) does not allow as a character.
FORBIDDEN = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Khaos is a UK system and its DateTime has no offset (README L280): we send UK wall-clock
# time, as a Khaos user reads it (docs/integration.md, "Dates and times").
KHAOS_TIME_ZONE = ZoneInfo("Europe/London")


@dataclass(frozen=True, init=False)
class Problem:
    """Something a person must fix; a blocking one keeps its item (or return) from Khaos."""

    kind: Kind
    owner: str  # finance, warehouse, cx or integration
    message: str
    item_id: str = ""
    severity: str = "high"
    details: dict[str, object] = field(default_factory=dict, compare=False)
    hold: bool | None = None  # a rule set's own choice for this one; None: the kind's default
    part: str = ""  # the field, currency or SKU it is about, where one return has several causes

    def __init__(
        self,
        kind: Kind,
        owner: str,
        message: str,
        item_id: str = "",
        severity: str = "high",
        details: dict[str, object] | None = None,
        hold: bool | None = None,
        part: str = "",
    ) -> None:
        """The fields above, in their order (`details` a new dict when not given)."""
        # One update of its dict, not a frozen dataclass's object.__setattr__ per field: about half
        # of all returns make one (a refund against the credit), many make several.
        self.__dict__.update(
            kind=kind,
            owner=owner,
            message=message,
            item_id=item_id,
            severity=severity,
            details={} if details is None else details,
            hold=hold,
            part=part,
        )

    @property
    def blocking(self) -> bool:
        """Whether it keeps its item (or return) from Khaos: its kind's default, unless the
        rule set chose (`field_lengths: hold`)."""
        return self.kind.holds if self.hold is None else self.hold


# A Struct: one is made for each item of each return, ~20x quicker than a frozen dataclass.
class Line(msgspec.Struct, frozen=True):
    """One Reveni item as Khaos will see it: one returned item, or two when its paid price
    is split a penny apart; the exchange items it was swapped for; and what Khaos will
    credit for all of it (negative when the exchange costs more than the return)."""

    item_id: str  # the Reveni item this line credits: never credited twice
    returned: list[ReturnedItem]
    exchanges: list[ExchangeItem]  # for an exchanged item
    accepted: bool
    credit: Decimal  # Σ returned UnitPrice × Quantity − Σ exchanged, as Khaos will post it
    disposition: str = ""


@dataclass
class Draft:
    """What the rules made of one Reveni return: the document's header and lines, its exceptions, and the figures."""

    return_id: str
    ruleset_hash: str = ""
    header: CustomerReturn | None = None  # the document but its reference, items and ProcessReturn
    source_order: dict[str, str] = field(default_factory=dict)
    lines: list[Line] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)  # item id -> line | exception:<kind> | skip:<why>
    process: bool = False
    currency: str = ""  # the return's currency: every amount here is in it
    refunded: Decimal = Decimal("0.00")  # Reveni's completed refunds, less top-ups the customer paid
    withdraw: bool = False  # Reveni cancelled it: take back what Khaos has not pulled
    hold_reason: str = ""  # the rules hold this return back for now
    decided: bool = True  # False: the return could not be read, or the rules stopped: its figures mean nothing
    tolerance: Decimal = Decimal("0.00")  # the rules' value_tolerance: a smaller gap is no difference
    settled: bool = False  # every item graded and none waiting on an exception: Reveni's refund is final
    # item id -> (Khaos reason, disposition) the rules give it now, credited or not
    dispositions: dict[str, tuple[str, str]] = field(default_factory=dict)
    # A deductions line for an amount (negative: kept back, positive: recovered), with the
    # given line id; None when the rules name no deductions item.
    adjustment: Callable[[Decimal, str], Line] | None = field(default=None, compare=False)

    @property
    def blocking_reason(self) -> str:
        """Why the whole return waits: a return-level problem, or the rules holding it."""
        if not self.problems:  # most returns: no comprehension's function made for none
            return self.hold_reason
        whole = [p.message for p in self.problems if p.blocking and not p.item_id]
        return "; ".join(whole) or self.hold_reason

    @property
    def credit(self) -> Decimal:
        """What Khaos will credit for every line of the return, in all its documents."""
        credit = Decimal("0.00")
        for line in self.lines:  # as `sum(..., Decimal("0.00"))` adds, in order: a loop costs less than its generator
            credit += line.credit
        return credit

    def document(self, associated_ref: str, lines: list[Line]) -> CustomerReturn:
        """The CustomerReturn for these lines under this reference: ProcessReturn only when every line is accepted."""
        if self.header is None:
            raise ValueError(f"Reveni return {self.return_id} has no document: it could not be read")
        returned: list[ReturnedItem] = []
        exchanged: list[ExchangeItem] = []
        accepted = True
        for line in lines:  # the items in the lines' order, and whether all were accepted, in one pass
            returned += line.returned
            exchanged += line.exchanges
            accepted = accepted and line.accepted
        return msgspec.structs.replace(
            self.header,
            AssociatedRef=associated_ref,
            ReturnedItems=returned,
            ExchangeItems=exchanged,
            ProcessReturn=self.process and accepted,
        )


def associated_ref(return_id: str, sequence: int = 1) -> str:
    """Deterministic: the same Reveni return always gets the same reference; what is
    sent after the first document was pulled gets `-2`, `-3`, ..."""
    return f"RV-{return_id}" if sequence == 1 else f"RV-{return_id}-{sequence}"


def address(given: reveni.Address | None, email: str) -> Address:
    """Reveni's address lines as Khaos's Line1 and Line2, unchanged: Khaos matches the
    customer's address on Line1 (MatchAddressOn), so it is never re-wrapped. Lengths are
    checked by `khaos_documents.too_long`."""
    fields = given or _NO_ADDRESS
    return Address(
        Line1=xml_safe(str(fields.line1 or "")),
        Line2=text(str(fields.line2 or "") or None),
        Town=xml_safe(str(fields.city or "")),
        Postcode=text(str(fields.postcode or "") or None),
        Country=DataItem(Code=xml_safe(str(fields.country_code or ""))),
        Email=text(email or None),
    )


_NO_ADDRESS = reveni.Address()  # what a return without an address reads as: every line empty (never changed)


def xml_safe(text: str) -> str:
    """`text` without the characters XML 1.0 forbids (NUL, vertical tab, most C0 controls):
    in XML one of them makes a whole batch unreadable."""
    if text.isprintable():  # every forbidden character is unprintable: nothing to remove, no regex
        return text
    return FORBIDDEN.sub("", text)


def text(value: Any) -> str | None:
    """Khaos treats null as an error: None stays None, to be left out. Text loses the
    characters XML 1.0 forbids, so the XML feed is always well-formed and the JSON feed
    says the same."""
    if value is None:
        return None
    written = value if isinstance(value, str) else str(value)
    # xml_safe's own test, made here: several text fields per document
    return written if written.isprintable() else xml_safe(written)


def storable(text: str) -> str:
    """`text` as a store can hold it: a lone surrogate (an unreadable record's) written as its JSON escape."""
    if text.isascii():  # no surrogate to write: nothing to encode
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


def khaos_datetime(value: str) -> str:
    """RFC 3339 without offset, as Khaos wants (`2018-01-18T12:20:48`), in UK time; a
    value without an offset is UTC, as Reveni's are."""
    # Reveni's usual form (`2026-09-21T00:04:44Z`): the UK hour once per UTC hour, then the
    # minutes and seconds as sent. Anything else is read in full.
    if len(value) == 20 and value[19] == "Z" and value[13] == ":" and value[14:19] in _MINUTES_SECONDS:
        hour = _uk_hour(value[:13])
        if hour is not None:
            return hour + value[13:19]
    return _uk_time(value)


def _uk_time(value: str) -> str:
    return utc(datetime.fromisoformat(value)).astimezone(KHAOS_TIME_ZONE).strftime("%Y-%m-%dT%H:%M:%S")


_MINUTES_SECONDS = frozenset(f"{m:02d}:{s:02d}" for m in range(60) for s in range(60))  # `MM:SS`, read in one look


@lru_cache(maxsize=16_384)  # two years of hours: a run reads a few
def _uk_hour(utc_hour: str) -> str | None:
    """`YYYY-MM-DDTHH` in UK time for this UTC hour, when the UK is a whole number of hours
    off UTC all through it (so its minutes and seconds are UTC's); else None."""
    try:
        start = datetime.fromisoformat(f"{utc_hour}:00:00+00:00").astimezone(KHAOS_TIME_ZONE)
        end = datetime.fromisoformat(f"{utc_hour}:59:59+00:00").astimezone(KHAOS_TIME_ZONE)
    except (ValueError, OverflowError):
        return None  # read in full, to fail (or not) exactly as it always has
    offset = start.utcoffset()
    if offset is None or offset != end.utcoffset() or offset.total_seconds() % 3600:
        return None
    return start.strftime("%Y-%m-%dT%H")
