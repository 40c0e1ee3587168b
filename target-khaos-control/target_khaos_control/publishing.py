"""Keep the Khaos documents of each Reveni return in step with its latest version.

The rules that keep money right:
- The same record twice changes nothing (content hash).
- A document Khaos has not pulled yet is updated in place, and moves to the end of the
  feed, after anything Khaos has already been served.
- An older version never replaces a newer one (by Reveni's `updated_at`; `version_order`), and a newer
  version whose status moves backwards (accepted, then in progress) changes nothing
  but opens a `status_moved_backwards` exception for CX.
- A document Khaos has pulled is never changed. Items credited later (accepted after the
  first document went out, say) go in a follow-up document with a derived reference;
  an item already sent is never sent again, so it is never credited twice.
- Once Khaos holds a document, each later version is judged against what Khaos holds
  (`after_pull`), not against the document we would send now.

A batch is read in three queries, decided in memory, and written with one statement
per kind of change: the store costs the same whatever the batch size. The exceptions each
version opens and resolves are `return_exceptions.py`'s.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control import khaos_documents
from target_khaos_control.after_pull import judge
from target_khaos_control.batch_reads import ReadIn
from target_khaos_control.batch_writes import insert_many, update_many
from target_khaos_control.canonical import Entry, stored_text
from target_khaos_control.documents import Draft, associated_ref, storable
from target_khaos_control.documents_of import DocumentsOf
from target_khaos_control.exception_kinds import Kind, Owner
from target_khaos_control.exception_routing import Routing
from target_khaos_control.khaos_position import item_ids_text, line_facts, read_positions
from target_khaos_control.return_exceptions import ReturnExceptions
from target_khaos_control.reveni import Sent
from target_khaos_control.rules.engine import DEDUCTION
from target_khaos_control.served_marks import settle
from target_khaos_control.states import HELD, PUBLISHED, SENT, SUPERSEDED, UNSENT, DocumentState, check
from target_khaos_control.store import (
    document_bodies,
    documents,
    next_feed_position,
    next_ids,
    return_versions,
    reveni_returns,
)
from target_khaos_control.store_locks import lock_feed
from target_khaos_control.version_order import Version, backwards, older, read_moment


@dataclass
class Counts:
    """What a batch did, for the run's summary."""

    published: int = 0
    held: int = 0
    unchanged: int = 0
    older: int = 0  # versions older than the one stored: ignored
    backwards: int = 0  # versions whose status went back: left for CX
    exceptions_opened: int = 0  # new, or reopened
    exceptions_resolved: int = 0
    exceptions_touched: int = 0  # opened, seen again or resolved: what the exceptions stream sends

    def figures(self) -> dict[str, int]:
        """The figures the run's summary adds up (what the exceptions stream sends is not one)."""
        return {name: value for name, value in vars(self).items() if name != "exceptions_touched"}


@dataclass
class Document:
    """One `documents` row, as the batch sees it."""

    associated_ref: str
    return_id: str
    sequence: int
    state: str
    item_ids: list[str]
    feed_position: int | None = None
    values: dict[str, object] = field(default_factory=dict)  # columns to write to `documents`
    new: bool = False
    body: dict[str, object] | None = None  # its `document_bodies` row (body, lines), when it changed
    id: int = 0  # its row's id, given a new one as it is written


_VERSIONS = ReadIn(
    sa.select(
        reveni_returns.c.return_id,
        reveni_returns.c.content_hash,
        reveni_returns.c.ruleset_hash,
        reveni_returns.c.updated_at,
        reveni_returns.c.status,
    ),
    reveni_returns.c.return_id,
)
_DOCUMENTS = DocumentsOf(
    sa.select(
        documents.c.associated_ref,
        documents.c.return_id,
        documents.c.sequence,
        documents.c.state,
        documents.c.item_ids,
        documents.c.feed_position,
        documents.c.id,
    )
)


def _by_sequence(doc: Document) -> int:
    return doc.sequence


class Batch:
    """Applies one batch of (record, draft) pairs inside the caller's transaction."""

    def __init__(
        self,
        conn: Connection,
        entries: Sequence[tuple[Sent, Draft] | Entry],
        moment: datetime,
        *,
        force: bool = False,
        routing: Routing | None = None,
    ) -> None:
        """Read what the store holds of these returns (versions, documents, exceptions, Khaos's position) once."""
        self.conn, self.moment, self.force, self.routing = conn, moment, force, routing or Routing()
        # An Entry as given (its record written already, `canonical.written`); a pair made one.
        self.entries = [entry if type(entry) is Entry else Entry.of(*entry) for entry in entries]
        return_ids = list(dict.fromkeys(entry.draft.return_id for entry in self.entries))
        stored = _VERSIONS.rows(conn, return_ids)
        # By position: a Row's attribute by name costs more than the read itself.
        self.versions = {row[0]: (row[1], row[2]) for row in stored}
        # Read into a Version only when a return has changed: most of a resent batch has not.
        self.stored_versions = {row[0]: (row[3], row[4]) for row in stored}
        self.latest: dict[str, Version] = {}
        # A return's version decided on in this batch with nothing before it: its record, its
        # `updated_at` read into a Version only if a later version in the batch is judged against it.
        self.unread: dict[str, Sent] = {}
        self.stored_returns = set(self.versions)
        self.new_versions: list[tuple[str, str]] = []  # (return id, record), in the order received
        # The same version under the same rules changes nothing, so what the store holds of a
        # return only ever sent again as stored is not read (most of a resent batch). A return
        # with any other version in the batch is read: the batch decides on each in turn.
        changed = list(
            dict.fromkeys(
                entry.draft.return_id
                for entry in self.entries
                if force or self.versions.get(entry.draft.return_id) != entry.version
            )
        )
        # Each return's documents, made Documents only when its version has changed; none looked
        # for of a return with no stored version (`write` stores a document only with its version).
        self.stored_documents: dict[str, list[Any]] = {}
        for row in _DOCUMENTS.rows(conn, [return_id for return_id in changed if return_id in self.stored_returns]):
            self.stored_documents.setdefault(row[1], []).append(row)
        self.documents: dict[str, list[Document]] = {}
        self.return_exceptions = ReturnExceptions(conn, changed, moment, self.routing)
        # What Khaos holds: no pull lands while we decide. Only returns with a document in a
        # sent state can hold any (the documents just read, under the same lock).
        held = [rid for rid, rows in self.stored_documents.items() if any(row[3] in SENT for row in rows)]
        self.positions = read_positions(conn, held)
        self.return_writes: dict[str, dict[str, object]] = {}
        last = conn.execute(sa.select(sa.func.max(documents.c.feed_position))).scalar_one_or_none()
        self.next_position = next_feed_position(last)
        self.counts = Counts()

    def apply(self, entry: Entry) -> None:
        """Keep one version of a return and publish, hold or withdraw its documents as the draft says."""
        # The same version under the same rules changes nothing; new rules decide again.
        record, draft, canonical, version = entry
        return_id = draft.return_id
        if not self.force and self.versions.get(return_id) == version:
            self.counts.unchanged += 1
            return
        status = str(record.get("status") or "")
        latest = self._latest(return_id)
        if latest is None:  # the first version seen (most returns): read only if a later one is judged against it
            self.unread[return_id] = record
        else:
            incoming = Version(read_moment(record.get("updated_at")), status)
            if older(incoming, latest):
                self.counts.older += 1
                return
            if incoming.updated_at is None:
                # No telling whether it is newer: the stored version and its documents stand.
                self._hold_unreadable(return_id, draft)
                return
            if backwards(latest.status, incoming.status):
                self._question(return_id, latest, incoming, draft, str(record.get("updated_at")))
                return
            self.latest[return_id] = incoming
        if self.versions.get(return_id, ("",))[0] != version[0]:  # a new version: its record kept, once
            self.new_versions.append((return_id, stored_text(canonical)))
        self.versions[return_id] = version
        row: dict[str, object] = {
            "return_id": return_id,
            "ruleset_hash": draft.ruleset_hash,
            "updated_at": storable(str(record.get("updated_at", ""))),
            "status": storable(status),
            "content_hash": version[0],
            "last_changed": self.moment,
        }
        if return_id not in self.stored_returns:  # inserted: when the store first saw it too
            row["first_seen"] = self.moment
        self.return_writes[return_id] = row
        self._place_lines(record, draft)
        self.return_exceptions.note(return_id, draft)

    def _latest(self, return_id: str) -> Version | None:
        """The version of this return decided on: this batch's, else the store's."""
        unread = self.unread.pop(return_id, None)
        if unread is not None:  # this batch's, decided on unread (`apply`): read now, once
            self.latest[return_id] = Version(read_moment(unread.get("updated_at")), str(unread.get("status") or ""))
        elif return_id not in self.latest and return_id in self.stored_versions:
            updated_at, status = self.stored_versions[return_id]
            self.latest[return_id] = Version(read_moment(updated_at), status)
        return self.latest.get(return_id)

    def _documents(self, return_id: str) -> list[Document]:
        """This return's documents, as stored or as this batch left them."""
        if return_id not in self.documents:
            self.documents[return_id] = [
                Document(ref, return_id, sequence, state, json.loads(item_ids), position, id=id_)
                for ref, _, sequence, state, item_ids, position, id_ in self.stored_documents.get(return_id, ())
            ]
        return self.documents[return_id]

    def _question(self, return_id: str, latest: Version, incoming: Version, draft: Draft, updated_at: str) -> None:
        """Leave the return as it was and ask CX: the stored version stays the one decided on."""
        self.counts.backwards += 1
        self.return_exceptions.moved_backwards(return_id, latest, incoming, draft, updated_at)

    def _hold_unreadable(self, return_id: str, draft: Draft) -> None:
        """A version whose `updated_at` cannot be read: its exceptions open, nothing else changes."""
        self.counts.held += 1
        self.return_exceptions.note(return_id, draft, resolve=False)

    def _place_lines(self, record: Sent, draft: Draft) -> None:
        existing = self._documents(draft.return_id)
        already_sent: set[str] = set()
        open_doc = None
        if existing:  # most new returns have none: nothing sent, nothing open, nothing to sort
            existing = sorted(existing, key=_by_sequence)
            already_sent = {item for doc in existing if doc.state in SENT for item in doc.item_ids}
            open_doc = next((doc for doc in existing if doc.state in UNSENT), None)
        if draft.withdraw:
            to_send = []
        elif already_sent:
            to_send = [line for line in draft.lines if line.item_id not in already_sent]
        else:  # nothing sent yet (most returns): every line, without a comprehension's function
            to_send = list(draft.lines)
        position = self.positions.get(draft.return_id)
        if position is not None and draft.decided:
            sequence = open_doc.sequence if open_doc else max(doc.sequence for doc in existing) + 1
            to_send = [line for line in to_send if line.item_id != DEDUCTION]
            judgment = judge(position, record, draft, to_send, sequence, self.routing)
            to_send += [judgment.adjustment] if judgment.adjustment is not None else []
            if position.known:  # the rules compared with what we would send now: this replaces it
                draft.problems = [p for p in draft.problems if p.kind != Kind.REFUND_CREDIT_DIFFERENCE or p.part]
            draft.problems += judgment.problems
            if any(p.kind.owner == Owner.FINANCE for p in judgment.problems):
                draft.process = False  # a flagged figure waits for a person
        if not to_send:
            if open_doc is not None:  # nothing left to send: withdraw it before Khaos pulls it
                self._set_state(open_doc, SUPERSEDED, hold_reason="")
            return
        if open_doc is None:
            sequence = existing[-1].sequence + 1 if existing else 1  # sorted by sequence above
            ref = associated_ref(draft.return_id, sequence)
            # Its values whole, in one dict: the columns that name it, then those set below.
            values: dict[str, object] = {
                "associated_ref": ref,
                "return_id": draft.return_id,
                "sequence": sequence,
                "created_at": self.moment,
            }
            open_doc = Document(ref, draft.return_id, sequence, HELD, [], values=values, new=True)
            self.documents[draft.return_id].append(open_doc)  # read by self._documents above
        open_doc.item_ids = sorted([line.item_id for line in to_send])
        hold_reason = draft.blocking_reason
        open_doc.body = {
            "body": khaos_documents.encode(draft.document(open_doc.associated_ref, to_send)),
            "lines": line_facts(to_send),
        }
        values = open_doc.values
        values["ruleset_hash"] = draft.ruleset_hash
        values["item_ids"] = item_ids_text(open_doc.item_ids)
        values["source_updated_at"] = str(record.get("updated_at", ""))
        values["currency"] = draft.currency
        if hold_reason:
            self._set_state(open_doc, HELD, hold_reason=hold_reason)
            self.counts.held += 1
        else:
            # The next place in the feed: after everything already there, so a
            # continuation Khaos holds can never have passed it.
            self._set_state(open_doc, PUBLISHED, hold_reason="", position=self.next_position)
            open_doc.values["published_at"] = self.moment
            self.next_position += 1
            self.counts.published += 1

    def _set_state(self, doc: Document, state: DocumentState, *, hold_reason: str, position: int | None = None) -> None:
        doc.state, doc.feed_position = (state if doc.new else check(doc.state, state)), position
        values = doc.values
        values["state"], values["feed_position"] = state, position
        values["hold_reason"], values["state_changed_at"] = hold_reason, self.moment

    def write(self) -> Counts:
        """Write the batch's returns, documents and exceptions to the store; the batch's counts."""
        conn = self.conn
        # Every new version (what the month-end close reads as of a date), then each return
        # pointing at its latest: a return whose record did not change keeps its version.
        ids = next_ids(conn, return_versions, len(self.new_versions))
        moment = self.moment
        versions = [
            {"id": id_, "return_id": return_id, "seen_at": moment, "record": record}
            for id_, (return_id, record) in zip(ids, self.new_versions, strict=True)
        ]
        insert_many(conn, return_versions, versions)
        for id_, (return_id, _) in zip(ids, self.new_versions, strict=True):  # a later version of a return wins
            self.return_writes[return_id]["version_id"] = id_
        rows = list(self.return_writes.values())
        insert_many(conn, reveni_returns, [r for r in rows if r["return_id"] not in self.stored_returns])
        update_many(conn, reveni_returns, "return_id", [r for r in rows if r["return_id"] in self.stored_returns])
        changed = [doc for docs in self.documents.values() for doc in docs if doc.values]
        new = [d for d in changed if d.new]
        for doc, id_ in zip(new, next_ids(conn, documents, len(new)), strict=True):
            doc.id = doc.values["id"] = id_
        # Every position given out here is past the feed's end, so no two rows ever clash.
        insert_many(conn, documents, [d.values for d in new])  # a new one's values name it whole
        update_many(
            conn,
            documents,
            "associated_ref",
            [{"associated_ref": d.associated_ref, **d.values} for d in changed if not d.new],
        )
        # A body goes to its own table (a pull then rewrites only the small rows), written
        # in this transaction with its document: never a document without its body.
        bodies = [(d.new, {"document_id": d.id, **d.body}) for d in changed if d.body is not None]
        insert_many(conn, document_bodies, [body for is_new, body in bodies if is_new])
        update_many(conn, document_bodies, "document_id", [body for is_new, body in bodies if not is_new])
        log = self.return_exceptions.log
        log.write(conn)
        self.counts.exceptions_opened, self.counts.exceptions_resolved = log.opened, log.resolved
        self.counts.exceptions_touched = log.touched
        return self.counts


def apply_returns(
    conn: Connection,
    entries: Sequence[tuple[Sent, Draft] | Entry],
    moment: datetime,
    *,
    force: bool = False,
    routing: Routing | None = None,
) -> Counts:
    """Apply a batch; `force` decides again even versions already decided (a replay).

    The feed's lock is held from the first read to the commit: a pull cannot land
    between reading a document's state and writing the decision made on it. The pulls'
    marks still pending are written first: every document Khaos was served is judged
    as served."""
    lock_feed(conn)
    settle(conn)
    batch = Batch(conn, entries, moment, force=force, routing=routing)
    for entry in batch.entries:
        batch.apply(entry)
    return batch.write()
