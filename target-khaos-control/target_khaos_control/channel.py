"""The channel Khaos Control Cloud talks to: it pulls returns, it pushes stock.

Every endpoint, the config file included, needs the channel's Basic auth. Answers are
200, 400 (with the reason) or 500, the only codes Khaos understands; anything but 200
makes Khaos try again, so every handler commits its work before it answers 200.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import simplejson
from sqlalchemy.engine import Connection, Engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from target_khaos_control import feed, khaos_pushes, khaos_xml
from target_khaos_control.dashboard import Dashboard
from target_khaos_control.settings import ChannelSettings
from target_khaos_control.store import now

log = logging.getLogger("reveni_khaos.channel")
API_VERSION = 1000
PUSHES: dict[str, tuple[str, str, Callable[[Connection, dict[str, Any], Any], int]]] = {
    # endpoint name in the config file: (our path, XML root element, how to keep it)
    "StockUpload": ("/khaos/stock", "StockUpload", khaos_pushes.save_stock_upload),
    "StockStatusUpload": ("/khaos/stock-status", "StockStatuses", khaos_pushes.save_stock_statuses),
    "OrderStatusUpload": ("/khaos/order-status", "OrderStatuses", khaos_pushes.save_order_statuses),
}


class BadRequest(Exception):
    pass


class Channel:
    def __init__(self, engine: Engine, settings: ChannelSettings) -> None:
        self.engine, self.settings = engine, settings

    # --- what Khaos reads -------------------------------------------------------------

    async def config_file(self, request: Request) -> Response:
        fmt = request.path_params["fmt"].upper()
        base = self.settings.public_url.rstrip("/")
        endpoints: dict[str, Any] = {
            "CReturnDownload": {
                "URL": f"{base}/khaos/returns.{fmt.lower()}",
                "Format": fmt,
                "Frequency": self.settings.pull_frequency_minutes,
            },
        }
        for name, (path, _, _) in PUSHES.items():
            endpoints[name] = {"URL": f"{base}{path}", "Format": fmt}
        if fmt == "XML":
            return Response(khaos_xml.render("EndpointConfig", endpoints), media_type="application/xml")
        return JSONResponse({"EndpointConfig": endpoints})

    async def returns(self, request: Request) -> Response:
        fmt = request.path_params["fmt"].upper()
        continuation = request.headers.get("sirion-continuation", "")
        specific = request.headers.get("specificids")
        try:
            with self.engine.begin() as conn:
                if specific is not None:
                    batch = feed.specific_batch(conn, feed.parse_specific_ids(specific), continuation, fmt, now())
                else:
                    batch = feed.next_batch(conn, continuation, self.settings.batch_size, fmt, now())
        except feed.ContinuationError as error:
            raise BadRequest(str(error)) from None
        log.info(
            "served %d returns (%s, continuation %r -> %r%s)",
            len(batch.refs),
            fmt,
            continuation,
            batch.continuation,
            ", SpecificIDs" if specific is not None else "",
        )
        headers = {"Sirion-Continuation": batch.continuation}
        config = {"MatchAddressOn": self.settings.match_address_on, "MatchContactOn": self.settings.match_contact_on}
        if fmt == "XML":
            returns = [simplejson.loads(body, use_decimal=True) for body in batch.bodies]
            document = {"Returns": returns, "ApiVersion": API_VERSION, "Config": config}
            return Response(
                khaos_xml.render("CustomerReturnImport", document), media_type="application/xml", headers=headers
            )
        # The stored documents are already JSON: splice them in rather than parse and re-dump.
        tail = json.dumps({"ApiVersion": API_VERSION, "Config": config})[1:]
        body = '{"Returns":[' + ",".join(batch.bodies) + "]," + tail
        return Response(body.encode(), media_type="application/json", headers=headers)

    # --- what Khaos pushes --------------------------------------------------------------

    def receiver(self, name: str) -> Callable[[Request], Awaitable[Response]]:
        _, root, keep = PUSHES[name]

        async def receive(request: Request) -> Response:
            body = await self._body(request)
            data = self._decode(body, root, request.headers.get("content-type", ""))
            try:
                with self.engine.begin() as conn:
                    count = keep(conn, data, now())
            except khaos_pushes.PushError as error:
                raise BadRequest(f"{name}: {error}") from None
            log.info("%s: kept %d entries", name, count)
            return JSONResponse({"received": count})

        return receive

    async def _body(self, request: Request) -> bytes:
        limit = self.settings.max_body_bytes
        if int(request.headers.get("content-length") or 0) > limit:
            raise BadRequest(f"body larger than {limit} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise BadRequest(f"body larger than {limit} bytes")
        return bytes(body)

    @staticmethod
    def _decode(body: bytes, root: str, content_type: str) -> dict[str, Any]:
        if "xml" in content_type or body.lstrip().startswith(b"<"):
            try:
                return khaos_xml.parse(body, root)
            except khaos_xml.KhaosXmlError as error:
                raise BadRequest(str(error)) from None
        try:
            data = json.loads(body, parse_float=Decimal)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BadRequest(f"not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise BadRequest("expected a JSON object")
        return data

    # --- the app ----------------------------------------------------------------------------

    def app(self) -> Starlette:
        routes = [
            Route("/khaos/config.{fmt:str}", self.config_file),
            Route("/khaos/returns.{fmt:str}", self.returns),
        ]
        routes += [Route(path, self.receiver(name), methods=["POST"]) for name, (path, _, _) in PUSHES.items()]
        if self.settings.dashboard_username and self.settings.dashboard_password:
            routes += Dashboard(self.engine).routes()
        app = Starlette(
            routes=routes,
            exception_handlers={BadRequest: _bad_request, 404: _not_found, 405: _not_allowed, Exception: _failure},
        )
        logins = {
            "/dashboard": (self.settings.dashboard_username, self.settings.dashboard_password),
            "/": (self.settings.channel_username, self.settings.channel_password),
        }
        app.add_middleware(BasicAuth, logins=logins)
        return app


class BasicAuth:
    """HTTP Basic auth on every path, compared in constant time; the credentials are
    never logged. Each path prefix has its own login: Khaos's channel login opens the
    channel, and only the dashboard's opens the dashboard."""

    def __init__(self, app: Callable[..., Awaitable[None]], logins: dict[str, tuple[str, str]]) -> None:
        self.app = app
        # Longest prefix first; an unset login (empty) lets nobody in.
        self.logins = sorted(
            (
                (prefix, f"{user}:{password}".encode() if user and password else None)
                for prefix, (user, password) in logins.items()
            ),
            key=lambda p: -len(p[0]),
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self._allowed(scope):
            response = PlainTextResponse(
                "Unauthorised: check the username and password",
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="reveni-khaos"'},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: dict[str, Any]) -> bool:
        expected = next(login for prefix, login in self.logins if scope["path"].startswith(prefix))
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, encoded = header.partition(b" ")
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            given = b""
        return expected is not None and scheme.lower() == b"basic" and hmac.compare_digest(given, expected)


async def _bad_request(request: Request, error: Exception) -> Response:
    log.warning("400 on %s: %s", request.url.path, error)
    return PlainTextResponse(str(error), status_code=400)


async def _not_found(request: Request, error: Exception) -> Response:
    return PlainTextResponse(f"No such endpoint: {request.url.path}", status_code=400)


async def _not_allowed(request: Request, error: Exception) -> Response:
    return PlainTextResponse(f"{request.method} is not allowed on {request.url.path}", status_code=400)


async def _failure(request: Request, error: Exception) -> Response:
    log.exception("500 on %s", request.url.path)
    return PlainTextResponse("The channel failed; Khaos will retry", status_code=500)
