"""What a person does on the dashboard: assign an exception, resolve it with a note.

The browser sends the dashboard's Basic-auth login with any request, a forged one from
another site included, so every form carries a token only the dashboard can make: an
HMAC, keyed by the dashboard's password, of the login and when the page was made. A post
without a valid token from the last 12 hours changes nothing. Each action is written to
the store's audit trail (`exception_actions`) with the login and the name given.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from datetime import datetime
from typing import TypedDict
from urllib.parse import parse_qs, quote

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from target_khaos_control.channel.pages import refused
from target_khaos_control.exception_actions import ActionRefused, assign, resolve
from target_khaos_control.store import now

TOKEN_HOURS = 12  # a form older than this is refused: open the page again
FORM_BYTES = 16_384  # a note of 2,000 characters, encoded, fits many times


class Who(TypedDict):
    """Who acts on an exception from the dashboard, and when."""

    login: str
    person: str
    moment: datetime


class Forms:
    """The dashboard's forms: their tokens, and the two actions they post."""

    def __init__(self, engine: Engine, password: str) -> None:
        """The forms of this store; their tokens are signed with a key made from the password."""
        self.engine = engine
        self.key = hashlib.sha256(b"reveni-khaos dashboard forms\0" + password.encode()).digest()

    def token(self, who: str, at: int | None = None) -> str:
        """A token for the forms of a page shown to this login now (or `at`, in seconds)."""
        issued = int(time.time()) if at is None else at
        return f"{issued}.{self._mac(who, issued)}"

    def valid(self, request: Request, token: str) -> bool:
        """True for a token this dashboard made for this login in the last TOKEN_HOURS."""
        issued, _, mac = token.partition(".")
        if not issued.isascii() or not issued.isdigit() or len(issued) > 12:
            return False
        age = time.time() - int(issued)
        fresh = -60 <= age <= TOKEN_HOURS * 3600
        return fresh and hmac.compare_digest(mac, self._mac(login(request), int(issued)))

    async def assign(self, request: Request) -> Response:
        """Assign an exception to a person, as the form posted."""
        return await self._act(request, "assigned")

    async def resolve(self, request: Request) -> Response:
        """Resolve an exception by hand, with the note the form gives of what was done."""
        return await self._act(request, "resolved")

    async def _act(self, request: Request, done: str) -> Response:
        fields = await _form(request)
        if fields is None:
            return refused(f"Send the form from the dashboard (at most {FORM_BYTES} bytes).")
        if not self.valid(request, fields.get("csrf", "")):
            return refused(
                "This form is out of date or did not come from the dashboard: nothing was changed. "
                "Open the exception again and send the form from there.",
                status_code=403,
            )
        key = fields.get("key", "")
        who: Who = {"login": login(request), "person": fields.get("by", ""), "moment": now()}
        try:
            await run_in_threadpool(self._write, done, key, fields, who)
        except ActionRefused as error:
            return refused(f"Nothing was changed: {error}")
        # Post, then redirect, then get: a reload never sends the form twice.
        return RedirectResponse(f"/dashboard/exception?key={quote(key, safe='')}&done={done}", status_code=303)

    def _write(self, done: str, key: str, fields: dict[str, str], who: Who) -> None:
        with self.engine.begin() as conn:
            if done == "assigned":
                assign(conn, key, to=fields.get("to", ""), **who)
            else:
                resolve(conn, key, note=fields.get("note", ""), **who)

    def _mac(self, who: str, issued: int) -> str:
        return hmac.new(self.key, f"{who}\0{issued}".encode(), hashlib.sha256).hexdigest()


def login(request: Request) -> str:
    """The dashboard login of this request (the middleware has checked its password)."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    try:
        given = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, ValueError):
        return ""
    return given.partition(":")[0] if scheme.lower() == "basic" else ""


async def _form(request: Request) -> dict[str, str] | None:
    """An urlencoded form's fields (the first of each), or None for anything else."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_BYTES:
            return None
    try:
        fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=10, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in fields.items()}
