"""The dashboard under hostile input, in-process (Starlette's TestClient, no browser).

Given markup in every place a page shows text (the path, the query, every stored field a
customer, Reveni, Khaos or an exception message can fill), expect it back as text, never
as markup, and every page sent with a Content-Security-Policy that would block a script
even if one slipped through."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from target_khaos_control.channel.app import Channel
from target_khaos_control.documents import associated_ref
from target_khaos_control.settings import ChannelSettings
from target_khaos_control.store import (
    credit_notes,
    document_bodies,
    documents,
    exceptions,
    open_store,
    runs,
    stock_levels,
)

from tests.stored_returns import insert_returns

LOGIN = ("finance-lead", "dash-pw-2c7")
SCRIPT = "<script>alert('x')</script>"
SVG = "<svg onload=alert(1)>"
IMG = '"><img src=x onerror=alert(2)>'
PAYLOADS = (SCRIPT, SVG, IMG, "<stock&code")
RETURN_ID = "ret-<i>1"
REF = associated_ref(RETURN_ID)  # its document, as the integration names it: `RV-ret-<i>1`
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('dashboard-security') / 'store.db'}")
    _store_hostile_values(engine)
    settings = ChannelSettings(
        database_url="",
        channel_username="khaos",
        channel_password="channel-pw",
        public_url="http://testserver",
        batch_size=50,
        pull_frequency_minutes=5,
        max_body_bytes=1_000_000,
        max_header_bytes=65_536,
        match_address_on=[],
        match_contact_on=[],
        dashboard_username=LOGIN[0],
        dashboard_password=LOGIN[1],
    )
    with TestClient(Channel(engine, settings).app()) as test_client:
        test_client.auth = LOGIN
        yield test_client


def _store_hostile_values(engine: sa.Engine) -> None:
    record = {
        "id": RETURN_ID,
        "status": SVG,
        "type": IMG,
        "order": {"number": SCRIPT, "external_id": SVG},
        "customer": {"first_name": SCRIPT, "last_name": IMG, "email": f"{SVG}@example.com"},
        "created_at": "2026-11-20T09:00:00Z",
        "updated_at": "2026-11-20T09:30:00Z",
        "refunds": [{"status": "completed", "amount": SCRIPT, "currency": IMG, "method": SVG}],
    }
    body = {"ReturnedItems": [{"SKU": "<stock&code"}], "ProcessReturn": False}
    with engine.begin() as conn:
        insert_returns(
            conn,
            [
                {
                    "return_id": RETURN_ID,
                    "updated_at": record["updated_at"],
                    "content_hash": "x",
                    "record": json.dumps(record),
                    "first_seen": NOW,
                    "last_changed": NOW,
                }
            ],
        )
        document_id = conn.execute(
            documents.insert()
            .values(
                associated_ref=REF,
                return_id=RETURN_ID,
                sequence=1,
                state="held",
                item_ids="[]",
                hold_reason=SCRIPT,
                source_updated_at=record["updated_at"],
                created_at=NOW,
                state_changed_at=NOW,
            )
            .returning(documents.c.id)
        ).scalar_one()
        conn.execute(document_bodies.insert().values(document_id=document_id, body=json.dumps(body)))
        conn.execute(
            credit_notes.insert().values(
                code=SCRIPT, associated_ref=REF, gross=1, currency="GBP", date=IMG, seen_at=NOW
            )
        )
        conn.execute(
            stock_levels.insert().values(
                stock_id="1", site_id=SVG, stock_code="<stock&code", available=1, on_order=0, updated_at=NOW
            )
        )
        conn.execute(
            exceptions.insert().values(
                trace_key=f"k-{SCRIPT}",
                kind=SVG,
                owner=IMG,
                return_id=RETURN_ID,
                item_id=SCRIPT,
                message=f"Khaos said: {SCRIPT} {IMG}",
                status="open",
                first_seen=NOW,
                last_seen=NOW,
                occurrences=1,
                details=json.dumps({"order_number": SCRIPT, "sku": "<stock&code", "reason": SVG}),
            )
        )
        summary = {
            "at": SCRIPT,
            "returns_compared": SVG,
            "matched": IMG,
            "match_rate": SCRIPT,
            "gaps": {SCRIPT: 1},
            "aging": {SVG: 1},
            "totals_by_currency": {IMG: {"refunded": SCRIPT, "credited": SVG, "gap": IMG}},
        }
        conn.execute(runs.insert().values(kind=SCRIPT, started_at=NOW, counts=json.dumps(summary)))
        conn.execute(runs.insert().values(kind="reconcile", started_at=NOW, counts=json.dumps(summary)))


PAGES = (
    "/dashboard/",
    f"/dashboard/?owner={IMG}",
    f"/dashboard/?owner={SCRIPT}",
    "/dashboard/reconciliation",
    "/dashboard/runs",
    "/dashboard/close?period=2026-11",
    f"/dashboard/close?period={SCRIPT}",
    f"/dashboard/close/2026-11/{SVG}",
    f"/dashboard/returns/{RETURN_ID}",
    f"/dashboard/returns/{SVG}",
    f"/dashboard/returns/{SCRIPT}",
    f"/dashboard/no-such-page/{SVG}",
    f"/dashboard/?type={SVG}",
    f"/dashboard/?type={SCRIPT}&owner=finance",
    f"/dashboard/?q={SCRIPT}",
    f"/dashboard/?sort={SVG}",
    f"/dashboard/exception?key=k-{SCRIPT}",
    f"/dashboard/exception?key={IMG}",
    "/dashboard/resolved",
    f"/dashboard/resolved?q={SVG}",
    "/dashboard/logout",
    "/",
)


def _assert_inert(html: str) -> None:
    for payload in PAYLOADS:
        assert payload not in html, f"{payload!r} came back as markup"
    assert "<script" not in html.lower()
    assert "<svg" not in html.lower()
    assert "<img" not in html.lower()


@pytest.mark.parametrize("page", PAGES)
def test_markup_anywhere_comes_back_as_text(client: TestClient, page: str) -> None:
    response = client.get(page)

    _assert_inert(response.text)


def test_a_returns_stored_fields_show_escaped_on_its_timeline(client: TestClient) -> None:
    response = client.get(f"/dashboard/returns/{RETURN_ID}")

    assert response.status_code == 200
    assert "&lt;script&gt;" in response.text
    assert "&lt;stock&amp;code" in response.text


def test_an_unknown_return_is_named_as_text(client: TestClient) -> None:
    response = client.get(f"/dashboard/returns/{SVG}")

    assert response.status_code == 404
    assert "&lt;svg onload=alert(1)&gt;" in response.text


@pytest.mark.parametrize("page", PAGES)
def test_every_page_forbids_scripts_and_framing(client: TestClient, page: str) -> None:
    headers = client.get(page).headers

    policy = headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy, "no script is ever allowed"
    assert "frame-ancestors 'none'" in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"


def test_the_dashboard_sends_no_script_of_its_own(client: TestClient) -> None:
    for template in (Path(__file__).parent.parent / "target-khaos-control/target_khaos_control/channel/templates").glob(
        "*"
    ):
        assert "<script" not in template.read_text().lower(), template.name


def test_an_exceptions_own_page_shows_its_stored_fields_escaped(client: TestClient) -> None:
    response = client.get("/dashboard/exception", params={"key": f"k-{SCRIPT}"})

    assert response.status_code == 200
    assert "Khaos said: &lt;script&gt;" in response.text
    assert 'name="key" value="k-&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"' in response.text


def test_a_csv_export_is_a_download_never_a_page(client: TestClient) -> None:
    response = client.get("/dashboard/exceptions.csv")

    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "Khaos said: <script>" in response.text, "a CSV holds the text as it was, for a spreadsheet"


def test_a_wrong_method_is_refused_with_the_same_guard(client: TestClient) -> None:
    response = client.post(f"/dashboard/returns/{SVG}", content=SCRIPT)

    assert response.status_code == 405
    assert response.headers["x-content-type-options"] == "nosniff"
    _assert_inert(response.text)


def test_the_pages_own_style_sheet_is_the_one_the_policy_allows(client: TestClient) -> None:
    response = client.get("/dashboard/runs")

    style = re.search(r"<style>(.*?)</style>", response.text, re.DOTALL)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in response.headers["content-security-policy"]
