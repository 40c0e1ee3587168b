"""Fault injection for the sandboxes: so reliability is tested, not hoped for.

An ASGI middleware in front of the API routes (never the `/_sandbox/` admin routes)
adds latency, answers 429 with `Retry-After`, answers 5xx, breaks connections
mid-response, or stalls past a client's timeout, on a schedule set by flags or by
`POST /_sandbox/faults`.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, fields
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass
class Faults:
    latency_ms: int = 0  # added to every API request
    rate_limit_every: int = 0  # every k-th API request answers 429 (0: never)
    retry_after_seconds: int = 1  # the Retry-After those 429s carry
    error_every: int = 0  # every k-th API request answers `error_status` (0: never)
    error_rate: float = 0.0  # or this share of API requests, at random
    error_status: int = 503
    outage_after_requests: int = 0  # every API request after the first N answers `error_status` (0: never)
    drop_rate: float = 0.0  # share of API requests whose connection breaks mid-response
    stall_rate: float = 0.0  # share of API requests that hang for `stall_seconds`
    stall_seconds: float = 30.0
    fault_seed: int = 0  # for the random shares, so a failing run can be repeated

    def update(self, changes: dict[str, Any]) -> None:
        """Apply `changes`, all or nothing; a bad name or value raises ValueError naming it."""
        known = {f.name: f.type for f in fields(self)}
        staged = asdict(self)
        for name, value in changes.items():
            if name not in known:
                msg = f"unknown fault setting {name!r}; known: {', '.join(sorted(known))}"
                raise ValueError(msg)
            kind = float if known[name] == "float" else int
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                msg = f"fault setting {name!r} must be a number >= 0, got {value!r}"
                raise ValueError(msg)
            if name.endswith("_rate") and value > 1:
                msg = f"fault setting {name!r} is a share between 0 and 1, got {value!r}"
                raise ValueError(msg)
            staged[name] = kind(value)
        for name, value in staged.items():
            setattr(self, name, value)


class FaultInjector:
    """Decides, request by request, which fault (if any) to inject."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self.stats: Counter[str] = Counter()
        self._random = random.Random(self.faults.fault_seed)

    def configure(self, changes: dict[str, Any]) -> None:
        self.faults.update(changes)
        self._random = random.Random(self.faults.fault_seed)

    def reset(self) -> None:
        self.faults = Faults()
        self.stats.clear()
        self._random = random.Random(0)

    def choose(self) -> str | None:
        self.stats["requests"] += 1
        n, f = self.stats["requests"], self.faults
        if f.rate_limit_every and n % f.rate_limit_every == 0:
            return "rate_limited"
        if f.outage_after_requests and n > f.outage_after_requests:
            return "server_error"
        if (f.error_every and n % f.error_every == 0) or self._random.random() < f.error_rate:
            return "server_error"
        if self._random.random() < f.drop_rate:
            return "dropped"
        if self._random.random() < f.stall_rate:
            return "stalled"
        return None


class FaultMiddleware:
    def __init__(self, app: ASGIApp, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox/"):
            await self.app(scope, receive, send)
            return
        faults = self.injector.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        fault = self.injector.choose()
        if fault is not None:
            self.injector.stats[fault] += 1
        if fault == "rate_limited":
            retry_after = str(faults.retry_after_seconds)
            await _respond(send, 429, {"detail": "Request was throttled."}, [(b"retry-after", retry_after.encode())])
        elif fault == "server_error":
            await _respond(send, faults.error_status, {"detail": "Sandbox injected a server error."})
        elif fault == "dropped":
            # Promise a body and send half of it: the client sees the connection break.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"count": ', "more_body": False})
        elif fault == "stalled":
            await asyncio.sleep(faults.stall_seconds)
            await _respond(send, 504, {"detail": "Sandbox stalled this request."})
        else:
            await self.app(scope, receive, send)


async def _respond(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
