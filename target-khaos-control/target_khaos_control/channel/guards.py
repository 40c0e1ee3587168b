"""What every request meets before the channel: the limit on its request line and
headers, the access log, and the login.

Khaos understands only 200, 400 and 500 (its docs: "these can either be: 200 / 400 /
500"), so what is refused here on its paths (`/khaos/...`) is a 400 saying why; the
dashboard and `/metrics`, which Khaos never calls, answer 401, which a browser and
Prometheus need to ask for their login.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from urllib.parse import urlsplit

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

access = logging.getLogger("reveni_khaos.access")  # each call: method, path, status (uvicorn's own is off)
LONGEST_LOGGED_PATH = 80
OPEN_PATHS = frozenset({"/", "/healthz"})  # the landing page and the load balancers' health check: no secrets


class Edges:
    """What every request meets first. The request line and headers are held to
    `max_header_bytes` however they arrived (h11 caps only what comes in pieces); each
    call is logged as method, path (never whole) and status; and a redirect names a path
    only, never the host the client claimed (`Host: evil.example`)."""

    def __init__(self, app: ASGIApp, max_header_bytes: int) -> None:
        """Guard this app; a request line and headers longer than `max_header_bytes` are refused."""
        self.app, self.max_header_bytes = app, max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request if its headers are within the limit, and log method, path and status."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def send_checked(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    (name, _relative(value) if name.lower() == b"location" else value)
                    for name, value in message.get("headers", [])
                ]
            await send(message)

        size = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
        size += sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        try:
            if size > self.max_header_bytes:
                refusal = PlainTextResponse(f"request line and headers over {self.max_header_bytes} bytes", 400)
                await refusal(scope, receive, send_checked)
            else:
                await self.app(scope, receive, send_checked)
        finally:
            path, most = scope["path"], LONGEST_LOGGED_PATH
            shown = path if len(path) <= most else f"{path[:most]}... ({len(path)} characters)"
            access.info("%s %s %d", scope["method"][:10], shown, status)


def _relative(location: bytes) -> bytes:
    """`http://any.host/dashboard/` as `/dashboard/`."""
    parts = urlsplit(location.decode("latin-1"))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return path.encode("latin-1")


class BasicAuth:
    """HTTP Basic auth on every path, compared in constant time; the credentials are
    never logged. Each path prefix has its own login: Khaos's channel login opens the
    channel, and only the dashboard's opens the dashboard. Khaos understands only 200,
    400 and 500, so a refused login on its paths is a 400 saying so; the dashboard's is a
    401, which a browser needs to ask for the login. Two Authorization headers are
    refused: which one a proxy or server reads is anyone's guess."""

    def __init__(
        self,
        app: ASGIApp,
        logins: dict[str, tuple[str, str]],
        open_prefixes: tuple[str, ...] = (),
    ) -> None:
        """Guard this app with a login per path prefix; the `open_prefixes` need none."""
        self.app = app
        self.open_prefixes = open_prefixes  # the dashboard with no login set: it says so to anyone
        # Longest prefix first; an unset login (empty) lets nobody in.
        self.logins = sorted(
            (
                (prefix, f"{user}:{password}".encode() if user and password else None)
                for prefix, (user, password) in logins.items()
            ),
            key=lambda p: -len(p[0]),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request if its path is open or its login is right, else refuse it."""
        path = scope.get("path", "")
        opened = path in OPEN_PATHS or any(path == p or path.startswith(f"{p}/") for p in self.open_prefixes)
        if scope["type"] == "http" and not opened and not self._allowed(scope):
            if not scope["path"].startswith("/khaos/"):  # the dashboard, /metrics: people and Prometheus
                response = PlainTextResponse(
                    "Unauthorised: check the username and password",
                    status_code=401,
                    headers={"WWW-Authenticate": 'Basic realm="reveni-khaos"'},
                )
            else:
                response = PlainTextResponse(
                    "Unauthorised: check the channel's username and password set in Khaos (one Authorization header)",
                    status_code=400,
                )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        # `GET *` (an asterisk-form target) starts with no prefix: nobody is let in.
        expected = next((login for prefix, login in self.logins if scope["path"].startswith(prefix)), None)
        given_headers = [value for name, value in scope["headers"] if name.lower() == b"authorization"]
        if len(given_headers) != 1:
            return False
        header = given_headers[0]
        scheme, _, encoded = header.partition(b" ")
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            given = b""
        return expected is not None and scheme.lower() == b"basic" and hmac.compare_digest(given, expected)
