"""The Reveni sandbox speaks the contract in shared/spec/reveni-api.md."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import requests

from tests.in_process import InProcessReveniSandbox
from tests.reveni_spec import STATUSES
from tests.servers import STORE_ID, ReveniSandbox


def _key(ret: dict[str, Any]) -> tuple[datetime, str]:
    return datetime.fromisoformat(ret["updated_at"]), ret["id"]


def test_list_is_sorted_by_updated_at_then_id_across_pages(demo_sandbox: ReveniSandbox) -> None:
    returns = demo_sandbox.all_returns()
    assert len(returns) == 200
    assert [_key(r) for r in returns] == sorted(_key(r) for r in returns)
    assert len({r["id"] for r in returns}) == 200


def test_page_envelope_has_count_and_absolute_next(demo_sandbox: ReveniSandbox) -> None:
    body = demo_sandbox.get("returns", page_size=50).json()
    assert body["count"] == 200
    assert body["previous"] is None
    assert body["next"].startswith(f"{demo_sandbox.url}/merchants/v0/stores/{STORE_ID}/returns?")
    following = requests.get(body["next"], headers={"Authorization": "Bearer sandbox-key-3f9c2d"}, timeout=10).json()
    assert following["results"][0]["id"] != body["results"][0]["id"]
    assert following["previous"] is not None


def test_default_page_size_is_50_and_the_maximum_200(demo_sandbox: ReveniSandbox) -> None:
    assert len(demo_sandbox.get("returns").json()["results"]) == 50
    assert len(demo_sandbox.get("returns", page_size=500).json()["results"]) == 200


def test_page_past_the_end_is_404_invalid_page(demo_sandbox: ReveniSandbox) -> None:
    response = demo_sandbox.get("returns", page=99, page_size=50)
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page."}


def test_updated_after_is_inclusive(demo_sandbox: ReveniSandbox) -> None:
    returns = demo_sandbox.all_returns()
    pivot = returns[100]["updated_at"]
    later = demo_sandbox.get("returns", updated_after=pivot, page_size=200).json()["results"]
    assert {r["id"] for r in later} == {r["id"] for r in returns if _key(r)[0] >= _key(returns[100])[0]}
    assert returns[100]["id"] in {r["id"] for r in later}


def test_bad_updated_after_is_400_naming_the_parameter(demo_sandbox: ReveniSandbox) -> None:
    response = demo_sandbox.get("returns", updated_after="last tuesday")
    assert response.status_code == 400
    assert "updated_after" in response.json()["detail"]


def test_wrong_key_is_401_with_detail(demo_sandbox: ReveniSandbox) -> None:
    wrong = requests.get(f"{demo_sandbox.api}/returns", headers={"Authorization": "Bearer nope"}, timeout=10)
    missing = requests.get(f"{demo_sandbox.api}/returns", timeout=10)
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Invalid token."})
    assert missing.status_code == 401
    assert "detail" in missing.json()


def test_unknown_store_and_unknown_return_are_404(demo_sandbox: ReveniSandbox) -> None:
    other_store = requests.get(
        f"{demo_sandbox.url}/merchants/v0/stores/other/returns",
        headers={"Authorization": "Bearer sandbox-key-3f9c2d"},
        timeout=10,
    )
    assert (other_store.status_code, other_store.json()) == (404, {"detail": "Store not found."})
    assert demo_sandbox.get("returns/no-such-id").status_code == 404


def test_one_return_by_id(demo_sandbox: ReveniSandbox) -> None:
    first = demo_sandbox.get("returns", page_size=1).json()["results"][0]
    assert demo_sandbox.get(f"returns/{first['id']}").json() == first


def test_demo_set_covers_what_later_stages_need(demo_sandbox: ReveniSandbox) -> None:
    returns = demo_sandbox.all_returns()
    items = [item for r in returns for item in r["return_items"]]
    assert {r["status"] for r in returns} == set(STATUSES)
    assert {r["type"] for r in returns} == {"refund", "exchange", "mixed"}
    assert {r["instant"] for r in returns} == {True, False}
    assert {"GBP", "EUR", "USD"} <= {r["currency"] for r in returns}
    orders = Counter(r["order"]["number"] for r in returns)
    assert any(n > 1 for n in orders.values()), "split returns: several returns on one order"
    assert any("tax_rate" not in item for item in items), "lines with no tax rate"
    assert {"HOOD-GRY-M", "SCARF-WOOL-RED"} <= {item["sku"] for item in items}, "renamed and discontinued SKUs"
    assert any(item["return_reason"]["code"] == "colour_not_as_pictured" for item in items), "an unmapped reason"
    assert any(not r["customer"]["first_name"].isascii() for r in returns), "unicode names"
    partial = [
        r
        for r in returns
        if r["refunds"]
        and sum(Decimal(f["amount"]) for f in r["refunds"])
        < sum(Decimal(i["total"]) for i in r["return_items"] if i["exchange"] is None)
    ]
    assert partial, "partial refunds"


def test_money_is_decimal_strings_with_two_places(demo_sandbox: ReveniSandbox) -> None:
    for ret in demo_sandbox.all_returns():
        amounts = [ret["total"], *(f["amount"] for f in ret["refunds"])]
        amounts += [item[k] for item in ret["return_items"] for k in ("price", "total", "tax") if k in item]
        for amount in amounts:
            assert isinstance(amount, str)
            assert Decimal(amount) == Decimal(amount).quantize(Decimal("0.01"))
        assert Decimal(ret["total"]) == sum(Decimal(i["total"]) for i in ret["return_items"])


def test_same_seed_gives_the_same_returns(demo_sandbox: ReveniSandbox) -> None:
    twin = InProcessReveniSandbox(returns=200).start()
    try:
        assert twin.all_returns() == demo_sandbox.all_returns()
    finally:
        twin.stop()


def test_partial_validate_changes_items_and_moves_the_return_to_the_end(sandbox: ReveniSandbox) -> None:
    received = next(r for r in sandbox.all_returns() if r["status"] == "received")
    verdicts = [
        {"item_id": item["id"], "quantity": item["quantity"], "status": "accepted"} for item in received["return_items"]
    ]
    verdicts[-1] |= {"status": "rejected", "reject_reason": "used", "reject_reason_text": "Worn"}

    changed = sandbox.post(f"returns/{received['id']}/partial_validate", {"items": verdicts}).json()

    expected_status = "rejected" if len(verdicts) == 1 else "partly_accepted"
    assert changed["status"] == expected_status
    assert changed["return_items"][-1]["reject_reason"] == "used"
    assert changed["updated_at"] > received["updated_at"]
    assert sandbox.all_returns()[-1]["id"] == received["id"]


def test_partial_validate_refuses_a_bad_body_with_detail(sandbox: ReveniSandbox) -> None:
    one = sandbox.all_returns()[0]
    response = sandbox.post(f"returns/{one['id']}/partial_validate", {"items": [{"item_id": "x", "status": "ok"}]})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("items[0].item_id")


def test_webhooks_subscribe_deliver_and_unsubscribe(sandbox: ReveniSandbox) -> None:
    received: list[dict[str, Any]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = sandbox.post(
            "webhooks", {"event_types": ["return.updated"], "url": f"http://127.0.0.1:{server.server_port}/hook"}
        )
        assert hook.status_code == 201
        target = sandbox.all_returns()[3]
        sandbox.admin("PATCH", f"returns/{target['id']}", {"status": "shipped"})
        for _ in range(50):
            if received:
                break
            time.sleep(0.1)
        assert received, "the webhook arrived"
        assert received[0]["event"] == "return.updated"
        assert received[0]["data"] == {"resource_id": target["id"], "status": "shipped"}

        assert (
            requests.delete(
                f"{sandbox.api}/webhooks/{hook.json()['id']}",
                timeout=10,
                headers={"Authorization": "Bearer sandbox-key-3f9c2d"},
            ).status_code
            == 200
        )
        assert sandbox.post("webhooks", {"event_types": ["return.nope"], "url": "http://x"}).status_code == 400
    finally:
        server.shutdown()


def test_admin_load_replaces_returns_and_rejects_bad_lists(sandbox: ReveniSandbox) -> None:
    sandbox.admin(
        "POST",
        "returns",
        [{"id": "b", "updated_at": "2026-01-02T00:00:00Z"}, {"id": "a", "updated_at": "2026-01-02T00:00:00Z"}],
    )
    assert [r["id"] for r in sandbox.all_returns()] == ["a", "b"]

    bad = requests.post(f"{sandbox.url}/_sandbox/returns", json=[{"id": "c"}], timeout=10)
    assert bad.status_code == 400
    assert "return #0" in bad.json()["detail"]
    assert [r["id"] for r in sandbox.all_returns()] == ["a", "b"], "a bad load changes nothing"


def test_injected_429_carries_retry_after(sandbox: ReveniSandbox) -> None:
    sandbox.faults(rate_limit_every=2, retry_after_seconds=3)
    statuses = [sandbox.get("returns") for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 429, 200, 429]
    assert statuses[1].headers["Retry-After"] == "3"
    assert statuses[1].json() == {"detail": "Request was throttled."}


def test_injected_faults_leave_admin_routes_alone(sandbox: ReveniSandbox) -> None:
    sandbox.faults(error_rate=1.0)
    assert sandbox.get("returns").status_code == 503
    assert sandbox.admin("GET", "stats")["server_error"] == 1


def test_bad_fault_setting_is_400_naming_it(sandbox: ReveniSandbox) -> None:
    response = requests.post(f"{sandbox.url}/_sandbox/faults", json={"drop_rate": 3}, timeout=10)
    assert response.status_code == 400
    assert "drop_rate" in response.json()["detail"]
