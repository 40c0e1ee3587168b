"""What Khaos Control pushes to the channel, checked and kept.

Stock items (StockUpload) teach us every stock code an item has had, since `StockID` is
stable while `StockCode` can change; stock levels (StockStatusUpload) show when returned
stock became available; order statuses (OrderStatusUpload) are kept as sent. A repeat
push overwrites with the same values, so it is harmless.

Khaos retries anything but a 200 for ever, so one bad entry must not lose the good ones
or start a retry storm. Every entry is checked before anything is kept: good entries are
kept, each bad one becomes a `khaos_push_rejected` exception naming the entry and the
field (and is resolved when Khaos later sends that entry readable). Only what is kept
reaches the rules, so nothing Khaos sends can make a later target run fail. A push is
refused as a whole (`PushError`, a 400) only when none of it can be read. What is kept is
written 200 entries to a transaction, so a pull never waits long behind a 20 MB push; a
push cut short is not answered 200, and Khaos's repeat of it is harmless.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TypedDict, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from target_khaos_control.batch_writes import upsert_many
from target_khaos_control.channel import push_entries as read
from target_khaos_control.channel.catalogue import changed as catalogue_changed
from target_khaos_control.channel.catalogue import delete_items, keep_items
from target_khaos_control.exception_kinds import Kind
from target_khaos_control.exception_log import ExceptionLog, Subject, trace_key
from target_khaos_control.exception_routing import Routing
from target_khaos_control.khaos_documents import StockItem, StockStatus
from target_khaos_control.store import (
    chunks,
    exceptions,
    order_statuses,
    stock_levels,
)
from target_khaos_control.store_locks import PUSH_LOCK, hold

REJECTED = Kind.KHAOS_PUSH_REJECTED
CHUNK = 200  # entries per transaction: about what a pull may wait for


Pause = Callable[[], None]
Body = Mapping[str, object]  # a push as Khaos sent it (JSON, or XML read into the same shape)
Row = TypeVar("Row")
StatusRow = tuple[dict[str, object], dict[str, object]]  # a status's key, and what is kept of it


def _no_pause() -> None:
    pass


class PushError(ValueError):
    """A push none of which can be read; the message says what is wrong."""


class Rejection(TypedDict):
    """One entry not kept: where it stood in the push, its key, and why."""

    where: str
    key: str
    reason: str


class Answer(TypedDict):
    """What Khaos is told of its push."""

    kept: int
    not_stock_controlled: int
    rejected: int
    rejections: list[Rejection]


@dataclass
class Outcome:
    """What came of one push: how many entries were kept, and which were rejected and why."""

    kept: int = 0
    not_stock_controlled: int = 0  # StockStatus entries with neither Levels nor RelationshipPotential
    rejected: list[Rejection] = field(default_factory=list)

    def json(self) -> Answer:
        """The answer Khaos is given: the counts, and at most 20 of the rejections."""
        # The answer lists at most 20 rejections; all of them are exceptions on record.
        return {
            "kept": self.kept,
            "not_stock_controlled": self.not_stock_controlled,
            "rejected": len(self.rejected),
            "rejections": self.rejected[:20],
        }


@dataclass
class _Push:
    """One push being checked: the rows to write, and what was rejected."""

    endpoint: str
    pause: Callable[[], None]  # between chunks: lets a waiting pull write first
    outcome: Outcome = field(default_factory=Outcome)
    keys_kept: list[str] = field(default_factory=list)  # the entry keys kept, to resolve old rejections
    routing: Routing = field(default_factory=Routing)  # the client's owner and severity for a rejection

    def each(self, data: Body, name: str, check: Callable[[object], str]) -> bool:
        """Decode every entry of the list `name` (`check`); False when there is no such list."""
        entries = data.get(name)
        if name not in data:
            return False
        if entries is None or entries == "":  # XML's empty <Deleted/>
            entries = []
        entries = read.unwrapped(entries)
        if not isinstance(entries, list):
            self.reject(name, "", f"expected a list, got {read.kind_of(entries)}")
            return False
        for n, entry in enumerate(entries):
            where = f"{name}[{n}]"
            try:
                read.storable(entry, "")
                self.keys_kept.append(check(entry))
            except read.EntryError as error:
                self.reject(where, read.entry_key(entry), str(error))
        return True

    def reject(self, where: str, key: str, reason: str) -> None:
        self.outcome.rejected.append({"where": where, "key": key, "reason": reason})

    def keep(
        self,
        engine: Engine,
        rows: list[Row],
        write: Callable[[Connection, Sequence[Row]], object],
        *,
        catalogue: bool = False,
    ) -> None:
        """The rows a chunk a transaction, each chunk's in one go (`write`); `catalogue`: the
        rows change the stock catalogue the rules read."""
        for start in range(0, len(rows), CHUNK):
            if start:
                self.pause()
            with engine.begin() as conn:
                hold(conn, PUSH_LOCK)  # two identical pushes at once: the second updates what the first wrote
                write(conn, rows[start : start + CHUNK])
                if catalogue:
                    catalogue_changed(conn)

    def record(self, engine: Engine, moment: datetime) -> None:
        with engine.begin() as conn:
            hold(conn, PUSH_LOCK)
            self._record(conn, moment)

    def _record(self, conn: Connection, moment: datetime) -> None:
        """Each rejection an open exception; a kept entry resolves its earlier rejection."""
        keyed = {trace_key(REJECTED, self.endpoint, r["key"] or r["where"]): r for r in self.outcome.rejected}
        resolved = [trace_key(REJECTED, self.endpoint, key) for key in self.keys_kept if key]
        wanted = list(keyed) + resolved
        known: dict[str, str] = {}
        for chunk in chunks(wanted):
            query = sa.select(exceptions.c.trace_key, exceptions.c.status).where(exceptions.c.trace_key.in_(chunk))
            known.update({row.trace_key: row.status for row in conn.execute(query)})
        log = ExceptionLog(known, moment, self.routing)
        for rejection in keyed.values():
            log.raise_exception(
                REJECTED,
                Subject(self.endpoint, rejection["key"] or rejection["where"], item_id=rejection["key"][:64]),
                f"Khaos's {self.endpoint} push: {rejection['where']}: {rejection['reason']}",
                {"endpoint": self.endpoint, **rejection},
            )
        for key in resolved:
            if key not in keyed:
                log.gone(key)
        log.write(conn)


def save_stock_upload(
    engine: Engine, data: Body, moment: datetime, pause: Pause = _no_pause, routing: Routing | None = None
) -> Outcome:
    """Keep a StockUpload: each stock item (codes, barcodes, tax rate) and the deletions; the unreadable on record."""
    push = _Push("StockUpload", pause, routing=routing or Routing())
    items: list[tuple[StockItem, str]] = []  # each stock item, and its entry as pushed
    deleted: list[str] = []

    def check_item(entry: object) -> str:
        item = read.decoded(entry, StockItem)
        items.append((item, json.dumps(entry, default=str, ensure_ascii=False)))
        return item.StockID

    def check_deleted(entry: object) -> str:
        gone = read.deleted_id(entry)
        deleted.append(gone)
        return f"deleted:{gone}"

    readable = push.each(data, "Items", check_item)
    if not push.each(data, "Deleted", check_deleted) and not readable:
        raise PushError(_unreadable(push, "Items"))
    push.keep(engine, items, lambda conn, kept: keep_items(conn, kept, moment), catalogue=True)
    push.keep(engine, deleted, lambda conn, gone: delete_items(conn, gone, moment), catalogue=True)
    push.outcome.kept = len(items) + len(deleted)
    push.record(engine, moment)
    return push.outcome


def save_stock_statuses(
    engine: Engine, data: Body, moment: datetime, pause: Pause = _no_pause, routing: Routing | None = None
) -> Outcome:
    """Keep a StockStatusUpload: each stock item's levels at each site."""
    push, rows = _Push("StockStatusUpload", pause, routing=routing or Routing()), list[StatusRow]()

    def check(entry: object) -> str:
        status = read.decoded(entry, StockStatus)
        key = f"{status.StockID}@{status.SiteID}"
        # README L724-726: the levels are absent for an item that is not stock controlled;
        # without them, RelationshipPotential.FromChildren is what could be available.
        if status.Levels is not None:
            available, on_order = status.Levels.Available, status.Levels.OnOrder
        elif status.RelationshipPotential is not None:
            available, on_order = status.RelationshipPotential.FromChildren, Decimal(0)
        else:
            push.outcome.not_stock_controlled += 1
            return key
        values = {"stock_code": status.StockCode, "available": available, "on_order": on_order, "updated_at": moment}
        rows.append(({"stock_id": status.StockID, "site_id": str(status.SiteID)}, values))
        return key

    return _save_statuses(push, engine, data, check, rows, stock_levels, moment)


def save_order_statuses(
    engine: Engine, data: Body, moment: datetime, pause: Pause = _no_pause, routing: Routing | None = None
) -> Outcome:
    """Keep an OrderStatusUpload: the status Khaos gives each order."""
    push, rows = _Push("OrderStatusUpload", pause, routing=routing or Routing()), list[StatusRow]()

    def check(entry: object) -> str:
        status = read.order_status(entry)
        values = {
            "order_code": status.OrderCode,
            "associated_ref": status.AssociatedRef,
            "status": status.Status,
            "payload": json.dumps(entry, default=str, ensure_ascii=False),
            "updated_at": moment,
        }
        rows.append(({"order_id": status.OrderID}, values))
        return status.OrderID

    return _save_statuses(push, engine, data, check, rows, order_statuses, moment)


def _save_statuses(
    push: _Push,
    engine: Engine,
    data: Body,
    check: Callable[[object], str],
    rows: list[StatusRow],
    table: sa.Table,
    moment: datetime,
) -> Outcome:
    """A `Statuses` push: every entry checked, the readable ones kept, the rest on record."""
    if not push.each(data, "Statuses", check):
        raise PushError(_unreadable(push, "Statuses"))
    key = tuple(column.name for column in table.primary_key)  # what a status is kept by: its key's columns
    push.keep(engine, rows, lambda conn, chunk: upsert_many(conn, table, key, [{**k, **v} for k, v in chunk]))
    push.outcome.kept = len(rows)
    push.record(engine, moment)
    return push.outcome


# --- checking one entry -------------------------------------------------------------------


def _unreadable(push: _Push, name: str) -> str:
    problems = [f"{r['where']}: {r['reason']}" for r in push.outcome.rejected if "[" not in r["where"]]
    return "; ".join(problems) or f"{name}: required"
