"""Where a grown store's extra cost goes: the pages each of the store's B-trees writes a return.

The target's CPU a return into a grown SQLite store over a new one (target_throughput.py,
`grown_against_new`) is system time mostly: each commit writes every page it changed to the
write-ahead log (two writes: the frame's header, then the page), and a checkpoint reads it
back and writes it to the file. This counts those pages, B-tree by B-tree, for the same new
returns loaded by the real target command into a new store and into a copy of the grown one
(the bench's cached store): each page a commit wrote is one frame of the log. A read
transaction held on the store meanwhile keeps every frame of the run in the log to be
counted (no checkpoint can pass it; the count is the same with or without one).

A B-tree keyed by Reveni's return ids (random UUIDs) takes each new return at a random
place: once the tree is much larger than a batch, about one page a row inserted, whatever
the key's width. Such a tree in this table is marked `random`.

    .venv/bin/python bench/grown_store_pages.py [--grown 200000] [--load 10000]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from target_throughput import capture_tap, grown_store, load, migrated

WAL_HEADER, FRAME_HEADER = 32, 24
# The B-trees keyed by (or led by) a Reveni return id or a reference made from one.
RANDOM = {
    "sqlite_autoindex_reveni_returns_1": "reveni_returns.return_id",
    "sqlite_autoindex_documents_1": "documents.associated_ref",
    "sqlite_autoindex_exceptions_1": "exceptions.trace_key",
    "ix_exceptions_return_id": "exceptions.return_id",
}


def frames_by_tree(store: Path, stdin: Path) -> tuple[Counter[str], Counter[str]]:
    """Frames the target's run wrote to the log, and distinct pages (what a checkpoint copies), by B-tree."""
    pinned = sqlite3.connect(store / "store.db", isolation_level=None)
    pinned.execute("BEGIN")
    pinned.execute("SELECT count(*) FROM store_owner").fetchall()  # a read transaction from before the run
    load(store, stdin)
    pages = _logged_pages(store / "store.db-wal", pinned.execute("PRAGMA page_size").fetchone()[0])
    pinned.execute("COMMIT")
    owner = dict(pinned.execute("SELECT pageno, name FROM dbstat"))
    pinned.close()
    frames = Counter(owner.get(page, "(free)") for page in pages)
    distinct = Counter(owner.get(page, "(free)") for page in set(pages))
    return frames, distinct


def _logged_pages(wal: Path, page_size: int) -> list[int]:
    """The page number of each frame in the log, in order."""
    data = wal.read_bytes()
    step = FRAME_HEADER + page_size
    return [int.from_bytes(data[at : at + 4], "big") for at in range(WAL_HEADER, len(data) - step + 1, step)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grown", type=int, default=200_000, help="returns in the grown store (cached)")
    parser.add_argument("--load", type=int, default=10_000, help="new returns loaded into each store")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-grown-pages-"))
    grown = grown_store(args.grown, work)
    stdin = capture_tap(args.load, work, seed=8)  # returns the grown store has never seen
    copy = work / "grown"
    copy.mkdir()
    shutil.copy(grown / "store.db", copy / "store.db")
    new, new_distinct = frames_by_tree(migrated(work / "new"), stdin)
    old, old_distinct = frames_by_tree(migrated(copy), stdin)
    per = 1 / args.load
    print(
        f"pages written to the log a return, {args.load:,} new returns into a new store and into a "
        f"{args.grown:,}-return one; distinct pages (a checkpoint's copies) after the slash"
    )
    print(f"{'B-tree':40} {'new':>13} {'grown':>13} {'grown - new':>12}")
    for name, _ in (old + new).most_common():
        marked = f"{name} (random)" if name in RANDOM else name
        print(
            f"{marked:40} {new[name] * per:6.2f}/{new_distinct[name] * per:<6.2f} "
            f"{old[name] * per:6.2f}/{old_distinct[name] * per:<6.2f} {(old[name] - new[name]) * per:12.2f}"
        )
    total_new, total_old = sum(new.values()) * per, sum(old.values()) * per
    random_extra = sum(old[name] - new[name] for name in RANDOM) * per
    print(
        f"{'all':40} {total_new:6.2f}{'':7} {total_old:6.2f}{'':7} {total_old - total_new:12.2f}"
        f"\n  of the extra, the random-keyed B-trees: {random_extra:.2f} pages a return "
        f"({random_extra / (total_old - total_new):.0%})"
    )
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
