"""The dashboard's exception pages: the open list (search, sort, pages, CSV), one
exception with its history, its proposed fixes and what a person can do about it, and
the resolved history.

Severity on these pages is graded per row (exception_grade): by the money at stake and
the age, so finance's rows are not all red.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from starlette.requests import Request
from starlette.responses import Response

from target_khaos_control.channel.dashboard_actions import Forms, login
from target_khaos_control.channel.dashboard_lists import (
    ListRefused,
    ListView,
    ResolvedException,
    WorkedException,
    list_page,
    worked,
)
from target_khaos_control.channel.pages import page, refused
from target_khaos_control.channel.reader_process import page_apart
from target_khaos_control.exception_actions import actions
from target_khaos_control.exception_kinds import KINDS, Owner
from target_khaos_control.proposals import Proposal, propose
from target_khaos_control.states import ExceptionStatus
from target_khaos_control.store import exceptions, now

OPEN_SORTS = ("severity", "amount", "age_days", "owner", "type", "order_number", "assigned_to")
RESOLVED_SORTS = ("resolved_at", "owner", "type", "order_number", "resolved_by")
SEARCHED = ("order_number", "return_id", "sku", "message", "assigned_to", "type", "currency", "reason")
OPEN_COLUMNS = (
    ("severity", "severity"),
    ("owner", "owner"),
    ("type", "type"),
    ("return id", "return_id"),
    ("order", "order_number"),
    ("sku", "sku"),
    ("quantity", "quantity"),
    ("amount at stake", "amount"),
    ("currency", "currency"),
    ("age (days)", "age_days"),
    ("what happened", "message"),
    ("suggested fix", "suggested_fix"),
    ("assigned to", "assigned_to"),
    ("first seen", "first_seen"),
    ("occurrences", "occurrences"),
)
RESOLVED_COLUMNS = (
    ("resolved at", "resolved_at"),
    ("resolved by", "resolved_by"),
    ("why", "why"),
    ("owner", "owner"),
    ("type", "type"),
    ("return id", "return_id"),
    ("order", "order_number"),
    ("amount at stake", "amount"),
    ("currency", "currency"),
    ("what happened", "message"),
)
BY_A_RUN = "the integration"  # who resolved it when a run no longer found the problem


class ExceptionPages:
    """The exception pages of one store, each made apart from the channel (reader_process):
    a list reads every open or resolved exception, and the proposed fixes every open one."""

    def __init__(self, engine: Engine, forms: Forms, rules_path: str = "") -> None:
        """The pages of this store's exceptions, with the forms to act on them."""
        self.engine = engine
        self.forms = forms
        self.rules_path = rules_path  # for the proposed fixes (`reveni-khaos fix list`)

    async def open_list(self, request: Request) -> Response:
        """The open exceptions, filtered by owner and type, searched, sorted and paged, or as a CSV."""
        return await page_apart(self.engine, _open_list, self.rules_path, dict(request.query_params), _as_csv(request))

    async def resolved_list(self, request: Request) -> Response:
        """The resolved exceptions, who resolved them and why, or as a CSV."""
        return await page_apart(self.engine, _resolved_list, dict(request.query_params), _as_csv(request))

    async def one(self, request: Request) -> Response:
        """One exception's page: what happened, its history and its proposed fix."""
        key, done = request.query_params.get("key", ""), request.query_params.get("done", "")
        return await page_apart(self.engine, _one, self.rules_path, key, self.forms.token(login(request)), done)


def _as_csv(request: Request) -> bool:
    return request.url.path.endswith(".csv")


def _open_list(engine: Engine, rules_path: str, query: dict[str, str], as_csv: bool) -> Response:
    owner, kind = query.get("owner", ""), query.get("type", "")
    owners = [str(o) for o in Owner]
    if owner and owner not in owners:
        return refused(f"No owner {owner!r}: the owners are {', '.join(owners)}.")
    if kind and kind not in KINDS:
        return refused(f"No exception type {kind!r}: the types are {', '.join(sorted(KINDS))}.")
    try:
        view = ListView.from_query(query, OPEN_SORTS)
    except ListRefused as error:
        return refused(str(error))
    records = _open(engine)
    by_type = Counter((r["owner"], r["type"]) for r in records)
    by_owner = Counter(r["owner"] for r in records)
    with engine.connect() as conn:
        covered = {key for proposal in _proposals(conn, rules_path) for key in proposal.exceptions}
    proposed = Counter(r["owner"] for r in records if r["trace_key"] in covered)
    chosen = [r for r in records if (not owner or r["owner"] == owner) and (not kind or r["type"] == kind)]
    return list_page(
        view,
        view.apply(chosen, SEARCHED),
        as_csv=as_csv,
        export=("open-exceptions", OPEN_COLUMNS),
        template="exceptions.html",
        title="Open exceptions",
        owner=owner,
        kind=kind,
        total=len(records),
        filters={"owner": owner, "type": kind},
        sorts=OPEN_SORTS,
        by_owner=[(o, by_owner[o]) for o in [*owners, *sorted(set(by_owner) - set(owners))] if by_owner[o]],
        by_type=[(o, k, n) for (o, k), n in sorted(by_type.items())],
        proposed=proposed,
    )


def _resolved_list(engine: Engine, query: dict[str, str], as_csv: bool) -> Response:
    try:
        view = ListView.from_query(query, RESOLVED_SORTS)
    except ListRefused as error:
        return refused(str(error))
    return list_page(
        view,
        view.apply(_resolved(engine), (*SEARCHED, "resolved_by", "why")),
        as_csv=as_csv,
        export=("resolved-exceptions", RESOLVED_COLUMNS),
        template="resolved.html",
        title="Resolved exceptions",
        filters={},
        sorts=RESOLVED_SORTS,
    )


def _one(engine: Engine, rules_path: str, key: str, csrf: str, done: str) -> Response:
    moment = now()
    with engine.connect() as conn:
        row = conn.execute(sa.select(exceptions).where(exceptions.c.trace_key == key)).first()
        history = actions(conn, [key]).get(key, [])
        fixes = [p for p in _proposals(conn, rules_path) if key in p.exceptions] if row is not None else []
    if row is None:
        return page("not_found.html", "Not found", status_code=404, what=f"exception {key[:80]}")
    record = worked(row, moment)
    return page(
        "exception.html",
        f"Exception: {KINDS[row.kind].heading if row.kind in KINDS else row.kind}",
        e=record,
        history=[_action(action) for action in history],
        csrf=csrf,
        done=done,
        fixes=fixes,
    )


def _proposals(conn: Connection, rules_path: str) -> list[Proposal]:
    """The open exceptions' proposed fixes; none without a rule set that reads."""
    if not rules_path:
        return []
    try:
        return propose(conn, rules_path)
    except (OSError, ValueError):
        return []  # an unreadable rule set: the exceptions still show, without proposals


def _open(engine: Engine) -> list[WorkedException]:
    moment = now()
    query = sa.select(exceptions).where(exceptions.c.status == ExceptionStatus.OPEN)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(exceptions.c.owner, exceptions.c.kind, exceptions.c.trace_key)).all()
    return [worked(row, moment) for row in rows]


def _resolved(engine: Engine) -> list[ResolvedException]:
    """Each resolved exception with who resolved it, when and why: the last person to
    resolve it on the dashboard, else the run that no longer found the problem."""
    moment = now()
    query = sa.select(exceptions).where(exceptions.c.status == ExceptionStatus.RESOLVED)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        trail = actions(conn, [row.trace_key for row in rows]) if rows else {}
    resolved: list[ResolvedException] = []
    for row in rows:
        by_hand = [action for action in trail.get(row.trace_key, []) if action.action == "resolve"]
        last = by_hand[-1] if by_hand else None
        if last is not None:
            resolved.append(
                {**worked(row, moment), "resolved_at": _shown(last.at), "resolved_by": _who(last), "why": last.note}
            )
        else:
            resolved.append(
                {
                    **worked(row, moment),
                    "resolved_at": _shown(row.last_seen),
                    "resolved_by": BY_A_RUN,
                    "why": "no longer found when the integration ran again",
                }
            )
    return resolved


def _who(action: Any) -> str:
    return f"{action.person} (login {action.login})"


def _action(action: Any) -> dict[str, str]:
    what = (
        f"assigned to {action.assigned_to}"
        if action.action == "assign" and action.assigned_to
        else "unassigned"
        if action.action == "assign"
        else "resolved"
    )
    return {"at": _shown(action.at), "who": _who(action), "what": what, "note": action.note}


def _shown(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else ""
