"""Exceptions as records a person can act on, and as a Singer stream any tool can read.

Each record names its owner and carries what the owner needs: the Reveni return and
item, the order number and Khaos sales order reference, the original SKU and line
(quantity, price, reason), a message in the owner's words and a suggested fix. It never
carries bank details or a full email address. Records are keyed by `trace_key` (type +
return + item, + the field or currency where that matters), so a consumer upserts: a repeat is the same key with more occurrences.

Every exception is raised one way, `ExceptionLog.raise_exception(kind, subject, message,
details)`: it routes the kind (the client's owner and severity), keys it and records it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO, TypedDict

import sqlalchemy as sa
from singer_sdk.singerlib import Message, SchemaMessage, format_message
from sqlalchemy.engine import Connection

from target_khaos_control.batch_writes import insert_many, update_many
from target_khaos_control.exception_details import details_of, details_text
from target_khaos_control.exception_kinds import Kind, suggested_fix
from target_khaos_control.exception_routing import Routing
from target_khaos_control.exception_stream_line import record_line
from target_khaos_control.states import ExceptionStatus
from target_khaos_control.store import exceptions

OPEN, RESOLVED = ExceptionStatus
STREAM = "exceptions"  # the Singer stream exceptions go out on

SCHEMA = {
    "type": "object",
    "properties": {
        name: {"type": kind}
        for name, kind in {
            "trace_key": "string",
            "type": "string",
            "owner": "string",
            "severity": "string",
            "status": "string",
            "return_id": "string",
            "item_id": "string",
            "order_number": "string",
            "sales_order_ref": "string",
            "sku": "string",
            "quantity": ["integer", "null"],
            "unit_price": "string",
            "currency": "string",
            "reason": "string",
            "message": "string",
            "suggested_fix": "string",
            "first_seen": "string",
            "last_seen": "string",
            "occurrences": "integer",
            "ruleset_hash": "string",
            "assigned_to": "string",
        }.items()
    },
}


def trace_key(kind: Kind, subject: str, item: str = "", part: str = "") -> str:
    """One exception per kind, subject (a Reveni return, a pushed entry), item and part
    (the field, currency or SKU where one return has several causes of one kind): a
    problem seen again is the same key, so it is counted, never duplicated."""
    return f"{kind}:{subject}:{item}" + (f":{part}" if part else "")


RECONCILIATION = "(reconciliation)"  # the item id of the exceptions the reconciliation raises


@dataclass(frozen=True)
class Subject:
    """What an exception is about: `about`, `item` and `part` make its trace key;
    `return_id` and `item_id` are the return and item the store files it under."""

    about: str  # a Reveni return, a push endpoint, the feed, a credit note's reference
    item: str = ""  # the item, pushed entry or continuation within it
    part: str = ""  # the field, currency or SKU, where one return has several causes of one kind
    return_id: str = ""  # "" when it is about no Reveni return
    item_id: str = ""

    @classmethod
    def of_return(cls, return_id: str, item_id: str = "", part: str = "") -> Subject:
        """A Reveni return, or one of its items, keyed and filed under the same ids."""
        return cls(return_id, item_id, part, return_id=return_id, item_id=item_id)

    def trace_key(self, kind: Kind) -> str:
        """The key of this kind of exception about this subject."""
        return trace_key(kind, self.about, self.item, self.part)


class ExceptionLog:
    """The lifecycle of exceptions, written once for the target, replay and reconcile: a
    problem found is opened, or seen again (one more occurrence); an open one no longer
    found is resolved. Changes are gathered in memory, then written in a few statements."""

    def __init__(self, known: dict[str, str], moment: datetime, routing: Routing | None = None) -> None:
        """Start from the exceptions already in the store (trace key to status) at this moment,
        routing kinds as the client has them."""
        self.stored = set(known)  # trace keys already in the store
        self.status = dict(known)  # trace key -> open | resolved, as it will be
        self.before = dict(known)  # trace key -> open | resolved, as written
        self.moment = moment
        self.routing = routing or Routing()  # the client's owners and severities
        self.writes: dict[str, dict[str, Any]] = {}
        self.opened = 0  # new, or reopened: for the run's summary
        self.resolved = 0
        self.touched = 0  # rows written: opened, seen again or resolved

    def raise_exception(
        self,
        kind: Kind,
        subject: Subject,
        message: str,
        details: Mapping[str, object] | None = None,
        *,
        ruleset_hash: str = "",
    ) -> str:
        """Open this exception, or count it seen again, owned and graded as the client routes
        its kind; its trace key."""
        key = subject.trace_key(kind)
        self.raise_keyed(key, kind, subject.return_id, subject.item_id, message, details, ruleset_hash=ruleset_hash)
        return key

    def raise_keyed(
        self,
        key: str,
        kind: Kind,
        return_id: str,
        item_id: str,
        message: str,
        details: Mapping[str, object] | None = None,
        *,
        ruleset_hash: str = "",
    ) -> None:
        """`raise_exception` under a trace key already made (`trace_key`), filed under this return and item."""
        # A return's problems are keyed already (to merge causes): no Subject, no second key (issue 22).
        owner, severity = self.routing.route(kind)
        raised: dict[str, Any] = {
            "trace_key": key,
            "seen": 1,
            "kind": kind.value,
            "owner": owner,
            "severity": severity,
            "return_id": return_id,
            "item_id": item_id,
            "message": message,
            "details": details_text(details or {}),
            "ruleset_hash": ruleset_hash,
            "status": OPEN,
            "last_seen": self.moment,
        }
        write = self.writes.get(key)
        if write is None:  # first raised in this batch: its row built once, whole
            self.writes[key] = raised
        else:
            raised["seen"] = write["seen"] + 1
            write.update(raised)
        self.status[key] = OPEN

    def gone(self, trace_key: str, *, ruleset_hash: str | None = None) -> None:
        """An open exception no longer found: resolved (under the rules that no longer find it)."""
        if self.status.get(trace_key) != OPEN:
            return
        write = self.writes.setdefault(trace_key, {"trace_key": trace_key, "seen": 0})
        write.update(status=RESOLVED, last_seen=self.moment, alerted_status=RESOLVED)
        if ruleset_hash is not None:
            write["ruleset_hash"] = ruleset_hash
        self.status[trace_key] = RESOLVED

    def was_resolved(self, trace_key: str) -> bool:
        """Resolved in the store (by a run or by a person), so finding it again reopens it."""
        return self.before.get(trace_key) == RESOLVED

    def write(self, conn: Connection) -> None:
        """Write what was gathered: new exceptions, more occurrences, and the ones resolved."""
        fresh, repeat, resolved = [], [], []
        for key, write in self.writes.items():
            seen = write.pop("seen")
            if key not in self.stored:
                if write["status"] == OPEN:  # the row itself: `writes` is emptied below
                    write["first_seen"], write["occurrences"] = self.moment, seen
                    fresh.append(write)
            elif write["status"] == OPEN:
                write["occurrences"] = seen  # added to what the store holds (`added` below)
                repeat.append(write)
            else:
                resolved.append(write)
        self.opened += len(fresh) + sum(1 for row in repeat if self.was_resolved(row["trace_key"]))
        self.resolved += len(resolved)
        self.touched += len(fresh) + len(repeat) + len(resolved)
        self.stored |= {row["trace_key"] for row in fresh}
        self.before.update({row["trace_key"]: OPEN for row in fresh})
        self.before.update({row["trace_key"]: OPEN for row in repeat})
        self.before.update({row["trace_key"]: RESOLVED for row in resolved})
        self.writes = {}
        insert_many(conn, exceptions, fresh)
        # Seen again: its columns as now raised, in one statement per set of columns, not one per exception.
        update_many(conn, exceptions, "trace_key", repeat, added=("occurrences",))
        update_many(conn, exceptions, "trace_key", resolved)


class ExceptionRecord(TypedDict):
    """One exception as its owner sees it: the dashboard, the `exceptions` CLI and stream."""

    trace_key: str
    type: str
    owner: str
    severity: str
    status: str
    return_id: str
    item_id: str
    order_number: str
    sales_order_ref: str
    sku: str
    quantity: int | None  # as the details hold it: None when not about an item
    unit_price: str
    currency: str
    reason: str
    message: str
    suggested_fix: str
    first_seen: str
    last_seen: str
    occurrences: int
    ruleset_hash: str
    assigned_to: str


# What a record is made of, in this order: the stream's read takes them by position (a
# Row's attribute by name cost more than the rest of the record, issue 22).
_RECORD_COLUMNS = (
    "trace_key",
    "kind",
    "owner",
    "severity",
    "status",
    "return_id",
    "item_id",
    "message",
    "details",
    "first_seen",
    "last_seen",
    "occurrences",
    "ruleset_hash",
    "assigned_to",
)


def as_record(row: Any) -> ExceptionRecord:
    """One `exceptions` row as the record its owner sees."""
    return _record(tuple(getattr(row, name) for name in _RECORD_COLUMNS))


def _record(values: Sequence[Any]) -> ExceptionRecord:
    """The record of a row's `_RECORD_COLUMNS`, in that order."""
    (
        key,
        kind,
        owner,
        severity,
        status,
        return_id,
        item_id,
        message,
        stored_details,
        first_seen,
        last_seen,
        occurrences,
        ruleset_hash,
        assigned_to,
    ) = values
    details = details_of(stored_details or "{}")
    source_order = details.get("source_order") or {}
    return {
        "trace_key": key,
        "type": kind,
        "owner": owner,
        "severity": severity,
        "status": status,
        "return_id": return_id,
        "item_id": item_id,
        "order_number": str(details.get("order_number") or ""),
        "sales_order_ref": ", ".join(f"{k} {v}" for k, v in source_order.items()),
        "sku": str(details.get("sku") or ""),
        "quantity": details.get("quantity"),
        "unit_price": str(details.get("price") or ""),
        "currency": str(details.get("currency") or ""),
        "reason": str(details.get("reason") or ""),
        "message": message,
        "suggested_fix": suggested_fix(kind),
        "first_seen": _iso(first_seen),
        "last_seen": _iso(last_seen),
        "occurrences": occurrences,
        "ruleset_hash": ruleset_hash,
        "assigned_to": assigned_to,
    }


def touched_since(conn: Connection, moment: datetime) -> list[ExceptionRecord]:
    """Exceptions a batch opened, saw again, or resolved."""
    columns = [exceptions.c[name] for name in _RECORD_COLUMNS]
    rows = conn.execute(sa.select(*columns).where(exceptions.c.last_seen >= moment))
    return [_record(row) for row in rows]


class ExceptionStream:
    """Singer SCHEMA then RECORD messages, stream `exceptions`, to a JSON Lines file; with no
    file (no `exceptions_path`), nothing: the store keeps every exception anyway."""

    def __init__(self, path: Path | None) -> None:
        """Write to this file, created on the first record; None writes nothing."""
        self.path = path
        self._file: TextIO | None = None

    def write(self, records: list[ExceptionRecord]) -> None:
        """Append these exceptions as Singer RECORD messages, after the SCHEMA on the first write."""
        if not records or self.path is None:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
            self._emit(SchemaMessage(STREAM, SCHEMA, key_properties=["trace_key"]))
        for record in records:
            self._file.write(record_line(STREAM, record) + "\n")  # singer-sdk's line, byte for byte
        self._file.flush()

    def close(self) -> None:
        """Close the file, if one was opened."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _emit(self, message: Message) -> None:
        assert self._file is not None
        self._file.write(format_message(message) + "\n")  # singer-sdk's own serialiser, as its taps write


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""
