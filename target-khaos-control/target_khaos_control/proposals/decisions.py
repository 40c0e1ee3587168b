"""What operators decided about proposals, kept in the store (`proposal_decisions`): who,
when, what. A rejection keeps a proposal from being offered again for its subject; an
accepted reason mapping ranks first for the same Reveni code at another client."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.proposals.model import Proposal
from target_khaos_control.proposals.reasons import Accepted
from target_khaos_control.store import proposal_decisions

ACCEPTED, REJECTED = "accepted", "rejected"


def record(conn: Connection, proposal: Proposal, decision: str, by: str, moment: datetime) -> None:
    """Keep one decision on one proposal."""
    conn.execute(
        proposal_decisions.insert().values(
            proposal_id=proposal.id,
            client=proposal.client,
            kind=proposal.kind,
            subject=proposal.subject,
            path=proposal.edit.where if proposal.edit else "",
            value=proposal.value_json,
            meaning=proposal.meaning,
            decision=decision,
            decided_by=by,
            decided_at=moment,
        )
    )


def rejected(conn: Connection) -> set[str]:
    """The ids of every proposal someone rejected."""
    table = proposal_decisions.c
    return set(conn.execute(sa.select(table.proposal_id).where(table.decision == REJECTED)).scalars())


def accepted_reasons(conn: Connection) -> dict[str, list[Accepted]]:
    """Reason mappings operators accepted, by Reveni code, oldest first."""
    table = proposal_decisions.c
    rows = conn.execute(
        sa.select(table.client, table.subject, table.meaning, table.decided_by, table.decided_at)
        .where(table.decision == ACCEPTED, table.kind == "unknown_reason")
        .order_by(table.id)
    )
    found: dict[str, list[Accepted]] = {}
    for client, code, meaning, by, moment in rows:
        name, _, processing = str(meaning).partition("|")
        found.setdefault(code, []).append(Accepted(client, name, processing, by, f"{moment:%Y-%m-%d}"))
    return found


def history(conn: Connection) -> list[dict[str, str]]:
    """Every decision, newest first, as a person reads it."""
    table = proposal_decisions.c
    rows = conn.execute(sa.select(proposal_decisions).order_by(table.id.desc()))
    return [
        {
            "proposal_id": row.proposal_id,
            "client": row.client,
            "kind": row.kind,
            "subject": row.subject,
            "path": row.path,
            "value": row.value,
            "decision": row.decision,
            "decided_by": row.decided_by,
            "decided_at": row.decided_at.isoformat(),
        }
        for row in rows
    ]
