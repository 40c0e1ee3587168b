"""The exceptions a batch opens and resolves for the returns it decides on.

One open exception per problem a return's draft names, keyed by its trace key (two
problems on one key keep both causes). A problem gone from a later version is resolved,
except the reconciliation's own findings (the reconciliation resolves those) and one a
person resolved on the dashboard that Khaos settles (`SETTLED_IN_KHAOS`): a person's
word stands. Read once per batch, written with it (`publishing.Batch`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.after_pull import SETTLED_IN_KHAOS
from target_khaos_control.batch_reads import ReadIn
from target_khaos_control.documents import Draft, Problem
from target_khaos_control.exception_actions import actions
from target_khaos_control.exception_kinds import Kind
from target_khaos_control.exception_log import RECONCILIATION, ExceptionLog, Subject, trace_key
from target_khaos_control.exception_routing import Routing
from target_khaos_control.store import exceptions
from target_khaos_control.version_order import Version

_EXCEPTIONS = ReadIn(
    sa.select(exceptions.c.return_id, exceptions.c.trace_key, exceptions.c.status), exceptions.c.return_id
)


class ReturnExceptions:
    """The exceptions of a batch's returns: each return looks only at its own."""

    def __init__(self, conn: Connection, return_ids: Sequence[str], moment: datetime, routing: Routing) -> None:
        """Read the exceptions these returns have (their keys and statuses), once."""
        self.conn = conn
        self.keys: dict[str, set[str]] = {}
        statuses = {}
        for return_id, key, status in _EXCEPTIONS.rows(conn, return_ids):
            self.keys.setdefault(return_id, set()).add(key)
            statuses[key] = status
        self.log = ExceptionLog(statuses, moment, routing)

    def note(self, return_id: str, draft: Draft, *, resolve: bool = True) -> None:
        """One open exception per problem; a problem that has gone away is resolved (unless
        this version is not the one decided on: `resolve` False)."""
        if not draft.problems and return_id not in self.keys:
            return  # no problem now, none before: nothing to open or resolve
        current: dict[str, Problem] = {}
        for problem in draft.problems:
            key = trace_key(problem.kind, return_id, problem.item_id, problem.part)
            if key in current and current[key].message != problem.message:  # never lose a cause
                problem = replace(problem, message=f"{current[key].message}; {problem.message}")
            current[key] = problem
        known = self.keys.setdefault(return_id, set())
        settling = [key for key, p in current.items() if p.kind in SETTLED_IN_KHAOS]
        settled = self._settled_by_person(settling) if settling else set()
        log, ruleset_hash = self.log, draft.ruleset_hash
        for key, problem in current.items():
            if key not in settled:  # keyed above as Subject.of_return(return_id, item, part) keys it
                log.raise_keyed(
                    key,
                    problem.kind,
                    return_id,
                    problem.item_id,
                    problem.message,
                    problem.details,
                    ruleset_hash=ruleset_hash,
                )
            known.add(key)
        for key in known - set(current) if resolve else ():
            # The reconciliation's own findings are its to resolve, not the rules'.
            if not key.endswith(RECONCILIATION):
                log.gone(key, ruleset_hash=ruleset_hash)

    def moved_backwards(
        self, return_id: str, latest: Version, incoming: Version, draft: Draft, updated_at: str
    ) -> None:
        """Ask CX about a version whose status went back: the stored version stays the one decided on."""
        key = self.log.raise_exception(
            Kind.STATUS_MOVED_BACKWARDS,
            Subject.of_return(return_id),
            f"Reveni return {return_id} went back from {latest.status!r} to {incoming.status!r} "
            f"in its version of {updated_at}; its Khaos documents are left as they were",
            {"from": latest.status, "to": incoming.status},
            ruleset_hash=draft.ruleset_hash,
        )
        self.keys.setdefault(return_id, set()).add(key)

    def _settled_by_person(self, keys: list[str]) -> set[str]:
        """Of these keys, those a person resolved (on the dashboard) and that stay resolved."""
        resolved = [key for key in keys if self.log.was_resolved(key)]
        trail = actions(self.conn, resolved) if resolved else {}
        return {key for key, done in trail.items() if any(action.action == "resolve" for action in done)}
