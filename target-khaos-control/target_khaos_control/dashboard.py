"""The dashboard: what finance, the warehouse and CX look at, served by `reveni-khaos serve`.

Read-only pages under `/dashboard/`, behind their own credential (never the channel's):
open exceptions by owner and type with the suggested fix, the last reconciliation, a
timeline per return, and the last runs. Server-rendered, no external assets.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from target_khaos_control.exceptions import as_record
from target_khaos_control.store import credit_notes, documents, exceptions, reveni_returns, runs, stock_levels

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=select_autoescape(["html"])
)


class Dashboard:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def routes(self) -> list[Route]:
        return [
            Route("/dashboard/", self.exceptions),
            Route("/dashboard/reconciliation", self.reconciliation),
            Route("/dashboard/runs", self.runs),
            Route("/dashboard/returns/{return_id}", self.timeline),
        ]

    async def exceptions(self, request: Request) -> Response:
        owner = request.query_params.get("owner")
        query = sa.select(exceptions).where(exceptions.c.status == "open")
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(exceptions.c.owner, exceptions.c.kind)).all()
        records = [as_record(row) for row in rows]
        by_type = Counter((r["owner"], r["type"]) for r in records)
        by_owner = Counter(r["owner"] for r in records)
        shown = [r for r in records if not owner or r["owner"] == owner][:500]
        return _page(
            "exceptions.html",
            "Open exceptions",
            records=shown,
            owner=owner,
            by_owner=sorted(by_owner.items()),
            by_type=[(o, k, n) for (o, k), n in sorted(by_type.items())],
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
        return _page("runs.html", "Last runs", runs=rows)

    async def timeline(self, request: Request) -> Response:
        return_id = request.path_params["return_id"]
        with self.engine.connect() as conn:
            stored = conn.execute(sa.select(reveni_returns).where(reveni_returns.c.return_id == return_id)).first()
            if stored is None:
                return HTMLResponse(f"No Reveni return {return_id!r} in the store", status_code=404)
            docs = conn.execute(
                sa.select(documents).where(documents.c.return_id == return_id).order_by(documents.c.sequence)
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
        record = json.loads(stored.record)
        return _page(
            "timeline.html",
            f"Return {return_id}",
            record=record,
            stock=stock,
            events=_events(record, docs, notes, problems),
        )


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
        if doc.state in ("held", "re_requested", "superseded"):
            events.append(
                (
                    _when(doc.state_changed_at),
                    f"{doc.associated_ref} {doc.state.replace('_', '-')}"
                    + (f": {doc.hold_reason}" if doc.hold_reason else ""),
                )
            )
    events += [(note.date, f"Credit note {note.code} in Khaos: {note.gross} {note.currency}") for note in notes]
    events += [(_when(p.first_seen), f"Exception {p.kind} for {p.owner} ({p.status}): {p.message}") for p in problems]
    return sorted(events, key=lambda event: event[0])


def _when(moment: Any) -> str:
    """The store's times as Reveni writes its own (UTC, `Z`), so the timeline sorts."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else ""


def _page(template: str, title: str, **values: Any) -> HTMLResponse:
    return HTMLResponse(TEMPLATES.get_template(template).render(title=title, **values))
