"""A local server that acts as Khaos Control Cloud towards a channel, with an admin API
under `/_sandbox/` that does what a Khaos user would (`khaos_user`): link the channel,
pull returns, retry failed imports, process a return, rename a stock code, export credit
notes; and, as KCC does, a pull on its own clock.

Work that talks to the channel runs in a worker thread, one operation at a time (a lock),
so the event loop stays free and the in-memory Khaos is never changed by two at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reveni_khaos_sandbox.khaos_channel_client import ChannelClient
from reveni_khaos_sandbox.khaos_channel_config import ChannelError
from reveni_khaos_sandbox.khaos_data import (
    credit_note_json,
    customer_json,
    load_master_data,
    order_json,
    pulled_json,
    reason_json,
    stock_json,
)
from reveni_khaos_sandbox.khaos_model import Khaos
from reveni_khaos_sandbox.khaos_records import Conflict, Invalid, NotFound
from reveni_khaos_sandbox.khaos_user import KhaosUser
from reveni_khaos_sandbox.refusals import RequestError, detail

DEFAULT_POLL_MINUTES = 5.0
log = logging.getLogger("khaos_sandbox")
T = TypeVar("T")


class KhaosSandbox(KhaosUser):
    def __init__(
        self,
        khaos: Khaos,
        client: ChannelClient,
        *,
        auto_poll: bool = True,
        max_pulls: int = 1000,
        minute_seconds: float = 60.0,
    ) -> None:
        super().__init__(khaos, client, max_pulls=max_pulls)
        self.auto_poll = auto_poll
        self.minute_seconds = minute_seconds  # how long a minute of Khaos's clock lasts: 60, or less to test
        self.lock = threading.RLock()

    # --- routes ------------------------------------------------------------------------

    async def _locked(self, work: Callable[[], T]) -> T:
        def run() -> T:
            with self.lock:
                return work()

        return await run_in_threadpool(run)

    async def health(self, request: Request) -> Response:
        def count() -> dict[str, Any]:
            khaos = self.khaos
            return {
                "customers": len(khaos.customers),
                "stock_items": len(khaos.stock),
                "sales_orders": len(khaos.orders),
                "returns_pulled": len(khaos.pulled),
                "credit_notes": len(khaos.credit_notes),
                "channel_config_url": self.client.config_url,
                "auto_poll": self.auto_poll,
            }

        return JSONResponse(await self._locked(count))

    async def channel(self, request: Request) -> Response:
        if request.method == "POST":
            body = await _json_body(request)
            url = body.get("config_url")
            if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                raise RequestError(400, "config_url: an http(s) URL is required.")
            for name in ("username", "password"):
                if not isinstance(body.get(name, ""), str):
                    raise RequestError(400, f"{name}: must be text.")
            await self._locked(lambda: self.client.set_channel(url, body.get("username", ""), body.get("password", "")))
        client = self.client
        return JSONResponse(
            {
                "config_url": client.config_url,
                "username": client.username,
                "endpoints": {name: endpoint.json() for name, endpoint in client.endpoints.items()},
                "continuation": client.continuation,
            }
        )

    async def link_route(self, request: Request) -> Response:
        return JSONResponse(await self._locked(self.link))

    async def poll_route(self, request: Request) -> Response:
        return JSONResponse(await self._locked(self.poll))

    async def retry_route(self, request: Request) -> Response:
        body = await _json_body(request, optional=True)
        refs = body.get("refs")
        if refs is not None and (
            not isinstance(refs, list) or not all(isinstance(ref, str) and ref and "," not in ref for ref in refs)
        ):
            raise RequestError(400, "refs: a list of AssociatedRefs (text without commas) is required.")
        return JSONResponse(await self._locked(lambda: self.retry(refs)))

    async def process_route(self, request: Request) -> Response:
        ref = request.path_params["ref"]
        return JSONResponse(await self._locked(lambda: self.process(ref)))

    async def rename_route(self, request: Request) -> Response:
        code = (await _json_body(request)).get("stock_code")
        if not isinstance(code, str) or not code.strip():
            raise RequestError(400, "stock_code: the new stock code is required, as text.")
        stock_id = request.path_params["stock_id"]
        return JSONResponse(await self._locked(lambda: self.rename(stock_id, code.strip())))

    async def load(self, request: Request) -> Response:
        body = await _json_body(request)
        await self._locked(lambda: load_master_data(body, self.khaos))
        return await self.health(request)

    async def returns(self, request: Request) -> Response:
        return JSONResponse(await self._locked(lambda: [pulled_json(r) for r in self.khaos.pulled.values()]))

    async def credit_notes(self, request: Request) -> Response:
        return JSONResponse(await self._locked(lambda: [credit_note_json(n) for n in self.khaos.credit_notes]))

    async def credit_notes_csv(self, request: Request) -> Response:
        """The export a finance user would take into a spreadsheet."""
        return Response(await self._locked(self.export_credit_notes), media_type="text/csv; charset=utf-8")

    async def stock(self, request: Request) -> Response:
        return JSONResponse(await self._locked(lambda: [stock_json(i, self.khaos) for i in self.khaos.stock.values()]))

    async def orders(self, request: Request) -> Response:
        return JSONResponse(await self._locked(lambda: [order_json(o, self.khaos) for o in self.khaos.orders.values()]))

    async def customers(self, request: Request) -> Response:
        return JSONResponse(await self._locked(lambda: [customer_json(c) for c in self.khaos.customers.values()]))

    async def reasons(self, request: Request) -> Response:
        return JSONResponse(await self._locked(lambda: [reason_json(r) for r in self.khaos.reasons]))

    async def pulls(self, request: Request) -> Response:
        return JSONResponse(await self._locked(lambda: [pull.json() for pull in self.client.pulls]))

    async def pushes(self, request: Request) -> Response:
        return JSONResponse(await self._locked(lambda: list(self.client.pushes)))

    # --- automatic polling -------------------------------------------------------------

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(self._poll_forever()) if self.auto_poll else None
        yield
        if task is not None:
            task.cancel()

    async def _poll_forever(self) -> None:
        """One pull every CReturnDownload Frequency minutes of Khaos's clock, as KCC does,
        once a channel is set; a failed pull is made again next time, with the same
        continuation. The frequency is looked at each tick, so a newly read config takes
        effect at once."""
        tick = min(1.0, self.minute_seconds)
        waited = 0.0
        while True:
            await asyncio.sleep(tick)
            waited += tick
            endpoint = self.client.endpoints.get("CReturnDownload")
            minutes = endpoint.frequency_minutes if endpoint and endpoint.frequency_minutes else DEFAULT_POLL_MINUTES
            if waited < minutes * self.minute_seconds or not self.client.config_url:
                continue
            waited = 0
            try:
                summary = await self._locked(self.pull_once)
                log.info("auto pull: %d returns, errors %s", summary["returns"], summary["errors"])
            except Exception:
                log.exception("auto pull failed")  # and try again next time, as KCC would

    async def faults_route(self, request: Request) -> Response:
        """`{"lose_answers": n}`: drop the channel's next n 200s after it committed."""
        body = await _json_body(request)
        lose = body.get("lose_answers", 0)
        if isinstance(lose, bool) or not isinstance(lose, int) or lose < 0:
            raise RequestError(400, "lose_answers: a whole number of 0 or more is required.")

        def set_faults() -> dict[str, Any]:
            self.client.lose_answers = lose
            return {"lose_answers": lose}

        return JSONResponse(await self._locked(set_faults))

    def app(self) -> Starlette:
        routes = [
            Route("/_sandbox/health", self.health),
            Route("/_sandbox/channel", self.channel, methods=["GET", "POST"]),
            Route("/_sandbox/link", self.link_route, methods=["POST"]),
            Route("/_sandbox/poll", self.poll_route, methods=["POST"]),
            Route("/_sandbox/retry", self.retry_route, methods=["POST"]),
            Route("/_sandbox/returns", self.returns),
            Route("/_sandbox/returns/{ref}/process", self.process_route, methods=["POST"]),
            Route("/_sandbox/stock", self.stock),
            Route("/_sandbox/stock/{stock_id}/rename", self.rename_route, methods=["POST"]),
            Route("/_sandbox/credit-notes.json", self.credit_notes),
            Route("/_sandbox/credit-notes.csv", self.credit_notes_csv),
            Route("/_sandbox/orders", self.orders),
            Route("/_sandbox/customers", self.customers),
            Route("/_sandbox/reasons", self.reasons),
            Route("/_sandbox/pulls", self.pulls),
            Route("/_sandbox/pushes", self.pushes),
            Route("/_sandbox/load", self.load, methods=["POST"]),
            Route("/_sandbox/faults", self.faults_route, methods=["POST"]),
        ]
        return Starlette(
            routes=routes,
            lifespan=self.lifespan,
            exception_handlers={
                RequestError: lambda _, e: detail(e.status, e.text),
                NotFound: lambda _, e: detail(404, str(e)),
                Conflict: lambda _, e: detail(409, str(e)),
                Invalid: lambda _, e: detail(400, str(e)),
                # The channel, not this request, is at fault: a gateway error.
                ChannelError: lambda _, e: detail(502, str(e)),
                HTTPException: lambda _, e: detail(e.status_code, _http_detail(e)),
            },
        )


def _http_detail(error: HTTPException) -> str:
    return {404: "Not found.", 405: "Method not allowed."}.get(error.status_code, error.detail)


async def _json_body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    raw = await request.body()
    if optional and not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise RequestError(400, f"The body is not valid JSON: {error}.") from None
    if not isinstance(body, dict):
        raise RequestError(400, "The body must be a JSON object.")
    return body
