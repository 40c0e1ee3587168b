"""A proposal: one exact change to a client's rule file, how sure we are, and why.

Its id is a hash of what it proposes (client, kind, subject, where, what), so the same
proposal has the same id in every run: `fix list` today and `fix accept` tomorrow agree,
and a rejection recorded against the id keeps it from being offered again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from target_khaos_control.exception_kinds import Kind

LIKELY = 80  # a confidence from here up is shown as "likely"; below, "possible"
APPEND = "+"  # a path's last part that appends to a list, e.g. `reasons[+]`

Part = str | int
# What Khaos credits, and whether it processes the credit on import: a person's to change.
MONEY: tuple[tuple[str, ...], ...] = (
    ("tax",),
    ("khaos", "tax_codes"),
    ("deductions",),
    ("sequencing", "value_tolerance"),
    ("sequencing", "process_when"),
)


@dataclass(frozen=True)
class Edit:
    """Set `value` at `path` in rules.yml (a list's `+` appends to it)."""

    path: tuple[Part, ...]
    value: Any

    @property
    def touches_money(self) -> bool:
        """Would it change what Khaos credits (prices, VAT, deductions, tolerance)?"""
        return any(tuple(self.path[: len(prefix)]) == prefix for prefix in MONEY)

    @property
    def where(self) -> str:
        """The path as a consultant reads it: `skus.aliases.TEE-BLK-M`, `reasons[+]`."""
        shown = ""
        for part in self.path:
            if isinstance(part, int) or part == APPEND:
                shown += f"[{part}]"
            else:
                shown += f".{part}" if shown else str(part)
        return shown


@dataclass(frozen=True)
class Proposal:
    """A ranked fix for the open exceptions of one kind and subject."""

    client: str
    kind: Kind
    subject: str  # what the exceptions share: a Reveni reason code, a SKU, a tax rate, an email
    edit: Edit | None  # None: advice only, nothing to write
    confidence: int  # 0-100; LIKELY and above is shown as likely
    evidence: tuple[str, ...]
    meaning: str = ""  # in words, e.g. `Khaos reason 2 "Faulty" (quarantine)`
    advice_only: bool = False  # money stays with people: a person makes the change by hand
    advice: str = ""
    exceptions: tuple[str, ...] = field(default=(), compare=False)  # the open exceptions' trace keys
    return_ids: tuple[str, ...] = field(default=(), compare=False)

    @property
    def id(self) -> str:
        """A short id for `fix accept`, the same for the same fix whenever it is worked out."""
        what = [self.client, self.kind, self.subject, self.edit.where if self.edit else "", self.value_json]
        return "p" + hashlib.sha256(json.dumps(what).encode()).hexdigest()[:10]

    @property
    def value_json(self) -> str:
        """The value the fix would write, as JSON."""
        return json.dumps(self.edit.value if self.edit else None, sort_keys=True)

    @property
    def likely(self) -> bool:
        """Whether it is sure enough to be shown as likely."""
        return self.confidence >= LIKELY

    @property
    def for_people(self) -> bool:
        """Advice only: finance's kinds, and any change to what Khaos credits."""
        return self.advice_only or self.edit is None or self.edit.touches_money

    @property
    def command(self) -> str:
        """What to run to accept it; none for advice."""
        return "" if self.for_people else f"reveni-khaos fix accept {self.id} --config CONFIG"
