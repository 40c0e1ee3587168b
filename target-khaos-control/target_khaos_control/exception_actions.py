"""What people do to an exception: assign it to someone or resolve it, each on its audit
trail (`exception_actions`), and that trail read back for the dashboard. Neither changes
anything in Khaos or Reveni."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.states import ExceptionStatus
from target_khaos_control.store import chunks, exception_actions, exceptions

OPEN, RESOLVED = ExceptionStatus


class ActionRefused(ValueError):
    """An assignment or resolution that cannot be made, with the reason in a person's words."""


NAME_MOST, NOTE_MOST = 80, 2000  # a person's name, a resolution note: longer is refused, never cut


def assign(conn: Connection, key: str, *, to: str, login: str, person: str, moment: datetime) -> None:
    """Give an open exception to a person (an empty name takes it back), on the audit trail."""
    to = _text("the person to assign it to", to, NAME_MOST, required=False)
    person = _text("your name", person, NAME_MOST)
    _open_row(conn, key)
    conn.execute(exceptions.update().where(exceptions.c.trace_key == key).values(assigned_to=to))
    _on_record(conn, key, "assign", login, person, moment, assigned_to=to)


def resolve(conn: Connection, key: str, *, note: str, login: str, person: str, moment: datetime) -> None:
    """Mark an open exception resolved by a person, with why, on the audit trail.

    It changes nothing in Khaos or Reveni: if the problem is still there, the next run
    that meets it opens it again."""
    note = _text("the note (what was done)", note, NOTE_MOST)
    person = _text("your name", person, NAME_MOST)
    _open_row(conn, key)
    conn.execute(
        exceptions.update()
        .where(exceptions.c.trace_key == key)
        .values(status=RESOLVED, alerted_status=RESOLVED)  # as a run resolves it: a reopening alerts again
    )
    _on_record(conn, key, "resolve", login, person, moment, note=note)


def actions(conn: Connection, keys: list[str]) -> dict[str, list[Any]]:
    """The audit trail of these exceptions, oldest first, by trace key."""
    found: dict[str, list[Any]] = {}
    for chunk in chunks(keys):
        query = sa.select(exception_actions).where(exception_actions.c.trace_key.in_(chunk))
        for row in conn.execute(query.order_by(exception_actions.c.id)):
            found.setdefault(row.trace_key, []).append(row)
    return found


def _open_row(conn: Connection, key: str) -> None:
    status = conn.execute(sa.select(exceptions.c.status).where(exceptions.c.trace_key == key)).scalar_one_or_none()
    if status is None:
        raise ActionRefused(f"No exception {key[:80]!r}: it may have been removed; open the list again.")
    if status != OPEN:
        raise ActionRefused(f"Exception {key[:80]!r} is already resolved: nothing to do.")


def _text(what: str, value: str, most: int, *, required: bool = True) -> str:
    value = " ".join(value.split())  # one line, as the lists show it
    if required and not value:
        raise ActionRefused(f"Give {what}.")
    if len(value) > most:
        raise ActionRefused(f"{what[0].upper()}{what[1:]} is {len(value)} characters; at most {most}.")
    return value


def _on_record(conn: Connection, key: str, action: str, login: str, person: str, moment: datetime, **more: str) -> None:
    conn.execute(
        exception_actions.insert().values(trace_key=key, action=action, login=login, person=person, at=moment, **more)
    )
