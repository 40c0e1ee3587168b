"""Helpers for tests that hold the channel to Khaos Control Cloud's public docs: the docs'
own samples (tests/fixtures/kcc/, see its README), and an in-process channel on a store
of this test's own with documents published straight into its feed."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from requests.structures import CaseInsensitiveDict
from sqlalchemy.engine import Engine
from target_khaos_control.batch_writes import insert_documents
from target_khaos_control.channel import feed
from target_khaos_control.channel.app import Channel
from target_khaos_control.served_marks import settle
from target_khaos_control.settings import ChannelSettings
from target_khaos_control.store import document_bodies, documents, next_feed_position, open_store

FIXTURES = Path(__file__).parent / "fixtures" / "kcc"
USER, PASSWORD = "khaos", "channel-pw-docs"
LONG_AGO = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
MOMENT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def as_text(bodies: list[str] | list[bytes]) -> list[str]:
    """A pull's bodies as text: a page comes as the store's UTF-8 bytes."""
    return [body.decode() if isinstance(body, bytes) else body for body in bodies]


def pulled_with_wal_emptied(store: Path, rows: list[dict[str, object]]) -> tuple[Engine, feed.Slice, int]:
    """A new SQLite store at `store` holding these document rows, its WAL emptied, then one
    pull of them all, its served marks written: the store, what Khaos was served, and the
    bytes the pull and its marks wrote to the WAL."""
    engine = open_store(f"sqlite:///{store}")
    with engine.begin() as conn:
        insert_documents(conn, rows)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = Path(f"{store}-wal")
    assert wal.stat().st_size == 0, "the WAL is emptied before the pull"
    with engine.begin() as conn:
        served = feed.next_batch(conn, "2026-11-20T09:00:00Z", 1000, "JSON", MOMENT)
    with engine.begin() as conn:
        settle(conn)
    return engine, served, wal.stat().st_size


def feed_row(position: int | None, state: str = "published", notes: str | None = None) -> dict[str, object]:
    """A document row at `position` in the feed, as `batch_writes.insert_documents` takes it
    (its body a small CustomerReturn, with `notes` when given), for tests of the feed itself."""
    body: dict[str, object] = {"AssociatedRef": f"RV-{position}"}
    if notes is not None:
        body["Notes"] = notes
    return {
        "associated_ref": f"RV-{position}",
        "return_id": str(position),
        "sequence": 1,
        "state": state,
        "body": json.dumps(body),
        "item_ids": "[]",
        "hold_reason": "",
        "source_updated_at": "2026-11-20T10:00:00Z",
        "feed_position": position,
        "created_at": MOMENT,
        "state_changed_at": MOMENT,
        "published_at": MOMENT,
        "ruleset_hash": "",
        "currency": "GBP",
    }


def sample(name: str) -> bytes:
    """One of the docs' samples, byte for byte as the docs print it."""
    return (FIXTURES / name).read_bytes()


def store(workdir: Path) -> Engine:
    return open_store(f"sqlite:///{workdir / 'store.db'}")


@dataclass
class Answer:
    status_code: int
    headers: CaseInsensitiveDict[str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass
class Client:
    """Calls one ASGI app in-process, as an HTTP client would (Starlette's TestClient
    needs a package the project does not install)."""

    app: Any
    headers: dict[str, str] = field(default_factory=dict)

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return self.request("GET", path, b"", headers)

    def post(self, path: str, content: bytes, headers: dict[str, str] | None = None) -> Answer:
        return self.request("POST", path, content, headers)

    def request(self, method: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> Answer:
        return asyncio.run(self._call(method, path, body, {**self.headers, **(headers or {})}))

    async def _call(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        raw_path, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": raw_path,
            "raw_path": raw_path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()]
            + [(b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }
        sent = False
        answer = Answer(0, CaseInsensitiveDict(), b"")

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer.status_code = message["status"]
                for key, value in message["headers"]:
                    answer.headers[key.decode()] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                answer.content += message.get("body", b"")

        await self.app(scope, receive, send)
        return answer


def channel(engine: Engine, **settings: Any) -> Client:
    config = {
        "database_url": "sqlite://",
        "channel_username": USER,
        "channel_password": PASSWORD,
        "public_url": "http://127.0.0.1:8803",
        **settings,
    }
    app = Channel(engine, ChannelSettings.from_config(config)).app()
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    return Client(app, {"Authorization": f"Basic {token}"})


def a_return(ref: str, **changes: Any) -> dict[str, Any]:
    """A CustomerReturn as the target stores it (the docs' table form)."""
    return {
        "AssociatedRef": ref,
        "CreatedDate": "2026-01-05T09:00:00",
        "URN": "CUST0001",
        "InvoiceAddress": {
            "Line1": "12 High Street",
            "Town": "Leeds",
            "Postcode": "LS1 4AP",
            "Country": {"Code": "GB"},
        },
        "InvoiceContact": {"Forename": "Ana", "Surname": "Ruiz"},
        "ReturnedItems": [
            {
                "SKU": "TEE-BLK-M",
                "Mapping": [{"Mapping": "StockCode"}],
                "Quantity": 1,
                "ReturnReason": {"ID": "6"},
                "SourceReference": {"SourceOrder": {"AssociatedRef": "5123400056"}},
                "UnitPrice": {"Gross": 24.0},
            }
        ],
        "ProcessReturn": False,
        **changes,
    }


def publish(engine: Engine, *bodies: dict[str, Any], at: datetime = LONG_AGO) -> list[str]:
    """Put documents at the end of the feed, as the target does when it publishes them."""
    with engine.begin() as conn:
        last = conn.execute(sa.select(sa.func.max(documents.c.feed_position))).scalar_one_or_none()
        first = next_feed_position(last)
        for n, body in enumerate(bodies):
            document_id = conn.execute(
                documents.insert()
                .values(
                    associated_ref=body["AssociatedRef"],
                    return_id=body["AssociatedRef"],
                    sequence=1,
                    state="published",
                    item_ids="[]",
                    source_updated_at="",
                    feed_position=first + n,
                    created_at=at,
                    state_changed_at=at,
                    published_at=at + timedelta(seconds=n + 1),
                )
                .returning(documents.c.id)
            ).scalar_one()
            conn.execute(
                document_bodies.insert().values(document_id=document_id, body=json.dumps(body, ensure_ascii=False))
            )
    return [body["AssociatedRef"] for body in bodies]


def refs(response: Any) -> list[str]:
    from defusedxml import ElementTree

    if response.headers["content-type"].startswith("application/xml"):
        root = ElementTree.fromstring(response.content)
        return [node.findtext("AssociatedRef") or "" for node in root.iter("CustomerReturn")]
    return [document["AssociatedRef"] for document in response.json()["Returns"]]
