"""The target reads Khaos's stock catalogue again only when a push has changed it: a
batch costs the same whatever the size of the catalogue, and a push made during a run
is seen by the next batch."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from target_khaos_control.channel.pushes import save_stock_upload
from target_khaos_control.rules import catalogue
from target_khaos_control.store import open_store

MOMENT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _item(code: str, discontinued: bool = False) -> dict[str, object]:
    return {"StockID": "1004", "StockCode": code, "TaxRate": {"ID": "1"}, "Options": {"Discontinued": discontinued}}


def test_a_push_changes_the_catalogue_the_next_batch_reads(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    latest = catalogue.Latest()
    with engine.connect() as conn:
        assert latest.read(conn).is_empty

    save_stock_upload(engine, {"Items": [_item("HOOD-GRY-M")], "Deleted": []}, MOMENT)
    with engine.connect() as conn:
        first = latest.read(conn)
    save_stock_upload(engine, {"Items": [_item("HOODIE-GREY-M", discontinued=True)], "Deleted": []}, MOMENT)
    with engine.connect() as conn:
        second = latest.read(conn)
    save_stock_upload(engine, {"Items": [], "Deleted": ["1004"]}, MOMENT)
    with engine.connect() as conn:
        third = latest.read(conn)

    assert first.current("HOOD-GRY-M") is not None
    assert second.renamed("HOOD-GRY-M") == "HOODIE-GREY-M"
    assert second.current("HOODIE-GREY-M").discontinued  # type: ignore[union-attr]
    assert third.is_empty


def test_without_a_push_the_catalogue_is_not_read_again(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    save_stock_upload(engine, {"Items": [_item("HOOD-GRY-M")], "Deleted": []}, MOMENT)
    latest = catalogue.Latest()
    with engine.connect() as conn:
        first = latest.read(conn)
        again = latest.read(conn)

    assert again is first
