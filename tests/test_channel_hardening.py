"""Nothing a client sends may make the channel answer 500: Khaos retries a 500 for ever.

Each input below answered 500 before (issue 11), or let a long value into the answer and
the log. Expect: a 400 naming what is wrong in a few words, or a 200 that keeps the good
entries and puts the bad one on record.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from tests.khaos_docs import channel, store
from tests.servers import ChannelServer, raw_request, target_config

NESTED_JSON = b'{"Items": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
NESTED_XML = b"<StockItems><Items><StockItem>" + b"<a>" * 5_000 + b"</a>" * 5_000 + b"</StockItem></Items></StockItems>"
LEVEL = b'{"Statuses": [{"StockID": "1", "SiteID": 1, "Levels": {"Available": %s, "OnOrder": 0}}]}'
XML_LEVEL = (
    b"<StockStatuses><Statuses><StockStatus><StockID>1</StockID><SiteID>1</SiteID>"
    b"<Levels><Available>%s</Available><OnOrder>0</OnOrder></Levels></StockStatus></Statuses></StockStatuses>"
)

ATTACKS = [
    # (name, method, path, headers, body, status, the answer says)
    ("nested JSON push", "POST", "/khaos/stock", {}, NESTED_JSON, 400, "nested deeper"),
    ("nested XML push", "POST", "/khaos/stock", {}, NESTED_XML, 400, "nested deeper"),
    (
        "Options not an object",
        "POST",
        "/khaos/stock",
        {},
        b'{"Items": [{"StockID": "1", "StockCode": "A", "Options": 5}]}',
        200,
        "Options: expected an object",
    ),
    (
        "Deleted a number",
        "POST",
        "/khaos/stock",
        {},
        b'{"Items": [], "Deleted": 5}',
        200,
        "expected a list, got a number",
    ),
    (
        "StockID an object",
        "POST",
        "/khaos/stock",
        {},
        b'{"Items": [{"StockID": {"a": 1}, "StockCode": "A"}]}',
        200,
        "StockID: expected text",
    ),
    (
        "StockID too long for the store",
        "POST",
        "/khaos/stock",
        {},
        b'{"Items": [{"StockID": "%s", "StockCode": "A"}]}' % (b"9" * 41),
        200,
        "at most 40",
    ),
    ("Available NaN", "POST", "/khaos/stock-status", {}, LEVEL % b"NaN", 200, "not a stock level"),
    ("Available Infinity", "POST", "/khaos/stock-status", {}, LEVEL % b"Infinity", 200, "not a stock level"),
    ("Available 1e400", "POST", "/khaos/stock-status", {}, LEVEL % b"1e400", 200, "not a stock level"),
    ("Available sNaN in XML", "POST", "/khaos/stock-status", {}, XML_LEVEL % b"sNaN", 200, "not a stock level"),
    ("Available a string in JSON", "POST", "/khaos/stock-status", {}, LEVEL % b'"lots"', 200, "is not a number"),
    (
        "an order status a string",
        "POST",
        "/khaos/order-status",
        {},
        b'{"Statuses": ["Complete"]}',
        200,
        "expected an object",
    ),
    ("a JSON list", "POST", "/khaos/stock", {}, b"[1, 2]", 400, "expected a JSON object"),
    ("not UTF-8", "POST", "/khaos/stock", {}, b'{"Items": ["\xff"]}', 400, "not valid JSON"),
    ("Content-Length not a number", "POST", "/khaos/stock", {"Content-Length": "lots"}, b"{}", 400, "Content-Length"),
    (
        "a 20-digit continuation",
        "GET",
        "/khaos/returns.json",
        {"Sirion-Continuation": "9" * 20},
        b"",
        400,
        "longer than any",
    ),
    (
        "a 5,000-digit continuation",
        "GET",
        "/khaos/returns.json",
        {"Sirion-Continuation": "9" * 5000},
        b"",
        400,
        "5000 characters",
    ),
    ("a superscript digit", "GET", "/khaos/returns.json", {"Sirion-Continuation": "\u00b2"}, b"", 400, "neither"),
    (
        "a date out of range",
        "GET",
        "/khaos/returns.json",
        {"Sirion-Continuation": "9999-12-31 23:59:59-01:00"},
        b"",
        400,
        "neither",
    ),
    (
        "a year 0 date",
        "GET",
        "/khaos/returns.xml",
        {"Sirion-Continuation": "0000-01-01 00:00:00Z"},
        b"",
        400,
        "neither",
    ),
    (
        "a 10 KB continuation",  # a longer header is refused whole (max_header_bytes)
        "GET",
        "/khaos/returns.json",
        {"Sirion-Continuation": "x" * 10_000},
        b"",
        400,
        "10000 characters",
    ),
    (
        "SpecificIDs with a bad continuation",
        "GET",
        "/khaos/returns.json",
        {"SpecificIDs": "A", "Sirion-Continuation": "9" * 30},
        b"",
        400,
        "longer than any",
    ),
    (
        "SpecificIDs naming 8,000 returns",  # about as many as fit in 64 KiB of headers
        "GET",
        "/khaos/returns.json",
        {"SpecificIDs": ",".join(str(n) for n in range(8_000))},
        b"",
        200,
        "Returns",
    ),
    (
        "headers over max_header_bytes in one piece",
        "GET",
        "/khaos/returns.json",
        {"SpecificIDs": ",".join(str(n) for n in range(30_000))},
        b"",
        400,
        "over 65536 bytes",
    ),
    ("returns as CSV", "GET", "/khaos/returns.csv", {}, b"", 400, "No such endpoint"),
    ("a config as CSV", "GET", "/khaos/config.csv", {}, b"", 400, "No such endpoint"),
]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return store(tmp_path)


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status", "says"),
    [attack[1:] for attack in ATTACKS],
    ids=[attack[0] for attack in ATTACKS],
)
def test_no_input_answers_500_and_none_is_echoed_at_length(
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
    says: str,
) -> None:
    client = channel(engine)
    with caplog.at_level(logging.INFO, logger="reveni_khaos.channel"):
        answer = client.request(method, path, body, headers)

    assert answer.status_code == status, answer.text
    assert says in answer.text
    assert len(answer.content) < 2_000, "a long input is never echoed whole"
    assert all(len(record.getMessage()) < 2_000 for record in caplog.records)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChannelServer]:
    """One real `serve` for the file's tests of HTTP itself: none of them writes to its store."""
    workdir = tmp_path_factory.mktemp("hardening")
    store(workdir)  # the empty store the channel serves
    server = ChannelServer(target_config(workdir, max_header_bytes=16_384), workdir).start()
    yield server
    server.stop()


@pytest.mark.parametrize("method", [b"GET", b"OPTIONS"])
def test_an_asterisk_request_target_is_refused_not_a_500(served: ChannelServer, method: bytes) -> None:
    answer = raw_request(served, method + b" * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")

    status = int(answer.split(b" ", 2)[1])
    assert 400 <= status < 500, answer[:200]


def test_a_header_over_the_limit_is_refused_before_it_is_read_whole(served: ChannelServer) -> None:
    login = base64.b64encode(":".join(served.auth).encode())
    head = b"GET /khaos/config.json HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + login + b"\r\n"
    head += b"X-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as conn:
        with contextlib.suppress(OSError):  # the channel may close before taking it all: that is the point
            conn.sendall(head)
        answer = conn.recv(4_096)

    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert served.get("/khaos/config.json").status_code == 200, "the channel carries on"
