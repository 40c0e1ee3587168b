"""Alerts: one event per owner per run, posted where the owner's team works.

After a sync, each owner with new or worsened exceptions (never alerted, reopened, or
now more severe) gets one event that sums up all of its open exceptions: the client and
environment, counts by kind and by severity, the oldest, the money at stake per
currency, a link to the dashboard's list of them, and the first few new ones. Once an
owner alerted about has no open exception left, it gets one `resolve` event (the
standing incident is kept in `alert_incidents`). `alert_formats` renders the event for
the destination: Slack, Microsoft Teams, PagerDuty Events v2, or the event as JSON.

The post is retried with backoff; a destination that keeps failing is logged as a
WARNING and never blocks or fails the load: what was not delivered stays due.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import msgspec
import requests
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from target_khaos_control import at_stake
from target_khaos_control.alert_formats import Message, render
from target_khaos_control.client_store import client_name
from target_khaos_control.exception_kinds import KINDS
from target_khaos_control.exception_log import as_record
from target_khaos_control.states import ExceptionStatus
from target_khaos_control.store import alert_incidents, exceptions
from target_khaos_control.times import utc

log = logging.getLogger("reveni_khaos.alerts")
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}
TRIGGERED, RESOLVED = "triggered", "resolved"
FIRST_FEW = 3  # new exceptions shown by name in an event


@dataclass(frozen=True)
class Where:
    """Whose alerts these are: the client, its environment, and its dashboard's address."""

    client: str
    environment: str
    dashboard_url: str = ""  # the dashboard's root, e.g. https://returns.example.com/dashboard/


@dataclass(frozen=True)
class Destination:
    """Where alerts go and in which form; PagerDuty also needs its integration (routing) key."""

    url: str
    format: str = "slack"
    routing_key: str = ""
    attempts: int = 3
    backoff_seconds: float = 1.0
    timeout: float = 10


def origin(config: Mapping[str, Any]) -> Where:
    """The client (its `client` setting, else its rule folder's name), Meltano's environment,
    and the dashboard's address, as alerts name them."""
    public_url = str(config.get("public_url") or "").rstrip("/")
    return Where(
        client=client_name(config),
        environment=os.environ.get("MELTANO_ENVIRONMENT", ""),
        dashboard_url=f"{public_url}/dashboard/" if public_url else "",
    )


class KindCount(msgspec.Struct):
    """One kind's open exceptions for the owner, and how many of them are new."""

    kind: str
    title: str
    severity: str
    open: int
    new: int
    fix: str


class Example(msgspec.Struct):
    """A new exception named in the event: what the owner looks up first."""

    kind: str
    return_id: str
    order_number: str
    sku: str
    reason: str
    message: str


class OwnerEvent(msgspec.Struct):
    """The one structured event an owner gets per run; every destination renders it."""

    action: str  # trigger | resolve
    client: str
    environment: str
    owner: str
    severity: str  # the highest among the open ones (low when none is open)
    open: int
    new: int
    by_kind: list[KindCount]
    by_severity: dict[str, int]
    oldest_open_since: str | None
    oldest_age_hours: int | None
    at_stake: dict[str, Decimal]
    dashboard_url: str
    examples: list[Example]
    at: str
    schema: str = "reveni-khaos/alert/1"


def _worse(row: Any) -> bool:
    """Never alerted, reopened since (resolving clears what was alerted), or now more severe."""
    return row.alerted_status != ExceptionStatus.OPEN or SEVERITY_RANK.get(row.severity, 2) > SEVERITY_RANK.get(
        row.alerted_severity or "", -1
    )


def _rank(severity: sa.ColumnElement[str], unknown: int) -> sa.ColumnElement[int]:
    """SEVERITY_RANK.get(severity, unknown), in SQL."""
    return sa.case(SEVERITY_RANK, value=severity, else_=unknown)


# `_worse`, in SQL: an open row the owner's next event tells of as new.
WORSE = sa.or_(
    sa.func.coalesce(exceptions.c.alerted_status, "") != ExceptionStatus.OPEN,
    _rank(exceptions.c.severity, 2) > _rank(sa.func.coalesce(exceptions.c.alerted_severity, ""), -1),
)


def events(engine: Engine, where: Where, moment: datetime) -> list[tuple[OwnerEvent, list[Any]]]:
    """This run's events, each with the exceptions it tells of as new (none for a resolve)."""
    is_open = exceptions.c.status == ExceptionStatus.OPEN
    with engine.connect() as conn:
        # Which owners have open exceptions, and which a new or worse one, counted in the
        # database: an event's rows (every open one of its owner) are read only for an owner
        # with something new. Read whole at each run, a 200k-return store's 105k open
        # exceptions cost 1 s of CPU with nothing new to tell (issue 22).
        owners = conn.execute(
            sa.select(exceptions.c.owner, sa.func.max(sa.case((WORSE, 1), else_=0)))
            .where(is_open)
            .group_by(exceptions.c.owner)
        ).all()
        told = [owner for owner, worse in owners if worse]
        rows = (
            conn.execute(
                sa.select(exceptions).where(is_open, exceptions.c.owner.in_(told)).order_by(exceptions.c.trace_key)
            ).all()
            if told
            else []
        )
        standing = set(
            conn.execute(sa.select(alert_incidents.c.owner).where(alert_incidents.c.state == TRIGGERED)).scalars()
        )
    by_owner: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_owner[row.owner].append(row)
    built = []
    for owner, open_rows in sorted(by_owner.items()):
        fresh = [row for row in open_rows if _worse(row)]
        if fresh:
            built.append((_event(TRIGGERED, owner, open_rows, fresh, where, moment), fresh))
    for owner in sorted(standing - {owner for owner, _ in owners}):
        built.append((_event(RESOLVED, owner, [], [], where, moment), []))
    return built


def _event(action: str, owner: str, rows: list[Any], fresh: list[Any], where: Where, moment: datetime) -> OwnerEvent:
    new_keys = {row.trace_key for row in fresh}
    kinds: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        kinds[row.kind].append(row)
    by_kind = [
        KindCount(
            kind=kind,
            title=KINDS[kind].heading if kind in KINDS else kind,
            severity=_highest(row.severity for row in kind_rows),
            open=len(kind_rows),
            new=sum(row.trace_key in new_keys for row in kind_rows),
            fix=KINDS[kind].suggested_fix if kind in KINDS else "",
        )
        for kind, kind_rows in sorted(kinds.items())
    ]
    severities = Counter(row.severity for row in rows)
    oldest = min((row.first_seen for row in rows), default=None)
    examples = []
    for row in fresh[:FIRST_FEW]:
        record = as_record(row)
        examples.append(
            Example(
                kind=row.kind,
                return_id=row.return_id,
                order_number=record["order_number"],
                sku=record["sku"],
                reason=record["reason"],
                message=row.message,
            )
        )
    return OwnerEvent(
        action="trigger" if action == TRIGGERED else "resolve",
        client=where.client,
        environment=where.environment,
        owner=owner,
        severity=_highest(row.severity for row in rows),
        open=len(rows),
        new=len(fresh),
        by_kind=by_kind,
        by_severity={name: severities[name] for name in ("high", "medium", "low")},
        oldest_open_since=utc(oldest).isoformat() if oldest is not None else None,
        oldest_age_hours=int((moment - utc(oldest)).total_seconds() // 3600) if oldest is not None else None,
        at_stake=at_stake.by_currency(rows),
        dashboard_url=f"{where.dashboard_url}?owner={quote(owner)}" if where.dashboard_url else "",
        examples=examples,
        at=moment.isoformat(),
    )


def _highest(severities: Any) -> str:
    return max(severities, key=lambda s: SEVERITY_RANK.get(s, 2), default="low")


def send(engine: Engine, destination: Destination, where: Where, moment: datetime) -> int:
    """Post this run's events to `destination`; mark what was delivered. Returns the number of events sent."""
    sent = 0
    for event, fresh in events(engine, where, moment):
        if not _post(destination, render(event, destination)):
            continue
        with engine.begin() as conn:
            _delivered(conn, event, fresh, moment)
        sent += 1
    return sent


def _delivered(conn: Connection, event: OwnerEvent, fresh: list[Any], moment: datetime) -> None:
    for row in fresh:
        conn.execute(
            exceptions.update()
            .where(exceptions.c.trace_key == row.trace_key)
            .values(alerted_status=ExceptionStatus.OPEN, alerted_severity=row.severity, alerted_at=moment)
        )
    state = TRIGGERED if event.action == "trigger" else RESOLVED
    updated = conn.execute(
        alert_incidents.update().where(alert_incidents.c.owner == event.owner).values(state=state, changed_at=moment)
    )
    if updated.rowcount == 0:
        conn.execute(alert_incidents.insert().values(owner=event.owner, state=state, changed_at=moment))


def _post(destination: Destination, message: Message) -> bool:
    problem = ""
    for attempt in range(1, destination.attempts + 1):
        try:
            response = requests.post(destination.url, json=message, timeout=destination.timeout)
            if response.status_code < 300:
                return True
            problem = f"HTTP {response.status_code}"
        except requests.RequestException as error:
            problem = type(error).__name__
        if attempt < destination.attempts:
            time.sleep(destination.backoff_seconds * 2 ** (attempt - 1))
    log.warning(
        "alert webhook failed after %d attempts (%s); the exceptions stay due for the next run",
        destination.attempts,
        problem,
    )
    return False
