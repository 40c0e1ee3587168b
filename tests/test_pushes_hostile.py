"""What Khaos pushes never answers 500 (Khaos retries a 500 for ever): odd text and numbers
are refused entry by entry, the docs' other shape of `Items` is read, identical pushes at
once on Postgres upsert, and a fuzz of the push endpoints finds nothing but 200 or 400."""

from __future__ import annotations

import html
import json
import re
import shutil
import threading
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from target_khaos_control.store import open_store

from tests.khaos_docs import channel, store
from tests.rulesets import write_rules
from tests.servers import DEMO_RULES, PostgresServer

ITEM = {"StockID": "1004", "StockCode": "HOOD-GRY-M", "Options": {"Discontinued": False}}
OTHER = {"StockID": "1005", "StockCode": "HOOD-GRY-L"}


def _post(engine: Engine, path: str, document: Any) -> Any:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return channel(engine).post(path, body, {"Content-Type": "application/json"})


def _rows(engine: Engine, query: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.text(query))]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return store(tmp_path)


# --- 21. "Items | An object containing an array" (the docs' table) or the array (their sample)


@pytest.mark.parametrize(
    "items",
    [{"StockItem": [ITEM, OTHER]}, [ITEM, OTHER]],
    ids=["an object holding the array", "the array"],
)
def test_both_shapes_of_items_the_docs_describe_are_kept(engine: Engine, items: Any) -> None:
    answer = _post(engine, "/khaos/stock", {"Items": items, "Deleted": []})

    assert answer.status_code == 200, answer.text
    assert answer.json()["kept"] == 2
    assert _rows(engine, "select stock_id, stock_code from stock_items order by stock_id") == [
        ("1004", "HOOD-GRY-M"),
        ("1005", "HOOD-GRY-L"),
    ]


def test_an_object_holding_one_item_is_kept(engine: Engine) -> None:
    answer = _post(engine, "/khaos/stock", {"Items": {"StockItem": ITEM}})

    assert answer.json()["kept"] == 1
    assert _rows(engine, "select stock_code from stock_items") == [("HOOD-GRY-M",)]


# --- 8. Input that answered 500


def test_a_lone_surrogate_refuses_its_entry_only(engine: Engine) -> None:
    body = (
        b'{"Items": [{"StockID": "1", "StockCode": "A", "StockDescription": "bad \\ud800 text"},'
        b' {"StockID": "\\udfff", "StockCode": "B"}, {"StockID": "3", "StockCode": "C", "\\ud83d": 1},'
        b' {"StockID": "4", "StockCode": "D"}]}'
    )

    answer = _post(engine, "/khaos/stock", body)

    reasons = [rejection["reason"] for rejection in answer.json()["rejections"]]
    assert answer.status_code == 200, answer.text
    assert answer.json()["kept"] == 1
    assert reasons[0] == "StockDescription: holds a lone surrogate, which is not text"
    assert all("lone surrogate" in reason for reason in reasons)
    assert len(_rows(engine, "select * from exceptions where kind = 'khaos_push_rejected'")) == 3


def test_a_5000_digit_number_refuses_its_entry_only(engine: Engine) -> None:
    huge = b"9" * 5_000
    body = b'{"Statuses": [{"StockID": "1", "SiteID": 1, "Levels": {"Available": %s, "OnOrder": 0}},' % huge
    body += b' {"StockID": %s, "SiteID": 1, "Levels": {"Available": 1, "OnOrder": 0}},' % huge
    body += b' {"StockID": "2", "SiteID": 1, "Levels": {"Available": 3, "OnOrder": 0}}]}'

    answer = _post(engine, "/khaos/stock-status", body)

    assert answer.status_code == 200, answer.text
    assert (answer.json()["kept"], answer.json()["rejected"]) == (1, 2)
    assert _rows(engine, "select stock_id, available from stock_levels") == [("2", 3)]


def test_a_nul_in_a_code_and_a_tiny_level_are_handled_in_the_entry(engine: Engine) -> None:
    answer = _post(
        engine,
        "/khaos/stock-status",
        {
            "Statuses": [
                {"StockID": "1", "StockCode": "A\x00B", "SiteID": 1, "Levels": {"Available": 1, "OnOrder": 0}},
                {"StockID": "2", "SiteID": 1, "Levels": {"Available": "1e-999999999", "OnOrder": 0}},
            ]
        },
    )

    assert answer.json()["rejections"][0]["reason"] == "StockCode: holds a NUL character"
    assert _rows(engine, "select stock_id, available from stock_levels") == [("2", 0)]


def test_a_level_past_every_context_is_refused_in_its_entry_not_answered_500(engine: Engine) -> None:
    # found by the XML fuzz: abs() of 1e999999999 overflows Python's decimal context
    json_answer = _post(
        engine,
        "/khaos/stock-status",
        {"Statuses": [{"StockID": "1", "SiteID": 1, "Levels": {"Available": "1e999999999"}}]},
    )
    xml = XML_PUSHES["/khaos/stock-status"].format("2", "1", "-1E+999999999")
    xml_answer = channel(engine).post("/khaos/stock-status", xml.encode(), {"Content-Type": "application/xml"})

    assert json_answer.status_code == xml_answer.status_code == 200
    assert json_answer.json()["rejections"][0]["reason"] == "Levels.Available: '1e999999999' is not a stock level"
    assert xml_answer.json()["rejections"][0]["reason"] == "Levels.Available: '-1E+999999999' is not a stock level"
    assert _rows(engine, "select stock_id from stock_levels") == []


def test_a_clients_owner_for_rejected_pushes_is_who_gets_them(engine: Engine, tmp_path: Path) -> None:
    # given a client whose rule set gives Khaos's rejected pushes to the warehouse, as urgent
    rules = (
        (DEMO_RULES / "rules.yml")
        .read_text()
        .replace("exceptions: {}", "exceptions:\n  khaos_push_rejected: {owner: warehouse, severity: high}")
    )
    client = write_rules(tmp_path, rules)
    shutil.copytree(DEMO_RULES / "tests", client / "tests")

    answer = channel(engine, rules_path=str(client)).post(
        "/khaos/stock-status",
        json.dumps({"Statuses": [{"StockID": "9", "SiteID": 1, "Levels": {"Available": "lots"}}]}).encode(),
        {"Content-Type": "application/json"},
    )

    # expect the rejection on the warehouse's list, high: the client's routing, not the default
    assert answer.status_code == 200
    assert _rows(engine, "select kind, owner, severity from exceptions") == [
        ("khaos_push_rejected", "warehouse", "high")
    ]


# --- The same on Postgres, where a NUL, a tiny exponent and a race each answered 500


def _postgres_store(postgres: PostgresServer) -> Engine:
    name = f"pushes_{uuid.uuid4().hex[:8]}"
    with sa.create_engine(postgres.url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(sa.text(f"create database {name}"))
    return open_store(postgres.url.rsplit("/", 1)[0] + f"/{name}")


def test_a_nul_and_a_tiny_level_on_postgres_answer_200(postgres: PostgresServer) -> None:
    engine = _postgres_store(postgres)
    levels = {"Available": "1e-999999999", "OnOrder": 0}
    document = {
        "Statuses": [
            {"StockID": "1", "StockCode": "A\x00B", "SiteID": 1, "Levels": {"Available": 1, "OnOrder": 0}},
            {"StockID": "2", "StockCode": "B", "SiteID": 1, "Levels": levels},
        ]
    }

    answer = _post(engine, "/khaos/stock-status", document)

    assert answer.status_code == 200, answer.text
    assert _rows(engine, "select stock_id, available from stock_levels") == [("2", Decimal("0.0000"))]


def test_identical_pushes_at_once_on_postgres_all_answer_200(postgres: PostgresServer) -> None:
    engine = _postgres_store(postgres)
    items = {"Items": [{"StockID": str(n), "StockCode": f"S-{n}"} for n in range(30)] + [{"StockID": "bad"}]}
    levels = {
        "Statuses": [{"StockID": str(n), "SiteID": 1, "Levels": {"Available": n, "OnOrder": 0}} for n in range(30)]
    }
    answers: list[int] = []

    def push() -> None:
        client = channel(engine)
        for path, document in (("/khaos/stock", items), ("/khaos/stock-status", levels)) * 3:
            answers.append(client.post(path, json.dumps(document).encode()).status_code)

    threads = [threading.Thread(target=push) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert answers == [200] * 48
    assert _rows(engine, "select count(*) from stock_items") == [(30,)]
    assert _rows(engine, "select count(*) from stock_levels") == [(30,)]
    assert _rows(engine, "select occurrences from exceptions") == [(24,)], "one exception, seen by each push"


# --- A fuzz of the push endpoints: every answer is 200 or 400


TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)  # surrogates and controls included
BARE = "\x01"  # marks a number to send bare, digits and exponent as written
NUMBER = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["1e-999999999", "1e999999999", "9" * 5_000, "-0", "NaN", "Infinity"]),
).map(lambda number: number if isinstance(number, int) else f"{BARE}{number}{BARE}")
SCALAR = st.one_of(st.none(), st.booleans(), TEXT, NUMBER)
FIELDS = ["StockID", "StockCode", "SiteID", "OtherRef", "OrderID", "Status", "OrderStatus", "AssociatedRef"]


def _value(depth: int = 2) -> st.SearchStrategy[Any]:
    if depth == 0:
        return SCALAR
    inner = _value(depth - 1)
    return st.one_of(SCALAR, st.lists(inner, max_size=3), st.dictionaries(st.sampled_from([*FIELDS, "Levels"]), inner))


ENTRY = st.dictionaries(
    st.one_of(st.sampled_from([*FIELDS, "Levels", "Options", "Barcodes", "TaxRate"]), TEXT),
    st.one_of(
        _value(),
        st.fixed_dictionaries({"Available": NUMBER, "OnOrder": NUMBER}),
        st.fixed_dictionaries({"Discontinued": SCALAR}),
    ),
    max_size=6,
)
PUSH = st.tuples(
    st.sampled_from(["/khaos/stock", "/khaos/stock-status", "/khaos/order-status"]),
    st.dictionaries(
        st.sampled_from(["Items", "Deleted", "Statuses"]),
        st.one_of(st.lists(ENTRY, max_size=4), st.dictionaries(st.sampled_from(["StockItem"]), _value()), SCALAR),
        max_size=3,
    ),
)


def _raw_json(value: Any) -> bytes:
    """JSON as Khaos could send it: numbers given as text are sent as bare numbers."""
    text = json.dumps(value, ensure_ascii=True, default=str)
    return re.sub(r'"\\u0001([^"\\]*)\\u0001"', r"\1", text).encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(push=PUSH)
def test_no_push_answers_500(tmp_path_factory: pytest.TempPathFactory, push: tuple[str, dict[str, Any]]) -> None:
    path, document = push
    engine = _fuzz_store(tmp_path_factory)

    answer = channel(engine).post(path, _raw_json(document))

    assert answer.status_code in (200, 400), answer.text[:500]


_STORES: dict[str, Engine] = {}


def _fuzz_store(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    """One store for the whole fuzz: a push must leave it fit for the next one too."""
    if "fuzz" not in _STORES:
        _STORES["fuzz"] = store(tmp_path_factory.mktemp("fuzz"))
    return _STORES["fuzz"]


XML_PUSHES = {
    "/khaos/stock": "<StockItems><Items><StockItem><StockID>{0}</StockID><StockCode>{1}</StockCode>"
    "<Options><Discontinued>{2}</Discontinued></Options></StockItem></Items></StockItems>",
    "/khaos/stock-status": "<StockStatuses><Statuses><StockStatus><StockID>{0}</StockID><SiteID>{1}</SiteID>"
    "<Levels><Available>{2}</Available><OnOrder>0</OnOrder></Levels></StockStatus></Statuses></StockStatuses>",
    "/khaos/order-status": "<OrderStatuses><Statuses><OrderStatus><OrderID>{0}</OrderID><Status>{1}</Status>"
    "<OrderCode>{2}</OrderCode></OrderStatus></Statuses></OrderStatuses>",
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(sorted(XML_PUSHES)), values=st.tuples(TEXT, TEXT, st.one_of(TEXT, NUMBER.map(str))))
def test_no_xml_push_answers_500(tmp_path_factory: pytest.TempPathFactory, path: str, values: tuple[str, ...]) -> None:
    """Each value escaped as XML text; what XML cannot hold (a lone surrogate, NUL) makes
    the body unreadable, a 400."""
    body = XML_PUSHES[path].format(*(html.escape(value.replace(BARE, "")) for value in values))
    engine = _fuzz_store(tmp_path_factory)

    answer = channel(engine).post(path, body.encode("utf-8", "surrogatepass"), {"Content-Type": "application/xml"})

    assert answer.status_code in (200, 400), answer.text[:500]
