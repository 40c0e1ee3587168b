"""What a page reads from the whole store, read in a worker process: Khaos's pulls go on meanwhile.

The month-end close reads every return of its period; the exceptions lists, an exception's
proposed fixes and `/metrics` read every open exception. Read in the channel's own process,
they held its event loop (or, in a thread, Python's lock on the interpreter) for as long as
they took, and every pull Khaos made meanwhile waited: 5 s for a close of 50k returns, over
a minute for one of 500k (issue 22). Read in a worker process
(anyio's, kept between pages), they take another core, and a pull waits for none of it.

A store no other process can open (SQLite in memory) is read in a thread instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from anyio import BrokenWorkerProcess, to_process
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from target_khaos_control.store import open_store

T = TypeVar("T")

ENGINES_KEPT = 4  # a worker's stores open at once: a channel reads one; the tests' run many
_ENGINES: dict[str, Engine] = {}  # in the worker: each store opened once, by its URL


async def read_apart(engine: Engine, read: Callable[..., T], *args: object) -> T:
    """`read(engine, *args)` in a worker process, on its own connection to the same store
    (`read` and its arguments go by pickle: a function of a module, and plain values)."""
    if not _shared(engine.url):
        return await run_in_threadpool(read, engine, *args)
    url = engine.url.render_as_string(hide_password=False)
    try:
        return await to_process.run_sync(_read, url, read, *args)
    except BrokenWorkerProcess:  # it died (killed, out of memory), since its last page or in this one: once more, anew
        return await to_process.run_sync(_read, url, read, *args)


async def page_apart(engine: Engine, make: Callable[..., Response], *args: object) -> Response:
    """The page `make(engine, *args)` gives, made in a worker process: its status, headers
    and body come back, not what it was made from (a month's returns unpickled would hold
    the channel again)."""
    status, headers, body = await read_apart(engine, _made, make, *args)
    response = Response(body, status_code=status)
    response.raw_headers = headers  # the page's own: its type and length among them
    return response


def _made(engine: Engine, make: Callable[..., Response], *args: object) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    response = make(engine, *args)
    return response.status_code, response.raw_headers, bytes(response.body)


def _shared(url: sa.URL) -> bool:
    """Whether another process can open this store: any but SQLite in memory."""
    if url.get_backend_name() != "sqlite":
        return True
    return url.database not in (None, "", ":memory:") and url.query.get("mode") != "memory"


def _read(url: str, read: Callable[..., T], *args: object) -> T:
    """In the worker: `read` on this store's engine, opened at its first read."""
    engine = _ENGINES.get(url)
    if engine is None:
        if len(_ENGINES) >= ENGINES_KEPT:
            _ENGINES.pop(next(iter(_ENGINES))).dispose()  # the store opened first
        engine = _ENGINES[url] = open_store(url)
    return read(engine, *args)
