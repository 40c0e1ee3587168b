"""The dashboard: what finance, the warehouse and CX look at, served by `reveni-khaos serve`.

Read-only pages under `/dashboard/`, behind their own credential (never the channel's):
open exceptions by owner and type with the suggested fix (each owner's and type's card
links to its list), the last reconciliation, a timeline per return, and the last runs.
Server-rendered, no external assets, no script. Outside the login: a landing page at `/`
and `/healthz` for load balancers, neither showing anything from the store.

Everything a page shows comes from outside (Reveni, Khaos, customers, the URL), so every
page, errors included, is an autoescaped template, and every response carries a
Content-Security-Policy that allows no script and no framing at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Engine
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from target_khaos_control.exception_kinds import KINDS, Owner
from target_khaos_control.exception_log import as_record
from target_khaos_control.proposals import Proposal, propose
from target_khaos_control.rules import RuleSetError, load_ruleset
from target_khaos_control.states import HELD, RE_REQUESTED, SUPERSEDED, ExceptionStatus
from target_khaos_control.store import credit_notes, documents, exceptions, reveni_returns, runs, stock_levels

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATES = Environment(
    loader=FileSystemLoader(TEMPLATE_DIR), autoescape=select_autoescape(["html"], default_for_string=True, default=True)
)
# The one inline style sheet is allowed by its hash; nothing else is allowed at all.
_STYLE = re.search(r"<style>(.*?)</style>", (TEMPLATE_DIR / "base.html").read_text(), re.DOTALL)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.group(1).encode() if _STYLE else b"").digest()).decode()
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


# The glossary's words (docs/README.md) for a document's state and a run's counts.
STATE_WORDS = {HELD: "on hold", RE_REQUESTED: "re-requested by Khaos", SUPERSEDED: "withdrawn"}
COUNT_LABELS = {"held": "put on hold", "older": "older than stored", "backwards": "moved backwards"}


class Dashboard:
    def __init__(self, engine: Engine, rules_path: str = "") -> None:
        self.engine = engine
        self.rules_path = rules_path

    @staticmethod
    def open_routes(engine: Engine, public_url: str) -> list[Route]:
        """The landing page and the health check: no login, nothing from the store."""

        async def landing(request: Request) -> Response:
            page = _page("landing.html", "Returns channel", config_url=f"{public_url.rstrip('/')}/khaos/config.json")
            page.headers.update(SECURITY_HEADERS)
            return page

        async def health(request: Request) -> Response:
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text("select 1"))
            except sa.exc.SQLAlchemyError:
                return PlainTextResponse("the store does not answer", status_code=503)
            return PlainTextResponse("ok")

        return [Route("/", landing), Route("/healthz", health)]

    def routes(self) -> list[Any]:  # one Mount, which the channel's list of Routes takes as any BaseRoute
        pages = Router(
            [
                Route("/", self.exceptions),
                Route("/reconciliation", self.reconciliation),
                Route("/runs", self.runs),
                Route("/returns/{return_id}", self.timeline),
            ],
            default=_not_found,
        )
        return [Mount("/dashboard", app=Guarded(pages))]

    async def exceptions(self, request: Request) -> Response:
        owner, kind = request.query_params.get("owner", ""), request.query_params.get("type", "")
        owners = [str(o) for o in Owner]
        if owner and owner not in owners:
            return _refused(f"No owner {owner!r}: the owners are {', '.join(owners)}.")
        if kind and kind not in KINDS:
            return _refused(f"No exception type {kind!r}: the types are {', '.join(sorted(KINDS))}.")
        query = sa.select(exceptions).where(exceptions.c.status == ExceptionStatus.OPEN)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(exceptions.c.owner, exceptions.c.kind)).all()
            covered = {key for proposal in self._proposals(conn) for key in proposal.exceptions}
        records = [as_record(row) for row in rows]
        by_type = Counter((r["owner"], r["type"]) for r in records)
        by_owner = Counter(r["owner"] for r in records)
        proposed = Counter(r["owner"] for r in records if r["trace_key"] in covered)
        shown = [r for r in records if (not owner or r["owner"] == owner) and (not kind or r["type"] == kind)][:500]
        return _page(
            "exceptions.html",
            "Open exceptions",
            records=shown,
            owner=owner,
            kind=kind,
            total=len(records),
            by_owner=[(o, by_owner[o]) for o in [*owners, *sorted(set(by_owner) - set(owners))] if by_owner[o]],
            by_type=[(o, k, n) for (o, k), n in sorted(by_type.items())],
            proposed=proposed,
        )

    async def reconciliation(self, request: Request) -> Response:
        with self.engine.connect() as conn:
            last = conn.execute(
                sa.select(runs.c.counts).where(runs.c.kind == "reconcile").order_by(runs.c.id.desc()).limit(1)
            ).scalar_one_or_none()
        return _page("reconciliation.html", "Reconciliation", summary=json.loads(last) if last else None)

    async def runs(self, request: Request) -> Response:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(runs).order_by(runs.c.id.desc()).limit(50)).all()
        shown = [_run(row) for row in rows]
        # Each count a column (a reconciliation's nested figures are on its own page).
        columns = list(dict.fromkeys(name for run in shown for name in run["counts"]))
        return _page("runs.html", "Last runs", runs=shown, columns=columns)

    async def timeline(self, request: Request) -> Response:
        return_id = request.path_params["return_id"]
        with self.engine.connect() as conn:
            stored = conn.execute(sa.select(reveni_returns).where(reveni_returns.c.return_id == return_id)).first()
            if stored is None:
                return _page("not_found.html", "Not found", status_code=404, what=f"Reveni return {return_id}")
            docs = conn.execute(
                sa.select(documents).where(documents.c.return_id == return_id).order_by(documents.c.sequence)
            ).all()
            refs = [doc.associated_ref for doc in docs]
            notes = conn.execute(sa.select(credit_notes).where(credit_notes.c.associated_ref.in_(refs))).all()
            problems = conn.execute(sa.select(exceptions).where(exceptions.c.return_id == return_id)).all()
            fixes = [proposal for proposal in self._proposals(conn) if return_id in proposal.return_ids]
            codes = {line["SKU"] for doc in docs for line in json.loads(doc.body).get("ReturnedItems", [])}
            stock = conn.execute(
                sa.select(stock_levels)
                .where(stock_levels.c.stock_code.in_(codes))
                .order_by(stock_levels.c.stock_code, stock_levels.c.site_id)
            ).all()
        record = json.loads(stored.record)
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
            fixes=fixes,
        )

    def _proposals(self, conn: sa.Connection) -> list[Proposal]:
        """The open exceptions' proposed fixes (`reveni-khaos fix list`); none without rules."""
        if not self.rules_path:
            return []
        try:
            return propose(conn, self.rules_path)
        except (OSError, ValueError, yaml.YAMLError):
            return []  # an unreadable rule set: the exceptions still show, without proposals

    def _sites(self) -> dict[str, str]:
        """Khaos's site names, from the client's rule set (`khaos.sites`), read when asked."""
        if not self.rules_path:
            return {}
        try:
            return load_ruleset(self.rules_path).sites
        except RuleSetError:
            return {}


def _run(row: Any) -> dict[str, Any]:
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


def _refused(detail: str) -> HTMLResponse:
    return _page("error.html", "Not possible", status_code=400, detail=detail)


def _events(
    record: dict[str, Any], docs: Sequence[Any], notes: Sequence[Any], problems: Sequence[Any]
) -> list[tuple[str, str]]:
    events = [(record.get("created_at", ""), "Created in Reveni")]
    events += [
        (r.get("refunded_at") or "", f"Reveni refunded {r['amount']} {r['currency']} by {r['method']}")
        for r in record.get("refunds") or []
        if r.get("status") == "completed"
    ]
    events.append((record.get("updated_at", ""), f"Last change in Reveni: status {record.get('status')}"))
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


def _when(moment: Any) -> str:
    """The store's times as Reveni writes its own (UTC, `Z`), so the timeline sorts."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else ""


def _page(template: str, title: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(TEMPLATES.get_template(template).render(title=title, **values), status_code=status_code)


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    response = _page("not_found.html", "Not found", status_code=404, what=f"page {scope['path']}")
    await response(scope, receive, send)


class Guarded:
    """The dashboard's pages with the security headers on every response, its own errors
    (a wrong method, say) included, which it renders itself rather than raise."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(SECURITY_HEADERS)
            await send(message)

        try:
            await self.app(scope, receive, send_guarded)
        except HTTPException as error:
            response = _page("error.html", "Not possible", status_code=error.status_code, detail=error.detail)
            await response(scope, receive, send_guarded)
