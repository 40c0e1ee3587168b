"""Proposals for `customer_not_found`: the Khaos URN of a customer, by their email, where
Khaos pushed one (an order status that carries both); else none, as no guess is safe."""

from __future__ import annotations

import json
import re

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.exception_kinds import Kind
from target_khaos_control.proposals.model import Edit, Proposal
from target_khaos_control.rules.rules_document import RulesDocument
from target_khaos_control.store import order_statuses


def customer_proposals(client: str, rules: RulesDocument, email: str, conn: Connection) -> list[Proposal]:
    """The URN Khaos pushed for `email`, as a row of the table the rules' URN template looks up."""
    references = rules.get("references")
    template = str(references.get("urn") or "") if references else ""
    table = re.search(r"lookup\(\s*['\"]([^'\"]+)['\"]\s*\)", template)
    if not email or table is None:
        return []
    key = email.lower() if "lower" in template else email
    urns: dict[str, str] = {}
    rows = conn.execute(
        sa.select(order_statuses.c.order_code, order_statuses.c.payload).where(
            order_statuses.c.payload.ilike(f"%{email}%")
        )
    )
    for order_code, payload in rows:
        for urn in _urns_for(json.loads(payload), email):
            urns.setdefault(urn, order_code)
    return [
        Proposal(
            client=client,
            kind=Kind.CUSTOMER_NOT_FOUND,
            subject=email,
            edit=Edit(("tables", table.group(1), key), urn),
            confidence=95 if len(urns) == 1 else 60,
            evidence=(f"Khaos pushed order {order_code} of {email} under URN {urn}",),
            meaning=urn,
        )
        for urn, order_code in sorted(urns.items())
    ]


def _urns_for(entry: object, email: str) -> list[str]:
    """The URN of each object in a pushed entry that holds `email` somewhere within it."""
    found: list[str] = []
    if isinstance(entry, dict):
        urn = next((v for k, v in entry.items() if str(k).lower() in ("urn", "customerurn")), None)
        if isinstance(urn, str) and urn and email.lower() in json.dumps(entry).lower():
            found.append(urn)
        for value in entry.values():
            found += _urns_for(value, email)
    elif isinstance(entry, list):
        for value in entry:
            found += _urns_for(value, email)
    return found
