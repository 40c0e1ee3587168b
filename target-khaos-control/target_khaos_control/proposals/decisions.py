"""What operators decided about proposals, kept in the store (`proposal_decisions`): who,
when, what. A rejection keeps a proposal from being offered again for its subject.

An accepted reason mapping ranks first for the same Reveni code at another client. Each
client has its own store, so this travels in the rule file: `fix accept` notes on the new
rule's line who accepted it and when, and the other clients' proposers read that note.
"""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.exception_kinds import Kind
from target_khaos_control.proposals.model import Proposal
from target_khaos_control.proposals.reasons import Accepted, general_rules
from target_khaos_control.rules.rules_document import RulesDocument
from target_khaos_control.store import proposal_decisions

ACCEPTED, REJECTED = "accepted", "rejected"
# `- reason: defective   # accepted by ana on 2026-12-04 (fix p6740dde05b)`
NOTED = re.compile(
    r"^\s*-\s*reason:\s*[\"']?([^\s#\"']+)[\"']?\s*#\s*accepted by (.+?) on (\d{4}-\d{2}-\d{2})", re.MULTILINE
)


def note(by: str, moment: datetime, proposal_id: str) -> str:
    """What `fix accept` writes on the line of a rule it added."""
    return f"accepted by {by} on {moment:%Y-%m-%d} (fix {proposal_id})"


def noted(client: str, text: str, data: RulesDocument) -> dict[str, list[Accepted]]:
    """The reason mappings a client's rule file says operators accepted, by Reveni code."""
    rules = general_rules(data.get("reasons") or [])
    khaos_section = data.get("khaos")
    khaos = (khaos_section.get("return_reasons") if khaos_section else None) or {}
    found: dict[str, list[Accepted]] = {}
    for code, by, on in NOTED.findall(text):
        reason = khaos.get(str(rules[code]["khaos_reason"])) if code in rules else None
        if isinstance(reason, dict):
            found.setdefault(code, []).append(Accepted(client, str(reason["name"]), str(reason["processing"]), by, on))
    return found


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
        .where(table.decision == ACCEPTED, table.kind == Kind.UNKNOWN_REASON)
        .order_by(table.id)
    )
    found: dict[str, list[Accepted]] = {}
    for client, code, meaning, by, moment in rows:
        name, _, processing = str(meaning).partition("|")
        found.setdefault(code, []).append(Accepted(client, name, processing, by, f"{moment:%Y-%m-%d}"))
    return found
