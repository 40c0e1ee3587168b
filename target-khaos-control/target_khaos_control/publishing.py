"""Keep the Khaos documents of each Reveni return in step with its latest version.

The rules that keep money right:
- The same record twice changes nothing (content hash).
- A document Khaos has not pulled yet is updated in place, and moves to the end of the
  feed, after anything Khaos has already been served.
- A document Khaos has pulled is never changed. Items credited later (accepted after the
  first document went out, say) go in a follow-up document with a derived reference;
  an item already sent is never sent again, so it is never credited twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import simplejson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.documents import Draft, Problem, associated_ref
from target_khaos_control.store import documents, exceptions, reveni_returns

SENT = ("served", "re_requested")  # Khaos has the document: it must not change
OPEN = ("held", "published")  # not pulled yet: may still change


@dataclass(frozen=True)
class Outcome:
    changed: bool  # False: this exact version was already stored
    published: list[str]  # references now waiting in the feed
    held: list[str]  # references held back, with a reason recorded


def content_hash(record: dict[str, Any]) -> str:
    canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def apply_return(conn: Connection, record: dict[str, Any], draft: Draft, moment: datetime) -> Outcome:
    return_id = draft.return_id
    digest = content_hash(record)
    known = conn.execute(sa.select(reveni_returns.c.content_hash).where(reveni_returns.c.return_id == return_id))
    previous = known.scalar_one_or_none()
    if previous == digest:
        return Outcome(changed=False, published=[], held=[])
    row = {
        "updated_at": str(record.get("updated_at", "")),
        "content_hash": digest,
        "last_changed": moment,
        "record": json.dumps(record, default=str, ensure_ascii=False),
    }
    if previous is None:
        conn.execute(reveni_returns.insert().values(return_id=return_id, first_seen=moment, **row))
    else:
        conn.execute(reveni_returns.update().where(reveni_returns.c.return_id == return_id).values(**row))
    _record_problems(conn, return_id, draft.problems, moment)
    return _place_lines(conn, record, draft, moment)


def _place_lines(conn: Connection, record: dict[str, Any], draft: Draft, moment: datetime) -> Outcome:
    existing = conn.execute(
        sa.select(documents.c.associated_ref, documents.c.sequence, documents.c.state, documents.c.item_ids)
        .where(documents.c.return_id == draft.return_id)
        .order_by(documents.c.sequence)
    ).all()
    already_sent = {item for doc in existing if doc.state in SENT for item in json.loads(doc.item_ids)}
    open_doc = next((doc for doc in existing if doc.state in OPEN), None)
    to_send = [] if draft.cancelled else [line for line in draft.lines if line.item_id not in already_sent]

    if not to_send:
        if open_doc is not None:  # nothing left to send: withdraw it before Khaos pulls it
            _set_state(conn, open_doc.associated_ref, "superseded", moment, hold_reason="")
        return Outcome(changed=True, published=[], held=[])

    if open_doc is not None:
        ref, sequence = open_doc.associated_ref, open_doc.sequence
    else:
        sequence = max((doc.sequence for doc in existing), default=0) + 1
        ref = associated_ref(draft.return_id, sequence)
    hold_reason = "; ".join(problem.message for problem in draft.problems)
    values = {
        "body": simplejson.dumps(
            draft.document(ref, to_send), use_decimal=True, ensure_ascii=False, separators=(",", ":")
        ),
        "item_ids": json.dumps(sorted(line.item_id for line in to_send)),
        "source_updated_at": str(record.get("updated_at", "")),
        "hold_reason": hold_reason,
    }
    if open_doc is None:
        conn.execute(
            documents.insert().values(
                associated_ref=ref,
                return_id=draft.return_id,
                sequence=sequence,
                state="held",
                created_at=moment,
                state_changed_at=moment,
                **values,
            )
        )
    else:
        conn.execute(documents.update().where(documents.c.associated_ref == ref).values(**values))
    if hold_reason:
        _set_state(conn, ref, "held", moment, hold_reason=hold_reason)
        return Outcome(changed=True, published=[], held=[ref])
    _publish(conn, ref, moment)
    return Outcome(changed=True, published=[ref], held=[])


def _publish(conn: Connection, ref: str, moment: datetime) -> None:
    """Give the document the next place in the feed: after everything already there,
    so a continuation Khaos holds can never have passed it."""
    last = conn.execute(sa.select(sa.func.max(documents.c.feed_position))).scalar_one_or_none() or 0
    conn.execute(
        documents.update()
        .where(documents.c.associated_ref == ref)
        .values(state="published", feed_position=last + 1, published_at=moment, state_changed_at=moment)
    )


def _set_state(conn: Connection, ref: str, state: str, moment: datetime, *, hold_reason: str) -> None:
    conn.execute(
        documents.update()
        .where(documents.c.associated_ref == ref)
        .values(state=state, feed_position=None, hold_reason=hold_reason, state_changed_at=moment)
    )


def _record_problems(conn: Connection, return_id: str, problems: list[Problem], moment: datetime) -> None:
    """One open exception per problem; a problem that has gone away is resolved."""
    current = {f"{p.kind}:{return_id}:{p.item_id}": p for p in problems}
    known = {
        row.trace_key: row
        for row in conn.execute(
            sa.select(exceptions.c.trace_key, exceptions.c.status).where(exceptions.c.return_id == return_id)
        )
    }
    for key, problem in current.items():
        if key in known:
            conn.execute(
                exceptions.update()
                .where(exceptions.c.trace_key == key)
                .values(
                    status="open", last_seen=moment, message=problem.message, occurrences=exceptions.c.occurrences + 1
                )
            )
        else:
            conn.execute(
                exceptions.insert().values(
                    trace_key=key,
                    kind=problem.kind,
                    owner=problem.owner,
                    return_id=return_id,
                    item_id=problem.item_id,
                    message=problem.message,
                    status="open",
                    first_seen=moment,
                    last_seen=moment,
                    occurrences=1,
                )
            )
    for key, row in known.items():
        if key not in current and row.status == "open":
            conn.execute(
                exceptions.update().where(exceptions.c.trace_key == key).values(status="resolved", last_seen=moment)
            )
