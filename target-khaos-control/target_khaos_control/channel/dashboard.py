"""The dashboard: what finance, the warehouse and CX work in, served by `reveni-khaos serve`.

Pages under `/dashboard/`, behind their own credential (never the channel's): open
exceptions by owner and type, with the money at stake, its age and the suggested fix, to
search, sort, page through, export as CSV, assign and resolve with a note
(dashboard_exceptions, dashboard_actions); the resolved history; the last reconciliation,
each gap linked to its returns; a timeline per return; the last runs, with the
exceptions each opened and resolved. Server-rendered, no external assets, no script.
Outside the login: a landing page at `/` and `/healthz` for load balancers, neither
showing anything from the store; with no dashboard login set, a page that says so.

Everything a page shows comes from outside (Reveni, Khaos, customers, the URL), so every
page, errors included, is an autoescaped template, and every response carries a
Content-Security-Policy that allows no script and no framing at all (pages.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from target_khaos_control.channel.dashboard_actions import Forms
from target_khaos_control.channel.dashboard_exceptions import ExceptionPages
from target_khaos_control.channel.dashboard_lists import csv_response
from target_khaos_control.channel.pages import SECURITY_HEADERS, client_rules, refused
from target_khaos_control.channel.pages import page as _page
from target_khaos_control.documents_of import of_returns
from target_khaos_control.khaos_position import read_positions
from target_khaos_control.operations.reconciliation import GAP_EXCEPTIONS
from target_khaos_control.served_marks import settled_first
from target_khaos_control.states import HELD, RE_REQUESTED, SUPERSEDED
from target_khaos_control.store import (
    credit_notes,
    document_bodies,
    documents,
    documents_with_bodies,
    exceptions,
    now,
    return_versions,
    returns_with_records,
    reveni_returns,
    runs,
    stock_levels,
)

# The glossary's words (docs/README.md) for a document's state and a run's counts.
STATE_WORDS = {HELD: "on hold", RE_REQUESTED: "re-requested by Khaos", SUPERSEDED: "withdrawn"}
COUNT_LABELS = {"held": "put on hold", "older": "older than stored", "backwards": "moved backwards"}
RUNS_SHOWN = 50
_refused = refused  # the dashboard's other pages render through `_page` and `_refused` from here


class Dashboard:
    """The dashboard: exceptions, reconciliation, month-end close, runs and each return's timeline."""

    def __init__(self, engine: Engine, rules_path: str = "", password: str = "") -> None:
        """The dashboard of this store; the password signs its forms."""
        self.engine = engine
        self.rules_path = rules_path
        self.forms = Forms(engine, password)
        self.exception_pages = ExceptionPages(engine, self.forms, rules_path)

    @staticmethod
    def open_routes(engine: Engine, public_url: str) -> list[Route]:
        """The landing page and the health check: no login, nothing from the store."""

        async def landing(request: Request) -> Response:
            page = _page("landing.html", "Returns channel", config_url=f"{public_url.rstrip('/')}/khaos/config.json")
            page.headers.update(SECURITY_HEADERS)
            return page

        def takes_writes() -> bool:
            # A write, undone: a pull writes what it served, so a store that only reads
            # (read-only, disk full, a standby) is not ok.
            try:
                with engine.connect() as conn, conn.begin() as transaction:
                    conn.execute(runs.insert().values(kind="healthz", started_at=now(), counts="{}"))
                    transaction.rollback()
            except sa.exc.SQLAlchemyError:
                return False
            return True

        async def health(request: Request) -> Response:
            # In a thread: on SQLite the write waits out a sync's batch, and the channel answers meanwhile.
            if not await run_in_threadpool(takes_writes):
                return PlainTextResponse("the store does not take writes", status_code=503)
            return PlainTextResponse("ok")

        return [Route("/", landing), Route("/healthz", health)]

    def routes(self) -> list[Any]:  # one Mount, which the channel's list of Routes takes as any BaseRoute
        """Every dashboard page, under /dashboard, with the security headers."""
        from target_khaos_control.channel.close_page import ClosePages

        close = ClosePages(self.engine, self.rules_path)
        listed = self.exception_pages
        pages = Router(
            [
                Route("/", listed.open_list),
                Route("/exceptions.csv", listed.open_list),
                Route("/exception", listed.one),
                Route("/exception/assign", self.forms.assign, methods=["POST"]),
                Route("/exception/resolve", self.forms.resolve, methods=["POST"]),
                Route("/resolved", listed.resolved_list),
                Route("/resolved.csv", listed.resolved_list),
                Route("/reconciliation", self.reconciliation),
                Route("/close", close.period),
                Route("/close/{period}/{gap}", close.gap),
                Route("/reconciliation.csv", self.reconciliation),
                Route("/runs", self.runs),
                Route("/runs.csv", self.runs),
                Route("/returns/{return_id}", self.timeline),
                Route("/logout", _logout),
            ],
            default=_not_found,
        )
        return [Mount("/dashboard", app=Guarded(pages))]

    @staticmethod
    def not_configured_routes() -> list[Any]:
        """With no dashboard login set, every dashboard page says so (and how to set one)."""

        async def not_configured(scope: Scope, receive: Receive, send: Send) -> None:
            await _page("not_configured.html", "Dashboard not configured", status_code=503)(scope, receive, send)

        return [Mount("/dashboard", app=Guarded(not_configured))]

    async def reconciliation(self, request: Request) -> Response:
        """The last reconciliation's gaps and totals, as a page or a CSV."""
        with self.engine.connect() as conn:
            last = conn.execute(
                sa.select(runs.c.counts).where(runs.c.kind == "reconcile").order_by(runs.c.id.desc()).limit(1)
            ).scalar_one_or_none()
        if request.url.path.endswith(".csv"):  # its totals; each gap's returns export from their own list
            totals = (json.loads(last) if last else {}).get("totals_by_currency") or {}
            rows = [{"currency": currency, **t} for currency, t in totals.items() if isinstance(t, dict)]
            headings = [(name, name) for name in ("currency", "refunded", "credited", "gap")]
            return csv_response("reconciliation-totals", headings, rows)
        return _page(
            "reconciliation.html",
            "Reconciliation",
            summary=json.loads(last) if last else None,
            gap_kinds={gap: kind for gap, (kind, _) in GAP_EXCEPTIONS.items()},
        )

    async def runs(self, request: Request) -> Response:
        """The last runs and what each counted, as a page or a CSV."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(runs).order_by(runs.c.id.desc()).limit(RUNS_SHOWN)).all()
        shown = [_run(row) for row in rows]
        # Each count a column (a reconciliation's nested figures are on its own page).
        columns = list(dict.fromkeys(name for run in shown for name in run["counts"]))
        if request.url.path.endswith(".csv"):
            headings = [("started", "started"), ("kind", "kind"), ("status", "status"), ("duration", "duration")]
            flat = [run | run["counts"] for run in shown]
            return csv_response("runs", [*headings, *((name, name) for name in columns)], flat)
        return _page("runs.html", "Last runs", runs=shown, columns=columns)

    async def timeline(self, request: Request) -> Response:
        """One Reveni return's timeline: its versions, documents, exceptions and credit notes."""
        return_id = request.path_params["return_id"]
        await run_in_threadpool(settled_first, self.engine)  # its documents' states and when Khaos pulled them
        with self.engine.connect() as conn:
            stored = conn.execute(
                sa.select(reveni_returns, return_versions.c.record)
                .select_from(returns_with_records)
                .where(reveni_returns.c.return_id == return_id)
            ).first()
            if stored is None:
                return _page("not_found.html", "Not found", status_code=404, what=f"Reveni return {return_id}")
            docs = conn.execute(
                sa.select(documents, document_bodies.c.body)
                .select_from(documents_with_bodies)
                .where(of_returns([return_id]))
                .order_by(documents.c.sequence)
            ).all()
            refs = [doc.associated_ref for doc in docs]
            notes = conn.execute(sa.select(credit_notes).where(credit_notes.c.associated_ref.in_(refs))).all()
            problems = conn.execute(sa.select(exceptions).where(exceptions.c.return_id == return_id)).all()
            codes = {line["SKU"] for doc in docs for line in json.loads(doc.body).get("ReturnedItems", [])}
            stock = conn.execute(
                sa.select(stock_levels)
                .where(stock_levels.c.stock_code.in_(codes))
                .order_by(stock_levels.c.stock_code, stock_levels.c.site_id)
            ).all()
            position = read_positions(conn, [return_id]).get(return_id)
        record = json.loads(stored.record)
        record = record if isinstance(record, dict) else {}
        currency = str(record.get("currency") or "")
        sites = self._sites()
        return _page(
            "timeline.html",
            f"Return {return_id}",
            record=record,
            stock=[
                {
                    "stock_code": level.stock_code,
                    "site": f"{sites[level.site_id]} ({level.site_id})" if level.site_id in sites else level.site_id,
                    "available": _quantity(level.available),
                    "updated_at": _shown_time(level.updated_at),
                }
                for level in stock
            ],
            events=_events(record, docs, notes, problems),
            held=f"{position.held(currency)} {currency}: {position.describe()}" if position else "",
            problems=problems,
        )

    def _sites(self) -> dict[str, str]:
        """Khaos's site names, from the client's rule set (`khaos.sites`), read when asked."""
        rules = client_rules(self.rules_path)
        return rules.sites if rules else {}


class RunRow(TypedDict):
    """One run as the Runs page lists it."""

    started: str
    kind: str
    status: str
    duration: str
    counts: dict[str, object]  # label -> what the run counted


def _run(row: Any) -> RunRow:
    counts = json.loads(row.counts or "{}")
    took = (row.finished_at - row.started_at).total_seconds() if row.finished_at else None
    return {
        "started": _shown_time(row.started_at),
        "kind": row.kind,
        "status": "finished" if row.finished_at else "unfinished",
        "duration": ""
        if took is None
        else f"{took:.1f} s"
        if took < 60
        else f"{int(took // 60)} min {int(took % 60)} s",
        "counts": {
            COUNT_LABELS.get(name, name.replace("_", " ")): value
            for name, value in counts.items()
            if name != "at" and not isinstance(value, dict | list)  # `at`: the start, already shown
        },
    }


def _shown_time(moment: datetime | None) -> str:
    """A time of the store's (UTC) to the second, its zone named."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment is not None else ""


def _quantity(value: Decimal) -> str:
    """`16.0000` as `16`; a part quantity keeps only the digits it needs."""
    return f"{value.normalize():f}" if value != value.to_integral_value() else str(int(value))


def _events(
    record: Mapping[str, object], docs: Sequence[Any], notes: Sequence[Any], problems: Sequence[Any]
) -> list[tuple[str, str]]:
    # The record is as Reveni sent it: any field may be missing, null or of another type.
    events = [(_said(record.get("created_at")), "Created in Reveni")]
    refunds = record.get("refunds")
    events += [
        (
            _said(r.get("refunded_at")),
            f"Reveni refunded {_said(r.get('amount')) or '(no amount)'} {_said(r.get('currency'))} "
            f"by {_said(r.get('method')) or '(no method)'}",
        )
        for r in (refunds if isinstance(refunds, list) else [])
        if isinstance(r, dict) and r.get("status") == "completed"
    ]
    events.append((_said(record.get("updated_at")), f"Last change in Reveni: status {record.get('status')}"))
    for doc in docs:
        process = json.loads(doc.body).get("ProcessReturn")
        events.append(
            (
                _when(doc.created_at),
                f"{doc.associated_ref} made ({'processed on import' if process else 'awaits approval in Khaos'})",
            )
        )
        if doc.published_at:
            events.append((_when(doc.published_at), f"{doc.associated_ref} published to the channel"))
        if doc.first_served_at:
            events.append((_when(doc.first_served_at), f"{doc.associated_ref} pulled by Khaos"))
        if doc.state in (HELD, RE_REQUESTED, SUPERSEDED):
            events.append(
                (
                    _when(doc.state_changed_at),
                    f"{doc.associated_ref} {STATE_WORDS[doc.state]}"
                    + (f": {doc.hold_reason}" if doc.hold_reason else ""),
                )
            )
    events += [(note.date, f"Credit note {note.code} in Khaos: {note.gross} {note.currency}") for note in notes]
    events += [(_when(p.first_seen), f"Exception {p.kind} for {p.owner} ({p.status}): {p.message}") for p in problems]
    return sorted(events, key=lambda event: event[0])


def _said(value: Any) -> str:
    """A value of Reveni's as text: nothing for null, whatever its type otherwise."""
    return "" if value is None else str(value)


def _when(moment: Any) -> str:
    """The store's times as Reveni writes its own (UTC, `Z`), so the timeline sorts."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else ""


async def _logout(request: Request) -> Response:
    """Basic auth has no session to end: answering 401 to the login the browser holds makes
    it forget that login; the page says what happened and how to sign in again."""
    response = _page("signed_out.html", "Signed out", status_code=401)
    response.headers["WWW-Authenticate"] = 'Basic realm="reveni-khaos"'
    return response


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    response = _page("not_found.html", "Not found", status_code=404, what=f"page {scope['path']}")
    await response(scope, receive, send)


class Guarded:
    """The dashboard's pages with the security headers on every response, its own errors
    (a wrong method, say) included, which it renders itself rather than raise."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap the dashboard's router, whose every answer gets the security headers."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the page with the security headers added to its answer."""

        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(SECURITY_HEADERS)
            await send(message)

        try:
            await self.app(scope, receive, send_guarded)
        except HTTPException as error:
            response = _page("error.html", "Not possible", status_code=error.status_code, detail=error.detail)
            await response(scope, receive, send_guarded)
