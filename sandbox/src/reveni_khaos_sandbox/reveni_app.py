"""A local server that speaks the Reveni merchant API (`shared/spec/reveni-api.md`).

Every error is `{"detail": ...}`, as Reveni's are. Admin routes under `/_sandbox/` let
a test load returns, change one, and inject faults; they need no key.
"""

from __future__ import annotations

import copy
import hmac
import json
import logging
import time
import urllib.request
import uuid
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from reveni_khaos_sandbox.faults import FaultInjector, FaultMiddleware
from reveni_khaos_sandbox.refusals import RequestError, detail
from reveni_khaos_sandbox.reveni_data import money
from reveni_khaos_sandbox.reveni_store import ReturnStore, parse_timestamp

API = "/merchants/v0/stores/{store_id}"
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 200
EVENT_TYPES = {"return.created", "return.updated"}
log = logging.getLogger("reveni_sandbox")


class ReveniSandbox:
    def __init__(
        self, store: ReturnStore, *, api_key: str, store_id: str, injector: FaultInjector | None = None
    ) -> None:
        self.store, self.api_key, self.store_id = store, api_key, store_id
        self.injector = injector or FaultInjector()
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.list_requests = 0
        # Changes due after the n-th list request (n, return id, fields): a change lands
        # exactly between two pages a client reads, as often as a test needs it to.
        self.scheduled: list[tuple[int, str, dict[str, Any]]] = []

    # --- the API -------------------------------------------------------------------

    async def list_returns(self, request: Request) -> Response:
        self._authorise(request)
        self._apply_scheduled()
        self.list_requests += 1
        query = request.query_params
        updated_after = None
        if query.get("updated_after"):
            try:
                updated_after = parse_timestamp(query["updated_after"])
            except ValueError:
                raise RequestError(
                    400, f"updated_after: {query['updated_after']!r} is not an ISO 8601 timestamp."
                ) from None
        page_size = _positive_int(query.get("page_size"), DEFAULT_PAGE_SIZE)
        page_size = min(page_size, MAX_PAGE_SIZE)  # as DRF does: clamp, don't refuse
        page = _positive_int(query.get("page", "1"), 0)
        offset = (page - 1) * page_size
        count, results = self.store.page(updated_after, offset, page_size)
        if page < 1 or (page > 1 and offset >= count):
            raise RequestError(404, "Invalid page.")
        more = offset + page_size < count
        return JSONResponse(
            {
                "count": count,
                "next": str(request.url.include_query_params(page=page + 1)) if more else None,
                "previous": str(request.url.include_query_params(page=page - 1)) if page > 1 else None,
                "results": results,
            }
        )

    async def get_return(self, request: Request) -> Response:
        self._authorise(request)
        return JSONResponse(self._find(request.path_params["return_id"]))

    async def partial_validate(self, request: Request) -> Response:
        self._authorise(request)
        changed = copy.deepcopy(self._find(request.path_params["return_id"]))
        if changed["status"] == "cancelled":
            raise RequestError(400, "Return is cancelled.")
        verdicts = (await _json_body(request)).get("items")
        if not isinstance(verdicts, list) or not verdicts:
            raise RequestError(400, "items: a non-empty list is required.")
        items = {item["id"]: item for item in changed["return_items"]}
        for position, verdict in enumerate(verdicts):
            _apply_verdict(items, verdict, f"items[{position}]")
        changed["updated_at"] = self.store.next_timestamp()
        _settle(changed)
        self.store.save(changed)
        return JSONResponse(changed, background=self._notify(changed))

    async def subscribe(self, request: Request) -> Response:
        self._authorise(request)
        body = await _json_body(request)
        event_types, url = body.get("event_types"), body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise RequestError(400, "url: an http(s) URL is required.")
        if not isinstance(event_types, list) or not event_types or not set(event_types) <= EVENT_TYPES:
            raise RequestError(400, f"event_types: a non-empty list drawn from {sorted(EVENT_TYPES)} is required.")
        webhook_id = str(uuid.uuid4())
        webhook = {"id": webhook_id, "url": url, "event_types": event_types}
        self.webhooks[webhook_id] = webhook
        return JSONResponse(webhook, status_code=201)

    async def unsubscribe(self, request: Request) -> Response:
        self._authorise(request)
        if self.webhooks.pop(request.path_params["webhook_id"], None) is None:
            raise RequestError(404, "Webhook not found.")
        return JSONResponse({"id": request.path_params["webhook_id"], "deleted": True})

    # --- admin -------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return JSONResponse({"returns": len(self.store), "store_id": self.store_id})

    async def faults(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.injector.configure(await _json_body(request))
            except ValueError as error:
                raise RequestError(400, str(error)) from None
        return JSONResponse(vars(self.injector.faults))

    async def reset_faults(self, request: Request) -> Response:
        self.injector.reset()
        return JSONResponse(vars(self.injector.faults))

    async def stats(self, request: Request) -> Response:
        return JSONResponse(dict(self.injector.stats))

    async def load_returns(self, request: Request) -> Response:
        returns = await _json_body(request, expect=list)
        try:
            self.store.load(returns)
        except ValueError as error:
            raise RequestError(400, str(error)) from None
        return JSONResponse({"returns": len(self.store)})

    async def change_return(self, request: Request) -> Response:
        """Merge top-level fields into one return, as if it changed in Reveni."""
        fields = await _json_body(request)
        changed = {**self._find(request.path_params["return_id"]), **fields}
        changed["id"] = request.path_params["return_id"]
        if "updated_at" not in fields:
            changed["updated_at"] = self.store.next_timestamp()
        try:
            self.store.save(changed)
        except ValueError as error:
            raise RequestError(400, f"updated_at: {error}") from None
        return JSONResponse(changed, background=self._notify(changed))

    async def schedule_change(self, request: Request) -> Response:
        """`{"after_list_requests": n, "fields": {...}}`: change this return just before the
        list request after the n-th (counted from now) is answered."""
        body = await _json_body(request)
        after, fields = body.get("after_list_requests"), body.get("fields") or {}
        if not isinstance(after, int) or after < 0 or not isinstance(fields, dict):
            raise RequestError(400, "after_list_requests: an integer >= 0 and fields: an object are required.")
        self._find(request.path_params["return_id"])
        self.scheduled.append((self.list_requests + after, request.path_params["return_id"], fields))
        return JSONResponse({"scheduled": len(self.scheduled)})

    def _apply_scheduled(self) -> None:
        due = [entry for entry in self.scheduled if entry[0] <= self.list_requests]
        self.scheduled = [entry for entry in self.scheduled if entry[0] > self.list_requests]
        for _, return_id, fields in due:
            changed = {**self._find(return_id), **fields, "id": return_id}
            changed["updated_at"] = fields.get("updated_at") or self.store.next_timestamp()
            self.store.save(changed)

    # --- helpers -------------------------------------------------------------------------

    def _authorise(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise RequestError(401, "Authentication credentials were not provided.")
        if not hmac.compare_digest(token.encode(), self.api_key.encode()):
            raise RequestError(401, "Invalid token.")
        if request.path_params.get("store_id") != self.store_id:
            raise RequestError(404, "Store not found.")

    def _find(self, return_id: str) -> dict[str, Any]:
        found = self.store.get(return_id)
        if found is None:
            raise RequestError(404, "Not found.")
        return found

    def _notify(self, changed: dict[str, Any]) -> BackgroundTask | None:
        targets = [w["url"] for w in self.webhooks.values() if "return.updated" in w["event_types"]]
        if not targets:
            return None
        envelope = {
            "id": str(uuid.uuid4()),
            "created": int(time.time()),
            "event": "return.updated",
            "data": {"resource_id": changed["id"], "status": changed["status"]},
        }
        return BackgroundTask(_deliver, targets, envelope, self.injector)

    def app(self) -> Starlette:
        routes = [
            Route(f"{API}/returns", self.list_returns),
            Route(f"{API}/returns/{{return_id}}", self.get_return),
            Route(f"{API}/returns/{{return_id}}/partial_validate", self.partial_validate, methods=["POST"]),
            Route(f"{API}/webhooks", self.subscribe, methods=["POST"]),
            Route(f"{API}/webhooks/{{webhook_id}}", self.unsubscribe, methods=["DELETE"]),
            Route("/_sandbox/health", self.health),
            Route("/_sandbox/faults", self.faults, methods=["GET", "POST"]),
            Route("/_sandbox/faults/reset", self.reset_faults, methods=["POST"]),
            Route("/_sandbox/stats", self.stats),
            Route("/_sandbox/returns", self.load_returns, methods=["POST"]),
            Route("/_sandbox/returns/{return_id}", self.change_return, methods=["PATCH"]),
            Route("/_sandbox/returns/{return_id}/schedule", self.schedule_change, methods=["POST"]),
        ]
        app = Starlette(
            routes=routes,
            exception_handlers={
                RequestError: lambda _, e: detail(e.status, e.text),
                HTTPException: lambda _, e: detail(e.status_code, _http_detail(e)),
            },
        )
        app.add_middleware(FaultMiddleware, injector=self.injector)
        return app


def _http_detail(error: HTTPException) -> str:
    return {404: "Not found.", 405: "Method not allowed."}.get(error.status_code, error.detail)


def _positive_int(raw: str | None, default: int) -> int:
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return value if value >= 1 else default


async def _json_body(request: Request, expect: type = dict) -> Any:
    try:
        body = json.loads(await request.body())
    except ValueError as error:
        raise RequestError(400, f"The body is not valid JSON: {error}.") from None
    if not isinstance(body, expect):
        raise RequestError(400, f"The body must be a JSON {'object' if expect is dict else 'list'}.")
    return body


def _apply_verdict(items: dict[str, dict[str, Any]], verdict: Any, where: str) -> None:
    if not isinstance(verdict, dict) or verdict.get("item_id") not in items:
        raise RequestError(400, f"{where}.item_id: not an item of this return.")
    item = items[verdict["item_id"]]
    status = verdict.get("status")
    if status not in {"accepted", "rejected"}:
        raise RequestError(400, f"{where}.status: must be 'accepted' or 'rejected'.")
    if verdict.get("quantity", item["quantity"]) != item["quantity"]:
        raise RequestError(400, f"{where}.quantity: the sandbox validates whole lines only ({item['quantity']}).")
    if status == "rejected" and not verdict.get("reject_reason"):
        raise RequestError(400, f"{where}.reject_reason: required when rejecting.")
    item["status"] = status
    item["reject_reason"] = verdict.get("reject_reason") if status == "rejected" else None
    item["reject_reason_text"] = verdict.get("reject_reason_text") if status == "rejected" else None


def _settle(changed: dict[str, Any]) -> None:
    """Derive the return's status from its items; refund accepted items once decided."""
    verdicts = {item["status"] for item in changed["return_items"]}
    if "pending" in verdicts:
        changed["status"] = "for_review"
        return
    changed["status"] = (
        "accepted" if verdicts == {"accepted"} else "rejected" if verdicts == {"rejected"} else "partly_accepted"
    )
    paid = any(refund["status"] == "completed" for refund in changed["refunds"])
    owed = sum(
        (
            Decimal(item["total"])
            for item in changed["return_items"]
            if item["status"] == "accepted" and item.get("exchange") is None
        ),
        Decimal(0),
    )
    if not changed["instant"] and not paid and owed > 0:
        changed["refunds"] = [
            *changed["refunds"],
            {
                "id": f"r-{uuid.uuid4()}",
                "method": changed["refund_method"],
                "amount": money(owed),
                "currency": changed["currency"],
                "status": "completed",
                "refunded_at": changed["updated_at"],
            },
        ]


def _deliver(targets: list[str], envelope: dict[str, Any], injector: FaultInjector) -> None:
    body = json.dumps(envelope).encode()
    for url in targets:
        # The URL was checked to be http(s) on subscribe.
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5):  # noqa: S310
                injector.stats["webhooks_delivered"] += 1
        except OSError as error:
            injector.stats["webhooks_failed"] += 1
            log.warning("webhook to %s failed: %s", url, error)
