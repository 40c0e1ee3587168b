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

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from target_khaos_control.exception_kinds import kind as exception_kind
from target_khaos_control.exception_log import ExceptionLog, trace_key
from target_khaos_control.rules.catalogue import changed as catalogue_changed
from target_khaos_control.store import (
    PUSH_LOCK,
    chunks,
    exceptions,
    hold,
    order_statuses,
    stock_codes,
    stock_items,
    stock_levels,
)

ORDER_STATUSES = {"Received", "Shipping", "PartialShip", "Complete", "Cancelled"}
REJECTED = "khaos_push_rejected"
LARGEST_LEVEL = Decimal(10) ** 14  # the store keeps 18 digits, 4 after the point
PLACES = Decimal("0.0001")
# The docs' table calls `Items` "an object containing an array" while their sample sends
# the array: the object's one member, named as the XML element of each entry, is read too.
ENTRY_ELEMENTS = {"StockItem", "StockID", "StockStatus", "OrderStatus"}
# Column widths in the store: a longer value is refused here, never by the database.
ID, CODE, REF, SITE = 40, 100, 80, 20
CHUNK = 200  # entries per transaction: about what a pull may wait for


Pause = Callable[[], None]


def _no_pause() -> None:
    pass


class PushError(ValueError):
    """A push none of which can be read; the message says what is wrong."""


class EntryError(ValueError):
    """One entry we cannot keep; the message names the field."""


@dataclass
class Outcome:
    kept: int = 0
    not_stock_controlled: int = 0  # StockStatus entries with neither Levels nor RelationshipPotential
    rejected: list[dict[str, str]] = field(default_factory=list)  # {"where", "key", "reason"}

    def json(self) -> dict[str, Any]:
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

    def each(self, data: dict[str, Any], name: str, check: Callable[[Any, str], str]) -> bool:
        """Check every entry of the list `name`; False when there is no such list."""
        entries = data.get(name)
        if name not in data:
            return False
        if entries is None or entries == "":  # XML's empty <Deleted/>
            entries = []
        entries = _unwrapped(entries)
        if not isinstance(entries, list):
            self.reject(name, "", f"expected a list, got {_kind(entries)}")
            return False
        for n, entry in enumerate(entries):
            where = f"{name}[{n}]"
            try:
                _storable(entry, "")
                self.keys_kept.append(check(entry, where))
            except EntryError as error:
                self.reject(where, _entry_key(entry), str(error))
        return True

    def reject(self, where: str, key: str, reason: str) -> None:
        self.outcome.rejected.append({"where": where, "key": key, "reason": reason})

    def keep(
        self, engine: Engine, rows: list[Any], write: Callable[[Connection, Any], object], *, catalogue: bool = False
    ) -> None:
        """`catalogue`: the rows change the stock catalogue the rules read."""
        for start in range(0, len(rows), CHUNK):
            if start:
                self.pause()
            with engine.begin() as conn:
                hold(conn, PUSH_LOCK)  # two identical pushes at once: the second updates what the first wrote
                for row in rows[start : start + CHUNK]:
                    write(conn, row)
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
        log = ExceptionLog(known, moment)
        kind = exception_kind(REJECTED)
        for key, rejection in keyed.items():
            log.found(
                key,
                kind=REJECTED,
                owner=kind.owner.value,
                severity=kind.severity.value,
                return_id="",
                item_id=rejection["key"][:64],
                message=f"Khaos's {self.endpoint} push: {rejection['where']}: {rejection['reason']}",
                details=json.dumps({"endpoint": self.endpoint, **rejection}, ensure_ascii=False),
                ruleset_hash="",
            )
        for key in resolved:
            if key not in keyed:
                log.gone(key)
        log.write(conn)


def save_stock_upload(engine: Engine, data: dict[str, Any], moment: datetime, pause: Pause = _no_pause) -> Outcome:
    push, items, deleted = _Push("StockUpload", pause), [], []

    def check_item(item: Any, where: str) -> str:
        item = _object(item, where)
        stock_id, code = _text(item, "StockID", ID), _text(item, "StockCode", CODE)
        options = _optional_object(item, "Options")
        items.append(
            {
                "stock_id": stock_id,
                "stock_code": code,
                "other_ref": _text(item, "OtherRef", CODE, required=False),
                "barcodes": json.dumps(_barcodes(item.get("Barcodes"))),
                "tax_rate": json.dumps(_data_item(item, "TaxRate")),
                "discontinued": _flag(options, "Discontinued"),
                "deleted": False,
                "payload": json.dumps(item, default=str, ensure_ascii=False),
                "updated_at": moment,
            }
        )
        return stock_id

    def check_deleted(entry: Any, where: str) -> str:
        gone = _text(entry, "StockID", ID) if isinstance(entry, dict) else _scalar(entry, "StockID", ID)
        deleted.append(gone)
        return f"deleted:{gone}"

    readable = push.each(data, "Items", check_item)
    if not push.each(data, "Deleted", check_deleted) and not readable:
        raise PushError(_unreadable(push, "Items"))
    push.keep(engine, items, lambda conn, row: _keep_item(conn, row, moment), catalogue=True)
    push.keep(
        engine,
        deleted,
        lambda conn, gone: conn.execute(
            stock_items.update().where(stock_items.c.stock_id == gone).values(deleted=True, updated_at=moment)
        ),
        catalogue=True,
    )
    push.outcome.kept = len(items) + len(deleted)
    push.record(engine, moment)
    return push.outcome


def _keep_item(conn: Connection, row: dict[str, Any], moment: datetime) -> None:
    stock_id, code = row["stock_id"], row["stock_code"]
    _upsert(conn, stock_items, {"stock_id": stock_id}, {k: v for k, v in row.items() if k != "stock_id"})
    known = conn.execute(
        sa.select(stock_codes.c.stock_code).where(stock_codes.c.stock_id == stock_id, stock_codes.c.stock_code == code)
    ).first()
    if known is None:
        conn.execute(stock_codes.insert().values(stock_id=stock_id, stock_code=code, first_seen=moment))


def save_stock_statuses(engine: Engine, data: dict[str, Any], moment: datetime, pause: Pause = _no_pause) -> Outcome:
    push, rows = _Push("StockStatusUpload", pause), []

    def check(status: Any, where: str) -> str:
        status = _object(status, where)
        stock_id, site = _text(status, "StockID", ID), _text(status, "SiteID", SITE)
        levels = _optional_object(status, "Levels")
        potential = _optional_object(status, "RelationshipPotential")
        # README L724-726: the levels are absent for an item that is not stock controlled;
        # without them, RelationshipPotential.FromChildren is what could be available.
        if levels:
            available = _number(levels, "Available", "Levels.")
            on_order = _number(levels, "OnOrder", "Levels.")
        elif potential:
            available, on_order = _number(potential, "FromChildren", "RelationshipPotential."), Decimal(0)
        else:
            push.outcome.not_stock_controlled += 1
            return f"{stock_id}@{site}"
        rows.append(
            (
                {"stock_id": stock_id, "site_id": site},
                {
                    "stock_code": _text(status, "StockCode", CODE, required=False),
                    "available": available,
                    "on_order": on_order,
                    "updated_at": moment,
                },
            )
        )
        return f"{stock_id}@{site}"

    return _save_statuses(push, engine, data, check, rows, stock_levels, moment)


def save_order_statuses(engine: Engine, data: dict[str, Any], moment: datetime, pause: Pause = _no_pause) -> Outcome:
    push, rows = _Push("OrderStatusUpload", pause), []

    def check(status: Any, where: str) -> str:
        status = _object(status, where)
        # The samples and order_status.php say `Status`; the table (README L662) says
        # `OrderStatus`. Either is read; two that disagree are refused.
        given = {name: _text(status, name, REF) for name in ("Status", "OrderStatus") if name in status}
        if not given:
            raise EntryError("Status: required")
        if len(set(given.values())) > 1:
            raise EntryError(f"Status {given['Status']!r} and OrderStatus {given['OrderStatus']!r} disagree")
        state = next(iter(given.values()))
        if state not in ORDER_STATUSES:
            raise EntryError(f"Status: {state!r} is not one of {', '.join(sorted(ORDER_STATUSES))}")
        order_id = _text(status, "OrderID", ID)
        rows.append(
            (
                {"order_id": order_id},
                {
                    "order_code": _text(status, "OrderCode", REF, required=False),
                    "associated_ref": _text(status, "AssociatedRef", REF, required=False),
                    "status": state,
                    "payload": json.dumps(status, default=str, ensure_ascii=False),
                    "updated_at": moment,
                },
            )
        )
        return order_id

    return _save_statuses(push, engine, data, check, rows, order_statuses, moment)


def _save_statuses(
    push: _Push,
    engine: Engine,
    data: dict[str, Any],
    check: Callable[[Any, str], str],
    rows: list[Any],
    table: sa.Table,
    moment: datetime,
) -> Outcome:
    """A `Statuses` push: every entry checked, the readable ones kept, the rest on record."""
    if not push.each(data, "Statuses", check):
        raise PushError(_unreadable(push, "Statuses"))
    push.keep(engine, rows, lambda conn, row: _upsert(conn, table, *row))
    push.outcome.kept = len(rows)
    push.record(engine, moment)
    return push.outcome


# --- checking one entry -------------------------------------------------------------------


def _unreadable(push: _Push, name: str) -> str:
    problems = [f"{r['where']}: {r['reason']}" for r in push.outcome.rejected if "[" not in r["where"]]
    return "; ".join(problems) or f"{name}: required"


def _upsert(conn: Connection, table: sa.Table, key: dict[str, Any], values: dict[str, Any]) -> None:
    """Portable across SQLite and Postgres: update, and insert if there was nothing to update."""
    condition = sa.and_(*(table.c[name] == value for name, value in key.items()))
    if conn.execute(table.update().where(condition).values(**values)).rowcount == 0:
        conn.execute(table.insert().values(**key, **values))


def _object(entry: Any, where: str) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise EntryError(f"expected an object, got {_kind(entry)}")
    return entry


def _optional_object(entry: dict[str, Any], name: str) -> dict[str, Any]:
    value = entry.get(name)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise EntryError(f"{name}: expected an object, got {_kind(value)}")
    return value


def _text(entry: dict[str, Any], name: str, longest: int, *, required: bool = True) -> str:
    value = entry.get(name)
    if value is None or value == "":
        if required:
            raise EntryError(f"{name}: required")
        return ""
    return _scalar(value, name, longest)


def _scalar(value: Any, name: str, longest: int) -> str:
    """Text or a whole number (JSON gives SiteID as a number): anything else is refused."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EntryError(f"{name}: expected text, got {_kind(value)}")
    text = str(value).strip()
    if not text:
        raise EntryError(f"{name}: required")
    if len(text) > longest:
        raise EntryError(f"{name}: {len(text)} characters; at most {longest} are kept")
    if "\x00" in text:
        raise EntryError(f"{name}: holds a NUL character")
    return text


def _number(entry: dict[str, Any], name: str, prefix: str = "") -> Decimal:
    value = entry.get(name)
    if value is None or value == "":
        raise EntryError(f"{prefix}{name}: required")
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise EntryError(f"{prefix}{name}: expected a number, got {_kind(value)}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise EntryError(f"{prefix}{name}: {_short(value)} is not a number") from None
    if not number.is_finite() or abs(number) >= LARGEST_LEVEL:
        raise EntryError(f"{prefix}{name}: {_short(value)} is not a stock level")
    number = number.quantize(PLACES)  # as the store keeps it: 1e-999999999 is 0.0000
    if abs(number) >= LARGEST_LEVEL:
        raise EntryError(f"{prefix}{name}: {_short(value)} is not a stock level")
    return number


def _flag(options: dict[str, Any], name: str) -> bool:
    """JSON true/false, or XML's True/False text (README L1576)."""
    value = options.get(name)
    if value is None or value == "" or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise EntryError(f"Options.{name}: expected true or false, got {_short(value)}")


def _barcodes(value: Any) -> list[dict[str, Any]]:
    if value is None or value == "":
        return []
    if not isinstance(value, list):
        raise EntryError(f"Barcodes: expected a list, got {_kind(value)}")
    found = []
    for n, barcode in enumerate(value):
        if not isinstance(barcode, dict):
            raise EntryError(f"Barcodes[{n}]: expected an object, got {_kind(barcode)}")
        found.append({"Barcode": _text(barcode, "Barcode", CODE), "Type": barcode.get("Type", "")})
    return found


def _data_item(entry: dict[str, Any], name: str) -> dict[str, Any]:
    value = entry.get(name)
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        return value
    return {"Name": _scalar(value, name, CODE)}


def _unwrapped(entries: Any) -> Any:
    """`{"StockItem": [...]}` as its list; `{"StockItem": {...}}` (one entry) as a list of it."""
    if isinstance(entries, dict) and len(entries) == 1:
        [(name, inner)] = entries.items()
        if isinstance(inner, list):
            return inner
        if name in ENTRY_ELEMENTS and isinstance(inner, dict):
            return [inner]
    return entries


def _storable(value: Any, where: str) -> None:
    """Refuse text the store cannot write: a lone surrogate (JSON's `"\\ud800"`)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            _storable(key, where or "a field name")
            _storable(inner, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            _storable(inner, f"{where}[{n}]")
    elif isinstance(value, str) and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            shown = where.encode("utf-8", "backslashreplace").decode()[:60]
            raise EntryError(f"{shown or 'the entry'}: holds a lone surrogate, which is not text") from None


def _entry_key(entry: Any) -> str:
    """The entry's own id when it has a readable one, else a digest of it: the same bad
    entry pushed again is the same exception, seen again."""
    if isinstance(entry, dict):
        ids = [entry.get(name) for name in ("StockID", "OrderID")]
        site = entry.get("SiteID")
        for value in ids:
            if (
                isinstance(value, str | int)
                and not isinstance(value, bool)
                and 0 < len(str(value)) <= ID
                and _text_ok(str(value))
            ):
                readable = isinstance(site, str | int) and len(str(site)) <= SITE and site != "" and _text_ok(str(site))
                suffix = f"@{site}" if readable else ""
                return f"{value}{suffix}"
    digest = hashlib.sha256(json.dumps(entry, default=str, sort_keys=True).encode()).hexdigest()[:16]
    return f"entry-{digest}"


def _text_ok(text: str) -> bool:
    """Text the store takes as a key: no NUL, no lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _kind(value: Any) -> str:
    names = {bool: "true/false", int: "a number", float: "a number", Decimal: "a number", str: "text"}
    names |= {list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    """Never echo long input: the first 40 characters, marked as cut."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)"
