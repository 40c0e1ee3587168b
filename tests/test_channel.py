"""The channel Khaos Control talks to: what `reveni-khaos serve`'s app answers, called in
process (`InProcessChannel`) on a store the real tap and target loaded. HTTP itself, and
Khaos pulling from the real `serve`, are tested in test_channel_edges.py, test_pipeline.py
and test_khaos_conformance.py."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from defusedxml import ElementTree

from tests.in_process import InProcessChannel
from tests.servers import ReveniSandbox, run_tap, run_target, tap_output, target_config


@pytest.fixture(scope="module")
def demo_store(demo_sandbox: ReveniSandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the demo returns, as the target leaves it (built once)."""
    workdir = tmp_path_factory.mktemp("demo-store")
    run_target(workdir, target_config(workdir), tap_output(run_tap(workdir, demo_sandbox.tap_config())))
    return workdir / "store.db"


@pytest.fixture
def loaded(demo_store: Path, tmp_path: Path) -> Path:
    """This test's own copy of the demo store."""
    shutil.copy(demo_store, tmp_path / "store.db")
    return tmp_path


@pytest.fixture
def channel(loaded: Path) -> Iterator[InProcessChannel]:
    server = InProcessChannel(target_config(loaded, batch_size=25), loaded).start()
    yield server
    server.stop()


def _published(workdir: Path) -> list[str]:
    with sa.create_engine(f"sqlite:///{workdir / 'store.db'}").connect() as conn:
        query = "select associated_ref from documents where feed_position is not null order by feed_position"
        return [row[0] for row in conn.execute(sa.text(query))]


def _pull_all(channel: InProcessChannel, fmt: str = "json", first: str = "2019-12-31 12:00:00Z") -> list[str]:
    refs: list[str] = []
    continuation = first
    for _ in range(100):
        response = channel.get(f"/khaos/returns.{fmt}", headers={"Sirion-Continuation": continuation})
        assert response.status_code == 200, response.text
        batch = _refs(response.content, fmt)
        if not batch:
            return refs
        refs += batch
        continuation = response.headers["Sirion-Continuation"]
    raise AssertionError("the feed never ended")


def _refs(body: bytes, fmt: str) -> list[str]:
    if fmt == "json":
        return [r["AssociatedRef"] for r in json.loads(body)["Returns"]]
    return [node.findtext("AssociatedRef") or "" for node in ElementTree.fromstring(body).iter("CustomerReturn")]


def test_every_endpoint_refuses_a_wrong_password(channel: InProcessChannel) -> None:
    """With a 400, the only refusal Khaos understands (docs/integration.md, Answers)."""
    wrong = ("khaos", "not-the-password")
    for path in ("/khaos/config.json", "/khaos/config.xml", "/khaos/returns.json", "/khaos/returns.xml"):
        assert channel.get(path, auth=wrong).status_code == 400, path
    for path in ("/khaos/stock", "/khaos/stock-status", "/khaos/order-status"):
        assert channel.post(path, b'{"Items": []}', auth=wrong).status_code == 400, path
    assert channel.get("/khaos/config.json", auth=("someone", "channel-pw-81d")).status_code == 400


def test_config_files_name_every_endpoint_by_full_url(channel: InProcessChannel) -> None:
    config = channel.get("/khaos/config.json").json()["EndpointConfig"]
    assert config["CReturnDownload"] == {"URL": f"{channel.url}/khaos/returns.json", "Format": "JSON", "Frequency": 5}
    assert config["OrderDownload"] == {
        "URL": f"{channel.url}/khaos/orders.json",
        "Format": "JSON",
        "Frequency": 1440,
    }
    assert {name: entry["URL"] for name, entry in config.items() if "Download" not in name} == {
        "StockUpload": f"{channel.url}/khaos/stock",
        "StockStatusUpload": f"{channel.url}/khaos/stock-status",
        "OrderStatusUpload": f"{channel.url}/khaos/order-status",
    }
    xml = ElementTree.fromstring(channel.get("/khaos/config.xml").content)
    assert xml.tag == "EndpointConfig"
    assert xml.findtext("CReturnDownload/URL") == f"{channel.url}/khaos/returns.xml"
    assert xml.findtext("CReturnDownload/Format") == "XML"


def test_following_the_continuation_serves_every_document_once_in_feed_order(
    channel: InProcessChannel, loaded: Path
) -> None:
    assert _pull_all(channel) == _published(loaded)


def test_the_same_continuation_gives_the_same_slice(channel: InProcessChannel) -> None:
    first = channel.get("/khaos/returns.json", headers={"Sirion-Continuation": "2019-12-31 12:00:00Z"})
    again = channel.get("/khaos/returns.json", headers={"Sirion-Continuation": "2019-12-31 12:00:00Z"})
    following = channel.get(
        "/khaos/returns.json", headers={"Sirion-Continuation": first.headers["Sirion-Continuation"]}
    )

    assert first.content == again.content
    assert len(_refs(first.content, "json")) == 25
    assert int(following.headers["Sirion-Continuation"]) > int(first.headers["Sirion-Continuation"])
    assert not set(_refs(first.content, "json")) & set(_refs(following.content, "json"))


def test_the_continuation_survives_a_channel_restart(channel: InProcessChannel, loaded: Path) -> None:
    first = channel.get("/khaos/returns.json", headers={"Sirion-Continuation": "2019-12-31 12:00:00Z"})
    channel.stop()
    restarted = InProcessChannel(target_config(loaded, batch_size=25), loaded).start()
    try:
        after = restarted.get(
            "/khaos/returns.json", headers={"Sirion-Continuation": first.headers["Sirion-Continuation"]}
        )
    finally:
        restarted.stop()

    assert _refs(after.content, "json") == _published(loaded)[25:50]


def test_specific_ids_serves_exactly_those_and_keeps_the_continuation(channel: InProcessChannel, loaded: Path) -> None:
    wanted = _published(loaded)[3:5]
    quoted = channel.get(
        "/khaos/returns.json", headers={"SpecificIDs": f'"{wanted[0]},{wanted[1]}"', "Sirion-Continuation": "17"}
    )
    bare = channel.get("/khaos/returns.xml", headers={"SpecificIDs": f"{wanted[1]}, no-such-ref"})

    assert _refs(quoted.content, "json") == wanted
    assert quoted.headers["Sirion-Continuation"] == "17"
    assert _refs(bare.content, "xml") == [wanted[1]]
    with sa.create_engine(f"sqlite:///{loaded / 'store.db'}").connect() as conn:
        states = {
            row.associated_ref: row.state
            for row in conn.execute(sa.text("select associated_ref, state from documents"))
        }
    assert {states[ref] for ref in wanted} == {"re_requested"}


def test_no_null_anywhere_and_both_formats_carry_the_same_returns(channel: InProcessChannel, loaded: Path) -> None:
    everything = channel.get("/khaos/returns.json", headers={"SpecificIDs": ",".join(_published(loaded))})
    body = everything.json()
    assert body["ApiVersion"] == 1000
    assert isinstance(body["Returns"], list)
    _assert_no_null(body, "$")
    for document in body["Returns"]:
        for item in document["ReturnedItems"]:
            assert len(item["SourceReference"]["SourceOrder"]) == 1, "exactly one SourceOrder key"
        assert len(document["InvoiceAddress"]["Line1"]) <= 35
    assert _pull_all(channel, "xml") == [document["AssociatedRef"] for document in body["Returns"]]


def _assert_no_null(value: Any, where: str) -> None:
    assert value is not None, f"null at {where}"
    if isinstance(value, dict):
        for key, inner in value.items():
            _assert_no_null(inner, f"{where}.{key}")
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            _assert_no_null(inner, f"{where}[{n}]")


def test_a_continuation_we_never_issued_is_400_with_the_reason(channel: InProcessChannel) -> None:
    response = channel.get("/khaos/returns.json", headers={"Sirion-Continuation": "yesterday-ish"})
    assert response.status_code == 400
    assert "yesterday-ish" in response.text


STOCK_JSON = {
    "Items": [
        {
            "StockID": "1004",
            "StockCode": "HOOD-GRY-M",
            "OtherRef": "H-M",
            "Barcodes": [{"Barcode": "5056000000031", "Type": "EAN13"}],
            "TaxRate": {"ID": "1"},
            "Options": {"Discontinued": False},
        }
    ],
    "Deleted": [],
}
STOCK_XML = b"""<?xml version="1.0"?>
<StockItems><Items><StockItem><StockID>1004</StockID><StockCode>HOODIE-GREY-M</StockCode>
<TaxRate ID="1" Code="1">Standard</TaxRate><Options><Discontinued>True</Discontinued></Options>
</StockItem></Items><Deleted/></StockItems>"""


def test_stock_pushes_are_kept_and_a_rename_is_learned(channel: InProcessChannel, loaded: Path) -> None:
    assert channel.post("/khaos/stock", json.dumps(STOCK_JSON).encode()).status_code == 200
    assert channel.post("/khaos/stock", json.dumps(STOCK_JSON).encode()).status_code == 200, "a repeat is harmless"
    assert channel.post("/khaos/stock", STOCK_XML, "application/xml").status_code == 200

    with sa.create_engine(f"sqlite:///{loaded / 'store.db'}").connect() as conn:
        codes = [
            row[0]
            for row in conn.execute(
                sa.text("select stock_code from stock_codes where stock_id = '1004' order by first_seen")
            )
        ]
        item = conn.execute(sa.text("select stock_code, discontinued from stock_items")).one()
    assert codes == ["HOOD-GRY-M", "HOODIE-GREY-M"]
    assert tuple(item) == ("HOODIE-GREY-M", 1)


def test_levels_and_order_statuses_are_kept(channel: InProcessChannel, loaded: Path) -> None:
    levels = {
        "Statuses": [
            {"StockCode": "TEE-BLK-M", "StockID": "1002", "SiteID": 2, "Levels": {"Available": 3.0, "OnOrder": 0.0}}
        ]
    }
    orders = {"Statuses": [{"OrderCode": "SO1", "OrderID": "55", "Status": "Complete", "AssociatedRef": "A1"}]}
    assert channel.post("/khaos/stock-status", json.dumps(levels).encode()).status_code == 200
    assert channel.post("/khaos/order-status", json.dumps(orders).encode()).status_code == 200

    with sa.create_engine(f"sqlite:///{loaded / 'store.db'}").connect() as conn:
        assert conn.execute(sa.text("select site_id, available from stock_levels")).one() == ("2", 3)
        assert conn.execute(sa.text("select status from order_statuses")).scalar_one() == "Complete"


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/khaos/stock", b"{not json", "not valid JSON"),
        ("/khaos/stock", b"<StockItems><Items>", "not well-formed XML"),
        ("/khaos/stock", b'<!DOCTYPE x [<!ENTITY a "b">]><StockItems/>', "XML refused"),
        ("/khaos/stock", b"<StockUpload><Items/><Deleted/></StockUpload>", "expected root element <StockItems>"),
        ("/khaos/stock", b'{"Stock": []}', "Items: required"),
        ("/khaos/stock-status", b'{"Statuses": 5}', "Statuses: expected a list"),
    ],
)
def test_a_push_none_of_which_can_be_read_is_400_naming_what_is_wrong(
    channel: InProcessChannel, path: str, body: bytes, reason: str
) -> None:
    response = channel.post(path, body)
    assert response.status_code == 400
    assert reason in response.text


@pytest.mark.parametrize(
    ("path", "body", "reason"),
    [
        ("/khaos/stock", b'{"Items": [{"StockCode": "X"}]}', "StockID: required"),
        ("/khaos/stock-status", b'{"Statuses": [{"StockID": "1", "SiteID": "1", "Levels": 3}]}', "Levels: expected"),
        ("/khaos/order-status", b'{"Statuses": [{"OrderID": "1", "Status": "Lost"}]}', "'Lost' is not one of"),
    ],
)
def test_a_bad_entry_is_answered_200_and_kept_on_record_as_an_exception(
    channel: InProcessChannel, loaded: Path, path: str, body: bytes, reason: str
) -> None:
    response = channel.post(path, body)

    assert response.status_code == 200, "Khaos retries anything else for ever"
    assert response.json()["rejected"] == 1
    assert reason in response.json()["rejections"][0]["reason"]
    with sa.create_engine(f"sqlite:///{loaded / 'store.db'}").connect() as conn:
        kinds = conn.execute(sa.text("select kind, owner, message from exceptions where kind like 'khaos%'")).all()
    assert [(kind, owner) for kind, owner, _ in kinds] == [("khaos_push_rejected", "integration")]
    assert reason in kinds[0][2]


def test_a_push_over_the_size_limit_is_refused(loaded: Path) -> None:
    server = InProcessChannel(target_config(loaded, max_body_bytes=1000), loaded).start()
    try:
        response = server.post("/khaos/stock", b'{"Items": []' + b" " * 2000 + b"}")
    finally:
        server.stop()
    assert response.status_code == 400
    assert "larger than 1000 bytes" in response.text
