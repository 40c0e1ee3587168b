"""The channel Khaos Control Cloud talks to: it pulls returns, it pushes stock.

Every endpoint, the config file included, needs the channel's Basic auth (only the
landing page `/` and `/healthz`, which show nothing from the store, are open). Answers are
200, 400 (with the reason) or 500, the only codes Khaos understands; anything but 200
makes Khaos try again for ever, so every handler commits its work before it answers 200,
and nothing a client can send answers 500: what cannot be read is a 400 naming it, never
echoing more than a few dozen characters of it. Database work and parsing run in a
worker thread, so a 20 MB push never stalls a pull or the dashboard.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import msgspec
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from target_khaos_control.channel import feed, khaos_xml
from target_khaos_control.channel import pushes as khaos_pushes
from target_khaos_control.channel.dashboard import Dashboard
from target_khaos_control.channel.guards import BasicAuth, Edges
from target_khaos_control.channel.marks_settler import MarksSettler
from target_khaos_control.channel.metrics import Metrics
from target_khaos_control.channel.next_page import NextPage
from target_khaos_control.client_store import client_name
from target_khaos_control.exception_routing import Routing
from target_khaos_control.khaos_documents import (
    ConfigFile,
    CustomerReturnImport,
    Endpoint,
    EndpointConfig,
    ImportConfig,
    SalesOrderImport,
    decode,
    encode,
)
from target_khaos_control.settings import SOURCE_REFERENCE_FORMS, ChannelSettings
from target_khaos_control.store import now, without_parallel_workers

log = logging.getLogger("reveni_khaos.channel")
API_VERSION = 1000
FORMATS = ("JSON", "XML")
ORDER_DOWNLOAD_MINUTES = 1440  # the channel has no orders for Khaos: once a day is plenty
MAX_DEPTH = 32  # the deepest documented push is 7 levels
PUSHES: dict[
    str,
    tuple[str, str, Callable[[Engine, khaos_pushes.Body, datetime, khaos_pushes.Pause, Routing], khaos_pushes.Outcome]],
] = {
    # endpoint name in the config file: (our path, XML root element, how to keep it).
    # The XML roots are the docs' (README L1561, L1687, L1413).
    "StockUpload": ("/khaos/stock", "StockItems", khaos_pushes.save_stock_upload),
    "StockStatusUpload": ("/khaos/stock-status", "StockStatuses", khaos_pushes.save_stock_statuses),
    "OrderStatusUpload": ("/khaos/order-status", "OrderStatuses", khaos_pushes.save_order_statuses),
}


def _routing(rules_path: str) -> Routing:
    """The client's owners and severities (its rule set's `exceptions:`), for what the
    channel raises itself; the registry's defaults without a usable rule set."""
    if not rules_path:
        return Routing()
    from target_khaos_control.rules import RuleSetError, load_ruleset

    try:
        return load_ruleset(rules_path).routing
    except RuleSetError:
        log.warning("%s: the rule set is not usable; the channel's exceptions go to their default owners", rules_path)
        return Routing()


def source_reference(document: dict[str, Any], form: str) -> dict[str, Any]:
    """Each returned item's `SourceReference: {SourceOrder: {...}}` (the docs' table, as
    stored) in the configured form: the docs' examples' `SourceReturnReference` wrapper,
    or returns.php's flat `SourceReference: {SOrderID: ...}`."""
    if form == SOURCE_REFERENCE_FORMS[0]:
        return document
    for item in document.get("ReturnedItems") or []:
        reference = item.pop("SourceReference", None)
        if isinstance(reference, dict):
            if form == "SourceReference":
                item["SourceReference"] = reference.get("SourceOrder", reference)
            else:
                item["SourceReturnReference"] = reference
    return document


def shown(value: str, most: int = 40) -> str:
    """What a message may show of client input: never all of a long value."""
    return repr(value) if len(value) <= most else f"{value[:most]!r}... ({len(value)} characters)"


class BadRequest(Exception):
    """A call the channel refuses with a 400 and a message saying what is wrong."""


class PullsFirst:
    """SQLite takes one writer at a time and a 20 MB push writes for many seconds, chunk by
    chunk: between its chunks a push waits until no pull is under way, so a pull (which
    writes what it served) never waits longer than one chunk, nor times out."""

    def __init__(self) -> None:
        """No pull under way yet."""
        self.turn = threading.Condition()
        self.pulls = 0

    @contextmanager
    def pull(self) -> Iterator[None]:
        """Count a pull as under way while it runs, so a push waits between its chunks."""
        with self.turn:
            self.pulls += 1
        try:
            yield
        finally:
            with self.turn:
                self.pulls -= 1
                self.turn.notify_all()

    def between_chunks(self) -> None:
        """A push's pause between chunks: wait until no pull is under way (ten seconds at most)."""
        with self.turn:
            self.turn.wait_for(lambda: self.pulls == 0, timeout=10)


class Channel:
    """The channel Khaos pulls returns from and pushes stock and order statuses to, with its dashboard."""

    def __init__(self, engine: Engine, settings: ChannelSettings) -> None:
        """Serve this store with these settings, routing exceptions by the client's rules."""
        self.engine, self.settings = engine, settings
        without_parallel_workers(engine)  # a page read by two workers took 9 ms, by one 2 ms
        self.pulls_first = PullsFirst()
        self.routing = _routing(settings.rules_path)
        self.metrics = Metrics(engine, settings.client or client_name({"rules_path": settings.rules_path}))
        self.next_page = NextPage(engine)
        self.marks_settler = MarksSettler(engine)

    # --- what Khaos reads -------------------------------------------------------------

    async def config_file(self, request: Request) -> Response:
        """Khaos's EndpointConfig: where to pull returns and orders, and where to push, in JSON or XML."""
        fmt = _format(request)
        base = self.settings.public_url.rstrip("/")
        endpoints = EndpointConfig(
            # The docs mark OrderDownload required (README L161): an empty order feed.
            OrderDownload=Endpoint(
                URL=f"{base}/khaos/orders.{fmt.lower()}", Format=fmt, Frequency=ORDER_DOWNLOAD_MINUTES
            ),
            CReturnDownload=Endpoint(
                URL=f"{base}/khaos/returns.{fmt.lower()}", Format=fmt, Frequency=self.settings.pull_frequency_minutes
            ),
            **{name: Endpoint(URL=f"{base}{path}", Format=fmt) for name, (path, _, _) in PUSHES.items()},
        )
        if fmt == "XML":
            return Response(khaos_xml.render("EndpointConfig", endpoints), media_type="application/xml")
        return Response(encode(ConfigFile(EndpointConfig=endpoints)), media_type="application/json")

    async def orders(self, request: Request) -> Response:
        """No sales orders come from Reveni: always none, in the documented wrapper."""
        fmt = _format(request)
        document = SalesOrderImport(Orders=[], ApiVersion=API_VERSION)
        if fmt == "XML":
            return Response(khaos_xml.render("SalesOrderImport", document), media_type="application/xml")
        return Response(encode(document), media_type="application/json")

    async def returns(self, request: Request) -> Response:
        """The feed's next batch after Khaos's continuation, or the documents it asks for by SpecificIDs."""
        fmt = _format(request)
        if request.method == "HEAD":  # a probe: it would mark served what it never reads
            raise BadRequest("HEAD serves nothing here: Khaos pulls with GET; to check the channel, use /healthz")
        continuation = request.headers.get("sirion-continuation", "")
        specific = request.headers.get("specificids")
        started = time.perf_counter()
        answer = await run_in_threadpool(self._serve_returns, fmt, continuation, specific)
        self.metrics.observe_pull(time.perf_counter() - started)
        return answer

    def _serve_returns(self, fmt: str, continuation: str, specific: str | None) -> Response:
        try:
            with self.pulls_first.pull(), self.engine.begin() as conn:
                if specific is not None:
                    batch = feed.specific_batch(conn, feed.parse_specific_ids(specific), continuation, fmt, now())
                else:
                    batch = feed.next_batch(
                        conn, continuation, self.settings.batch_size, fmt, now(), self.routing, self.next_page
                    )
        except feed.ContinuationError as error:
            raise BadRequest(str(error)) from None
        if specific is None and batch.refs:  # logged with its marks pending
            self.marks_settler.pulled()
        # A whole page: Khaos pulls again at once, so the next page is read while it reads
        # this one. On SQLite the read is this process's CPU: once the answer is sent, not to
        # hold the GIL while it is being sent. Postgres reads it on its own core: from now,
        # while this answer is built and sent, so it is ready sooner.
        ahead = None
        if specific is None and len(batch.refs) == self.settings.batch_size:
            if self.engine.dialect.name == "postgresql":
                self.next_page.read_after(int(batch.continuation), self.settings.batch_size)
            else:
                ahead = BackgroundTask(self.next_page.read_after, int(batch.continuation), self.settings.batch_size)
        log.info(
            "served %d returns (%s, continuation %s -> %r%s)",
            len(batch.refs),
            fmt,
            shown(continuation),
            batch.continuation,
            ", SpecificIDs" if specific is not None else "",
        )
        headers = {"Sirion-Continuation": batch.continuation}
        config = ImportConfig(
            MatchAddressOn=self.settings.match_address_on, MatchContactOn=self.settings.match_contact_on
        )
        form = self.settings.source_reference_form
        if fmt == "XML":
            returns = [source_reference(decode(body), form) for body in batch.bodies]
            document = {"Returns": returns, "ApiVersion": API_VERSION, "Config": msgspec.to_builtins(config)}
            return Response(
                khaos_xml.render("CustomerReturnImport", document, CustomerReturnImport),
                media_type="application/xml",
                headers=headers,
                background=ahead,
            )
        # The stored documents are already JSON in the table's form: splice them in rather
        # than parse and re-dump, unless another form is wanted.
        bodies = batch.bodies
        if form != SOURCE_REFERENCE_FORMS[0]:
            bodies = [encode(source_reference(decode(body), form)) for body in bodies]
        tail = json.dumps({"ApiVersion": API_VERSION, "Config": msgspec.to_builtins(config)})[1:].encode()
        return Response(_joined(bodies, tail), media_type="application/json", headers=headers, background=ahead)

    # --- what Khaos pushes --------------------------------------------------------------

    def receiver(self, name: str) -> Callable[[Request], Awaitable[Response]]:
        """The endpoint for one of Khaos's pushes: read the body, keep what is valid, answer what was kept."""
        _, root, keep = PUSHES[name]

        def decode_and_keep(body: bytes, content_type: str) -> khaos_pushes.Outcome:
            data = _decode(body, root, content_type)
            try:
                return keep(self.engine, data, now(), self.pulls_first.between_chunks, self.routing)
            except khaos_pushes.PushError as error:
                raise BadRequest(f"{name}: {error}") from None

        async def receive(request: Request) -> Response:
            body = await self._body(request)
            outcome = await run_in_threadpool(decode_and_keep, body, request.headers.get("content-type", ""))
            if outcome.rejected:
                log.warning("%s: kept %d entries, rejected %d", name, outcome.kept, len(outcome.rejected))
            else:
                log.info("%s: kept %d entries", name, outcome.kept)
            return JSONResponse(outcome.json())

        return receive

    async def _body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length") or "0"
        if not declared.isascii() or not declared.isdigit() or len(declared) > 18 or int(declared) > limit:
            raise BadRequest(f"body larger than {limit} bytes, or a Content-Length that is not a number")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise BadRequest(f"body larger than {limit} bytes")
        return bytes(body)

    # --- the app ----------------------------------------------------------------------------

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(self.marks_settler.stop)  # the pulls' marks written before the channel ends

    def app(self) -> Starlette:
        """The channel's web app: Khaos's endpoints, /metrics and the dashboard, behind the login and limits."""
        routes = [
            *Dashboard.open_routes(self.engine, self.settings.public_url),
            Route("/khaos/config.{fmt:str}", self.config_file),
            Route("/khaos/orders.{fmt:str}", self.orders),
            Route("/khaos/returns.{fmt:str}", self.returns),
            Route("/metrics", self.metrics.endpoint),
        ]
        routes += [Route(path, self.receiver(name), methods=["POST"]) for name, (path, _, _) in PUSHES.items()]
        dashboard = bool(self.settings.dashboard_username and self.settings.dashboard_password)
        if dashboard:
            routes += Dashboard(self.engine, self.settings.rules_path, self.settings.dashboard_password).routes()
        else:
            routes += Dashboard.not_configured_routes()
        app = Starlette(
            routes=routes,
            exception_handlers={BadRequest: _bad_request, 404: _not_found, 405: _not_allowed, Exception: _failure},
            lifespan=self._lifespan,
        )
        logins = {
            "/dashboard": (self.settings.dashboard_username, self.settings.dashboard_password),
            # Prometheus scrapes with the dashboard's read-only login, never Khaos's.
            "/metrics": (self.settings.dashboard_username, self.settings.dashboard_password),
            "/": (self.settings.channel_username, self.settings.channel_password),
        }
        # No dashboard login: its pages say so to anyone, rather than ask for a login no one has.
        app.add_middleware(BasicAuth, logins=logins, open_prefixes=() if dashboard else ("/dashboard",))
        app.add_middleware(Edges, max_header_bytes=self.settings.max_header_bytes)  # outermost: before auth
        return app


def _joined(bodies: list[str] | list[bytes], tail: bytes) -> bytes:
    """The JSON answer's bytes: the bodies in `Returns`, then `tail`. Bytes are joined as
    they are; text in one join and one encode (each copy of a page, ~800 KB, is a fresh
    allocation, not free)."""
    if bodies and isinstance(bodies[0], str):
        return b"".join((b'{"Returns":[', ",".join(bodies).encode(), b"],", tail))
    return b"".join((b'{"Returns":[', b",".join(cast(list[bytes], bodies)), b"],", tail))


def _format(request: Request) -> str:
    """JSON or XML, from the path's extension; anything else is no endpoint of ours."""
    fmt = str(request.path_params["fmt"]).upper()
    if fmt not in FORMATS:
        raise BadRequest(f"No such endpoint: {shown(request.url.path)} (the channel speaks .json and .xml)")
    return fmt


def _decode(body: bytes, root: str, content_type: str) -> khaos_pushes.Body:
    if "xml" in content_type or body.lstrip().startswith(b"<"):
        try:
            return khaos_xml.parse(body, root)
        except khaos_xml.KhaosXmlError as error:
            raise BadRequest(str(error)) from None
    try:
        # NaN and Infinity parse as numbers, so that their entry alone is refused.
        data = json.loads(body, parse_float=Decimal, parse_constant=Decimal, parse_int=_whole_number)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadRequest(f"not valid JSON: {error}") from None
    except RecursionError:
        raise BadRequest(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    if not isinstance(data, dict):
        raise BadRequest("expected a JSON object")
    if _depth(data) > MAX_DEPTH:
        raise BadRequest(f"JSON nested deeper than {MAX_DEPTH} levels")
    return data


def _whole_number(digits: str) -> int | Decimal:
    """A whole number; past Python's limit for `int` (4,300 digits) a Decimal, which
    the entry's own check then refuses, rather than a failure of the whole push."""
    return int(digits) if len(digits) <= 4000 else Decimal(digits)


def _depth(value: object) -> int:
    """How deeply lists and objects nest, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack += [(child, depth + 1) for child in (node.values() if isinstance(node, dict) else node)]
    return deepest


async def _bad_request(request: Request, error: Exception) -> Response:
    log.warning("400 on %s: %s", shown(request.url.path, 80), error)
    return PlainTextResponse(str(error), status_code=400)


async def _not_found(request: Request, error: Exception) -> Response:
    return PlainTextResponse(f"No such endpoint: {shown(request.url.path)}", status_code=400)


async def _not_allowed(request: Request, error: Exception) -> Response:
    return PlainTextResponse(f"{shown(request.method)} is not allowed on {shown(request.url.path)}", status_code=400)


async def _failure(request: Request, error: Exception) -> Response:
    log.exception("500 on %s", shown(request.url.path, 80))
    return PlainTextResponse("The channel failed; Khaos will retry", status_code=500)
