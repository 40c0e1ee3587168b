"""`reveni-khaos replay` and `reveni-khaos reconcile`: the daily work around the pipeline.

Both show a progress bar when run on a terminal, and nothing extra when not."""

from __future__ import annotations

import gc
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from target_khaos_control.batch_writes import insert_many
from target_khaos_control.exception_log import RECONCILIATION, ExceptionLog, ExceptionRecord, Subject, as_record
from target_khaos_control.exception_routing import Routing
from target_khaos_control.operations import reconciliation
from target_khaos_control.publishing import apply_returns
from target_khaos_control.rules import Catalogue, load_ruleset
from target_khaos_control.run_log import finish_run, record_run, start_run
from target_khaos_control.served_marks import settled_first
from target_khaos_control.states import ExceptionStatus
from target_khaos_control.store import (
    chunks,
    credit_notes,
    exceptions,
    now,
    return_versions,
    returns_with_records,
    reveni_returns,
)

CREDIT_NOTES_CHUNK = 20_000  # credit notes a transaction: memory stays flat, and the store is not locked for all
REPLAY_CHUNK = 200  # returns per transaction: a pull during a replay waits for one chunk at most


def replay(
    engine: Engine, rules_path: str, *, ids: list[str], kinds: list[str], owners: list[str], out: TextIO = sys.stdout
) -> int:
    """Run open exceptions' returns through the current rules, without extracting again.

    The rules run outside any transaction, and their decisions are written REPLAY_CHUNK
    returns to a transaction, each holding the feed's lock only while it writes: Khaos's
    pulls go on during a replay of any size. Each return is decided whole in one chunk."""
    ruleset = load_ruleset(rules_path)
    table = exceptions.c
    query = sa.select(sa.distinct(table.return_id)).where(
        table.status == ExceptionStatus.OPEN, table.item_id != RECONCILIATION
    )
    if ids:
        query = query.where(table.return_id.in_(ids))
    if kinds:
        query = query.where(table.kind.in_(kinds))
    if owners:
        query = query.where(table.owner.in_(owners))
    with engine.connect() as conn:
        stored = set(
            conn.execute(sa.select(reveni_returns.c.return_id).where(reveni_returns.c.return_id.in_(ids))).scalars()
        )
        unknown = [i for i in ids if i not in stored]
        if unknown:
            raise ValueError(f"no Reveni return {', '.join(map(repr, unknown))} in the store: check the id")
        return_ids = list(conn.execute(query).scalars())
        before = _open(conn, return_ids)
        catalogue = Catalogue.read(conn)
    moment = now()
    with engine.begin() as conn:
        run_id = start_run(conn, "replay", moment)
    progress = _progress_bar(out, "Replaying")
    replayed = published = opened = resolved = 0
    for chunk in progress(list(chunks(return_ids, REPLAY_CHUNK))) if progress else chunks(return_ids, REPLAY_CHUNK):
        with engine.connect() as conn:
            query = (
                sa.select(return_versions.c.record)
                .select_from(returns_with_records)
                .where(reveni_returns.c.return_id.in_(chunk))
            )
            records = [json.loads(record) for record in conn.execute(query).scalars()]
        entries = [(record, ruleset.draft(record, catalogue)) for record in records]
        with engine.begin() as conn:
            applied = apply_returns(conn, entries, moment, force=True, routing=ruleset.routing)
        published, opened = published + applied.published, opened + applied.exceptions_opened
        resolved += applied.exceptions_resolved
        replayed += len(records)
    with engine.begin() as conn:
        after = _open(conn, return_ids)
        counts = {
            "returns": replayed,
            "published": published,
            "resolved": len(before - after),
            "still_open": len(after),
            "exceptions_opened": opened,
            "exceptions_resolved": resolved,
        }
        finish_run(conn, run_id, counts)
    print(
        f"Replayed {replayed} returns with rule set {ruleset.content_hash[:12]}: {published} "
        f"documents now go to Khaos, {opened} exceptions opened, {len(before - after)} exceptions "
        f"resolved, {len(after)} still open",
        file=out,
    )
    return 0


def _open(conn: Any, return_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(return_ids):
        query = sa.select(exceptions.c.trace_key).where(
            exceptions.c.status == ExceptionStatus.OPEN, exceptions.c.return_id.in_(chunk)
        )
        found |= set(conn.execute(query).scalars())
    return found


RECONCILE_MMAP = 1 << 32  # bytes of a SQLite store reconcile maps (capped at the build's limit, often 2 GB)


def run_reconciliation(
    engine: Engine,
    export: Path,
    *,
    columns: dict[str, str] | None,
    unconfirmed_hours: float,
    hold_days: int,
    routing: Routing,
    fmt: str,
    output: Path | None,
    tax_rates: dict[str, Decimal] | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Compare Khaos's credit-note export with Reveni's refunds: each gap an exception, and the report."""
    with _without_cycle_collection():
        read = reconciliation.read_export(export, columns)
        notes = read.notes
        moment = now()
        settled_first(engine)  # what Khaos was served, as of now
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":  # pages read from a mapping, not a read() call each: less system time
                conn.exec_driver_sql(f"PRAGMA mmap_size = {RECONCILE_MMAP}")
            report = reconciliation.reconcile(
                conn,
                notes,
                now=moment,
                unconfirmed_after=timedelta(hours=unconfirmed_hours),
                hold_days=hold_days,
                progress=_progress_bar(out, "Reconciling"),
                tax_rates=tax_rates,
                rejected=read.rejected,
                repeated=read.repeated,
            )
        keep_credit_notes(engine, notes, moment)
        with engine.begin() as conn:  # the gaps and the run that found them, together
            gaps = _record_gaps(conn, report, moment, routing)
            opened = {"exceptions_opened": gaps.opened, "exceptions_resolved": gaps.resolved}
            record_run(conn, "reconcile", moment, {**report.summary(), **opened})
        text = {"table": report.as_table, "csv": report.as_csv, "json": report.as_json}[fmt]()
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"Reconciliation written to {output}", file=out)
    else:
        print(text, file=out, end="")
    return 0


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """Python's cycle collector paused: a reconciliation makes millions of objects that live
    to its end (credit notes, gap lines), and each collection would walk them all again;
    reference counting still frees everything else as it goes."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def _record_gaps(conn: Any, report: reconciliation.Report, moment: Any, routing: Routing) -> ExceptionLog:
    """Each gap is an exception; a gap that closed since the last run is resolved."""
    table = exceptions.c
    known = dict(conn.execute(sa.select(table.trace_key, table.status).where(table.item_id == RECONCILIATION)).all())
    log = ExceptionLog(known, moment, routing)
    found = set()
    for line in report.returns:
        for kind, message in reconciliation.gap_problems(line):
            details = {
                "order_number": line.order_number,
                "currency": line.currency,
                "refunded": str(line.refunded),
                "credited": str(line.credited),
                "credit_notes": line.credit_notes,
            }
            found.add(log.raise_exception(kind, Subject.of_return(line.return_id, RECONCILIATION), message, details))
    for note in report.unknown_notes:
        found.add(
            log.raise_exception(
                reconciliation.UNKNOWN_REFERENCE,
                Subject(note.associated_ref, f"{note.code}:{RECONCILIATION}", item_id=RECONCILIATION),
                f"Khaos credit note {note.code} for {note.gross} {note.currency} names {note.associated_ref!r}, "
                "a reference this integration never sent",
                {"credit_notes": [note.code], "currency": note.currency, "credited": str(note.gross)},
            )
        )
    for key in set(known) - found:
        log.gone(key)
    log.write(conn)
    return log


def open_exceptions(engine: Engine, owner: str | None = None) -> list[ExceptionRecord]:
    """The open exceptions, one owner's or all, as records."""
    query = sa.select(exceptions).where(exceptions.c.status == ExceptionStatus.OPEN)
    if owner:
        query = query.where(exceptions.c.owner == owner)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(exceptions.c.owner, exceptions.c.kind, exceptions.c.trace_key))
        return [as_record(row) for row in rows]


def list_exceptions(engine: Engine, owner: str | None, fmt: str, out: TextIO = sys.stdout) -> int:
    """Print the open exceptions as a table or as JSON (`reveni-khaos exceptions`)."""
    records = open_exceptions(engine, owner)
    if fmt == "json":
        print(json.dumps(records, indent=2, ensure_ascii=False), file=out)
        return 0
    print(f"{'OWNER':<11} {'TYPE':<28} {'RETURN ID':<36} {'ORDER':<10} {'SKU':<16} WHAT HAPPENED", file=out)
    for record in records:
        print(
            f"{record['owner']:<11} {record['type']:<28} {record['return_id'] or '-':<36} "
            f"{record['order_number'] or '-':<10} {record['sku'] or '-':<16} {record['message']}",
            file=out,
        )
    print(f"{len(records)} open exception(s)", file=out)
    return 0


def _progress_bar(out: TextIO, what: str) -> Any:
    """A progress bar on a terminal (on standard error, so it never mixes with a report);
    nothing in a pipe, a log or a scheduled job."""
    if not (out.isatty() and sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return lambda rows: tqdm(rows, desc=what, unit=" returns", file=sys.stderr)


def keep_credit_notes(engine: Engine, notes: list[reconciliation.CreditNote], moment: Any) -> None:
    """The export's credit notes in the store (the return timeline and the close read them),
    committed CREDIT_NOTES_CHUNK at a time. On SQLite a write holds the store's one write
    lock: a million notes in one transaction held it 8 to 17 s, past the 10 s a pull or a
    sync's batch waits for it (issue 22). A note is kept by its code: an export kept again,
    or a run cut short and run again, keeps each note once."""
    unique = list({note.code: note for note in notes}.values())
    replaced = credit_notes.delete().where(credit_notes.c.code.in_(sa.bindparam("codes", expanding=True)))
    for some in chunks(unique, CREDIT_NOTES_CHUNK):
        rows = [
            {
                "code": n.code,
                "associated_ref": n.associated_ref,
                "gross": n.gross,
                "currency": n.currency,
                "date": n.date,
                "seen_at": moment,
                "net": n.net,
                "tax": n.tax,
            }
            for n in some
        ]
        with engine.begin() as conn:
            for codes in chunks([n.code for n in some]):
                conn.execute(replaced, {"codes": list(codes)})  # one statement built, its IN list bound per chunk
            insert_many(conn, credit_notes, rows)  # one executemany, without SQLAlchemy's per-row bookkeeping
