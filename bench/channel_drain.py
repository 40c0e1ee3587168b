"""Draining a feed of 1,000,000 documents over HTTP, as Khaos does, on SQLite and Postgres.

The store is built directly (bulk inserts, COPY on Postgres): published documents with
bodies of a realistic size and text: their customers are the demo's, so, as in the
returns a demo run writes, more than half the bodies carry names and addresses past ASCII
(José Núñez, Gdańsk, 山田; a sixth past Latin-1), which turning text into bytes costs
Python more than ASCII does (the ASCII-only bodies it had before flattered the channel).
Then a real `reveni-khaos serve` process is started on it and Khaos's pulls are played
over HTTP, 1,000 documents a pull, from a first contact with a datetime, each pull carrying on from the continuation the last one gave, to the end of
the feed. Prints the drain's time, and at that rate 1,000,000 documents' beside its goal
(issue 22: under 12 s); the pull latency p50, p95 and p99 (goal: p95 under 20 ms); the
channel's CPU a pull, the figure a busy machine moves least; and the work Khaos no longer
waits for, measured: how long after the drain's last pull the channel had written every
pull's served marks (served_marks.py), and the CPU that took. Then a target loads
50,000 returns (tap-reveni output, captured once) into the same store while Khaos keeps pulling, each
pull carrying on from the last one's and picking up what the target publishes: the pull
latency again (goal: p95 under 50 ms while a target loads). Last, the query plans of
what a pull runs, at the feed's middle (on Postgres run, with their buffers and WAL).

    .venv/bin/python bench/channel_drain.py [--documents 1000000] [--load 50000] [--sqlite-only]
"""

from __future__ import annotations

import argparse
import base64
import gc
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from reveni_khaos_sandbox.catalogue import CUSTOMERS
from sqlalchemy.engine import Engine
from target_khaos_control.batch_writes import insert_documents
from target_khaos_control.channel.feed_statements import PAGE_WITH_MARK
from target_khaos_control.khaos_documents import Address, CustomerReturnImport, max_lengths
from target_khaos_control.served_marks import pending
from target_khaos_control.store import open_store, without_parallel_workers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import figures
from bench.measure import Run, against, percentile, run_child
from bench.target_throughput import capture_tap
from tests.servers import BIN, PG_BIN, ChannelServer, PostgresServer, target_config

PULL = 1000
DRAIN_GOAL, P95_GOAL, LOADED_P95_GOAL = 12.0, 0.020, 0.050  # seconds
BODY_COLUMNS = ("body", "lines")  # what the store keeps on a document's body's row
FIRST_CONTACT = "2019-12-31 12:00:00Z"  # Khaos's first pull sends a datetime
MOMENT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
ADDRESS_LENGTHS = max_lengths(Address)


def body(n: int) -> str:
    """A CustomerReturn of about the size the rules write (two lines), its customer one of
    the demo's (the sandbox's, in turn): names and addresses as real returns carry them,
    7 customers of 12 with text past ASCII (Núñez, Gdańsk, 山田), kept as UTF-8 as the
    target writes them, never escaped."""
    customer = CUSTOMERS[n % len(CUSTOMERS)]
    line = {
        "SKU": f"SKU-{n % 977:05d}",
        "Mapping": [{"Mapping": "StockCode"}, {"Mapping": "Barcode"}],
        "Quantity": 1,
        "ReturnReason": {"ID": "1"},
        "SourceReference": {"SourceOrder": {"AssociatedRef": f"SO-{n}"}},
        "UnitPrice": {"Gross": 24.99},  # as the rules write it (a number)
    }
    return json.dumps(
        {
            "AssociatedRef": f"RV-ret{n:08d}",
            "CreatedDate": "2026-11-20T10:00:00",
            "URN": customer.urn,
            "InvoiceAddress": {
                "Line1": customer.line1[: ADDRESS_LENGTHS["Line1"]].rstrip(),  # cut to fit, as the rules do
                "Town": customer.city,
                "Country": {"Code": customer.country_code},
            },
            "InvoiceContact": {
                "Forename": customer.first_name,
                "Surname": customer.last_name,
                "Email": f"{customer.urn.lower()}@example.com",
            },
            "SalesSource": {"Name": "REVENI"},
            "Notes": f"Reveni return ret{n:08d} for order {n}, refund by original",  # ASCII, as the rules' notes are
            "ReturnedItems": [line, line],
            "ProcessReturn": True,
        },
        separators=(",", ":"),
        ensure_ascii=False,  # as msgspec writes the store's bodies: UTF-8, not \u escapes
    )


def columns() -> list[str]:
    """The `documents` columns each built row fills; the store's other columns keep their defaults."""
    return [name for name in next(rows(1)) if name not in BODY_COLUMNS]


def rows(count: int) -> Iterator[dict[str, object]]:
    for n in range(1, count + 1):
        yield {
            "associated_ref": f"RV-ret{n:08d}",
            "return_id": f"ret{n:08d}",
            "sequence": 1,
            "state": "published",
            "body": body(n),
            "item_ids": json.dumps([f"item{n}a", f"item{n}b"]),
            # What the target keeps on each document (khaos_position.line_facts), which a row marked served carries too.
            "lines": json.dumps(
                {
                    item: {"credit": "24.99", "disposition": "restock", "reason": "1"}
                    for item in (f"item{n}a", f"item{n}b")
                },
                sort_keys=True,
            ),
            "hold_reason": "",
            "source_updated_at": "2026-11-20T10:00:00Z",
            "feed_position": n,
            "created_at": MOMENT,
            "state_changed_at": MOMENT,
            "published_at": MOMENT,
            "first_served_at": None,
            "last_served_at": None,
            "ruleset_hash": f"{n % 7:064x}",  # a sha256, as the target writes
            "currency": "GBP",
        }


def build(engine: Engine, count: int) -> float:
    began = time.perf_counter()
    if engine.dialect.name == "postgresql":
        raw, names = engine.raw_connection(), columns()
        try:
            copying: Any = raw.cursor()  # psycopg's, with COPY, which the DB-API does not name
            # Each document's id is its number (a new store's), its body keyed by it; the sequence moved past them.
            with copying as cursor:
                with cursor.copy(f"COPY documents (id, {', '.join(names)}) FROM STDIN") as copy:
                    for n, row in enumerate(rows(count), 1):
                        copy.write_row([n, *(row[name] for name in names)])
                with cursor.copy(f"COPY document_bodies (document_id, {', '.join(BODY_COLUMNS)}) FROM STDIN") as copy:
                    for n, row in enumerate(rows(count), 1):
                        copy.write_row([n, *(row[name] for name in BODY_COLUMNS)])
                cursor.execute("SELECT setval(pg_get_serial_sequence('documents', 'id'), %s)", (count,))
            raw.commit()
        finally:
            raw.close()
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE documents")
            conn.exec_driver_sql("ANALYZE document_bodies")
    else:
        chunk: list[dict[str, object]] = []
        with engine.begin() as conn:
            for row in rows(count):
                chunk.append(row)
                if len(chunk) == 10_000:
                    insert_documents(conn, chunk)
                    chunk = []
            if chunk:
                insert_documents(conn, chunk)
            conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - began


class Khaos:
    """Khaos's pulls over HTTP, on one kept-alive connection: each carries on from the
    continuation the last one gave, and each answer is read whole, every document decoded
    into Khaos's definition of it (`CustomerReturnImport`), as Khaos reads it."""

    def __init__(self, channel: ChannelServer) -> None:
        self.path = "/khaos/returns.json"
        self.connection = http.client.HTTPConnection("127.0.0.1", channel.port, timeout=60)
        self.login = "Basic " + base64.b64encode(":".join(channel.auth).encode()).decode()
        self.continuation = FIRST_CONTACT
        self.times: list[float] = []
        self.carrying: list[float] = []  # the times of pulls that brought returns
        self.served = 0

    def get(self, continuation: str) -> tuple[bytes, str]:
        """One pull's answer, whole, and the continuation it gives."""
        self.connection.request(
            "GET", self.path, headers={"Sirion-Continuation": continuation, "Authorization": self.login}
        )
        response = self.connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise SystemExit(f"the channel answered {response.status}: {answer[:200]!r}")
        return answer, response.headers["Sirion-Continuation"]

    def pull(self) -> int:
        """One pull, timed from asking to the whole answer received; the returns in it."""
        started = time.perf_counter()
        answer, continuation = self.get(self.continuation)
        self.times.append(time.perf_counter() - started)
        # Read whole, as Khaos would: every document decoded into its definition (which
        # checks each one's shape), with msgspec, the project's JSON library.
        returns = len(READ.decode(answer).Returns)
        self.continuation = continuation
        self.served += returns
        if returns:
            self.carrying.append(self.times[-1])
        return returns

    def until(self, done: Callable[[], bool]) -> None:
        while not done():
            self.pull()


READ = msgspec.json.Decoder(CustomerReturnImport)


def process_cpu(pid: int) -> float:
    """The CPU seconds a process has spent, all its threads, user and system (Linux's /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu(server: PostgresServer | None) -> float:
    """The CPU seconds the Postgres server has spent: its postmaster and every process it
    started (the channel's connections' backends among them); 0 without a server."""
    if server is None:
        return 0.0
    postmaster, spent = int((server.data / "postmaster.pid").read_text().split()[0]), 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if postmaster in (int(entry.name), parent):
                    spent += process_cpu(int(entry.name))
            except (OSError, ValueError):  # a backend that ended meanwhile
                continue
    return spent


def latency(times: list[float]) -> str:
    p50, p95, p99 = (percentile(times, p) * 1000 for p in (50, 95, 99))
    return f"p50 {p50:5.1f} ms, p95 {p95:5.1f} ms, p99 {p99:5.1f} ms"


def drain(channel: ChannelServer) -> tuple[float, Khaos]:
    """Khaos's walk from first contact to the end of the feed, each pull but the last a
    whole page of the configured (and documented) size: a smaller one would flatter the figures."""
    khaos = Khaos(channel)
    sizes: list[int] = []
    # Khaos's side keeps no cycles (each answer is freed as the next comes): Python's cycle
    # collector, walking every decoded document again and again, would be a cost of this
    # bench's reader, not of reading (the target's command pauses it likewise).
    gc.collect()
    gc.disable()
    began = time.perf_counter()
    try:
        while sizes[-1:] != [0]:
            sizes.append(khaos.pull())
    finally:
        seconds = time.perf_counter() - began
        gc.enable()
    short = [n for n in sizes[:-2] if n != PULL]  # the feed's last page may be short, no other
    if short:
        raise SystemExit(f"the channel served pages of {sorted(set(short))} documents, not {PULL}")
    return seconds, khaos


def while_loading(channel: ChannelServer, config: Path, load: Path) -> tuple[Khaos, Run]:
    """Khaos pulling back to back, carrying on from the end of the feed, while a target loads `load`."""
    khaos, loaded = Khaos(channel), list[Run]()
    khaos.continuation = khaos.get(FIRST_CONTACT)[1]
    target = threading.Thread(
        target=lambda: loaded.append(run_child([str(BIN / "target-khaos-control"), "--config", str(config)], load))
    )
    target.start()
    khaos.until(lambda: not target.is_alive())
    target.join()
    if not loaded:
        raise SystemExit("target-khaos-control failed while Khaos pulled (see above)")
    return khaos, loaded[0]


def settling(url: str, channel: int, server: PostgresServer | None) -> tuple[float, float, float]:
    """How long after the drain's last pull every served mark was written (the channel
    writes them once Khaos stops pulling), and the CPU the channel and the Postgres server
    spent meanwhile: the drain's work that Khaos no longer waits for, measured, not left out."""
    began, cpu, database = time.perf_counter(), process_cpu(channel), postgres_cpu(server)
    engine = open_store(url)
    try:
        while True:
            with engine.connect() as conn:
                if not pending(conn):
                    break
            time.sleep(0.05)
    finally:
        engine.dispose()
    return time.perf_counter() - began, process_cpu(channel) - cpu, postgres_cpu(server) - database


def plans(engine: Engine, count: int) -> None:
    """What a pull runs, planned at the middle of the drained feed: on Postgres run too
    (EXPLAIN ANALYZE, with the buffers each touched and the WAL each wrote), then rolled back."""
    after = count // 2
    # Written with their numbers (whole numbers of this bench's own): plans as Postgres makes them for literals.
    queries: dict[str, tuple[str, dict[str, Any] | None]] = {
        "a pull's page": (
            "SELECT d.associated_ref, b.body, d.feed_position FROM documents d "  # noqa: S608
            "JOIN document_bodies b ON b.document_id = d.id WHERE d.state IN ('published', 'served', "
            f"'re_requested') AND d.feed_position > {after} ORDER BY d.feed_position LIMIT {PULL}",
            None,
        ),
        "first contact (the first never served, past the served stretch)": (
            f"SELECT min(feed_position) FROM documents WHERE feed_position > {after} AND state = 'published'",  # noqa: S608
            None,
        ),
    }
    # A pull's served marks, as served_marks.settle writes them once Khaos has stopped pulling.
    # The feed is drained: every document is served already, so a mark's WAL is less than a drain's.
    at = "'2026-11-20 10:00:00+00:00'"
    queries["its served marks, written after"] = (
        f"UPDATE documents SET last_served_at = {at}, first_served_at = coalesce(first_served_at, {at}), "  # noqa: S608
        f"state_changed_at = CASE WHEN state = 'published' THEN {at} ELSE state_changed_at END, "
        "state = CASE WHEN state = 'published' THEN 'served' ELSE state END "
        f"WHERE feed_position BETWEEN {after + 1} AND {after + PULL} AND state IN ('published', 'served', 're_requested')",
        None,
    )
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS, WAL) "
    if engine.dialect.name == "postgresql":  # as the channel's connections plan it: the page read ahead
        without_parallel_workers(engine)
        compiled = PAGE_WITH_MARK.params(after=after, limit=PULL).compile(
            dialect=engine.dialect, compile_kwargs={"literal_binds": True}
        )
        queries["the next page read ahead, with its snapshot"] = (str(compiled).replace("%", "%%"), None)
    with engine.connect() as conn:
        for what, (query, parameters) in queries.items():
            print(f"    plan, {what}:")
            for row in conn.exec_driver_sql(explain + query, parameters):
                print(f"      {row[-1]}")
            conn.rollback()  # what EXPLAIN ANALYZE marked is not kept, nor seen by the next one


def measure(
    name: str, url: str, count: int, work: Path, load: Path | None, server: PostgresServer | None = None
) -> None:
    engine = open_store(url)
    built = build(engine, count)
    engine.dispose()
    config = target_config(work, database_url=url, batch_size=PULL)
    channel = ChannelServer(config, work).start()
    try:
        assert channel.process is not None
        cpu, database = process_cpu(channel.process.pid), postgres_cpu(server)
        seconds, khaos = drain(channel)
        if khaos.served != count:
            raise SystemExit(f"Khaos was served {khaos.served:,} documents of the feed's {count:,}")
        cpu, database = process_cpu(channel.process.pid) - cpu, postgres_cpu(server) - database
        marks = settling(url, channel.process.pid, server)
        print(
            f"  {name}: {count:,} documents built in {built:.0f} s; drained {khaos.served:,} in {len(khaos.times)} pulls"
        )
        million = seconds * 1_000_000 / max(khaos.served, 1)
        print(f"    drain over HTTP {seconds:.2f} s: 1,000,000 at that rate {against(million, DRAIN_GOAL, ' s')}")
        figures.record(
            "channel_drain",
            "drain_1m",
            f"{name}: 1M drain over HTTP (at the rate of {khaos.served:,})",
            million,
            DRAIN_GOAL,
            " s",
        )
        p95 = percentile(khaos.times, 95) * 1000
        figures.record("channel_drain", "pull_p95", f"{name}: pull p95, alone", p95, P95_GOAL * 1000, " ms")
        pulls = len(khaos.times)
        print(
            f"    the channel's CPU: {cpu * 1000 / pulls:.1f} ms a pull (a busy machine moves it least)"
            + (f"; the Postgres server's: {database * 1000 / pulls:.1f} ms a pull" if server else "")
        )
        print(
            f"    the served marks, written once Khaos stopped (served_marks.py): all {marks[0]:.2f} s after the "
            f"drain's last pull; CPU {marks[1] * 1000 / pulls:.1f} ms a pull"
            + (f" (the Postgres server's {marks[2] * 1000 / pulls:.1f})" if server else "")
        )
        print(
            f"    of the drain, {sum(khaos.times):.2f} s waiting for the channel's answers (pull to whole answer "
            f"received), {seconds - sum(khaos.times):.2f} s Khaos's side (reading each answer's JSON)"
        )
        print(
            f"    pulls alone:          {latency(khaos.times)}; p95 {against(percentile(khaos.times, 95) * 1000, P95_GOAL * 1000, ' ms')}"
        )
        if load is not None:
            target_config_file = work / "target.json"
            target_config_file.write_text(json.dumps(config))
            during, run = while_loading(channel, target_config_file, load)
            print(
                f"    pulls while a target loads {load.stem.split('-')[-1]} returns ({run.wall:.1f} s, CPU {run.cpu:.1f} s): "
                f"{len(during.times)} pulls, {during.served:,} returns picked up; {latency(during.times)}"
            )
            loaded = percentile(during.times, 95) * 1000
            print(f"      p95 {against(loaded, LOADED_P95_GOAL * 1000, ' ms')}")
            figures.record(
                "channel_drain",
                "pull_p95_loading",
                f"{name}: pull p95 while a target loads {load.stem.split('-')[-1]}",
                loaded,
                LOADED_P95_GOAL * 1000,
                " ms",
            )
            if during.carrying:  # the pulls that brought what the target published (the rest found nothing new)
                print(f"      the {len(during.carrying)} pulls that brought returns: {latency(during.carrying)}")
    finally:
        channel.stop()
    engine = open_store(url)
    plans(engine, count)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=1_000_000, help="documents in the feed")
    parser.add_argument("--load", type=int, default=50_000, help="returns a target loads while Khaos pulls (0: none)")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-drain-"))
    load = capture_tap(args.load, work) if args.load else None
    print(f"channel over HTTP: a full drain of {args.documents:,} documents, {PULL:,} a pull")
    sqlite = work / "sqlite"
    sqlite.mkdir()
    measure("SQLite", f"sqlite:///{sqlite / 'store.db'}", args.documents, sqlite, load)
    (sqlite / "store.db").unlink()
    if args.sqlite_only or not (PG_BIN / "initdb").exists():
        print("  Postgres: skipped (no server binaries, or --sqlite-only)")
        return
    server = PostgresServer().start()
    try:
        postgres = work / "postgres"
        postgres.mkdir()
        measure("Postgres", server.url, args.documents, postgres, load, server)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
