"""One way to raise an exception: `ExceptionLog.raise_exception` routes the kind as the
client has it, keys it and records it; the channel's own exceptions follow the client's
routing too; the `exceptions` stream is Singer written by singer-sdk's message classes."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from target_khaos_control.exception_kinds import Kind
from target_khaos_control.exception_log import (
    SCHEMA,
    ExceptionLog,
    ExceptionRecord,
    ExceptionStream,
    Subject,
    trace_key,
)
from target_khaos_control.exception_routing import Routing
from target_khaos_control.store import exceptions, open_store

from tests.khaos_docs import channel
from tests.rulesets import write_rules
from tests.servers import DEMO_RULES

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return open_store(f"sqlite:///{tmp_path / 'store.db'}")


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(exceptions).order_by(exceptions.c.trace_key)))


def _raise(engine: Engine, log: ExceptionLog, kind: Kind, subject: Subject, message: str, **more: Any) -> str:
    key = log.raise_exception(kind, subject, message, **more)
    with engine.begin() as conn:
        log.write(conn)
    return key


def test_one_call_routes_keys_and_records_an_exception(engine: Engine) -> None:
    # given a client that makes Reveni's odd tax urgent
    log = ExceptionLog({}, NOW, Routing({"value_mismatch": {"severity": "high"}}))

    key = _raise(
        engine,
        log,
        Kind.VALUE_MISMATCH,
        Subject.of_return("ret-1", "item-2", "GBP"),
        "TEE-1: Reveni's tax 4.01 is not 20% of 24.00 (4.00)",
        details={"sku": "TEE-1", "price": Decimal("24.00"), "reason": "größe"},
        ruleset_hash="rules-1",
    )

    # expect the client's severity over the kind's medium, the owner from the kind, and the
    # key made of kind, return, item and part
    (row,) = _rows(engine)
    assert key == row.trace_key == "value_mismatch:ret-1:item-2:GBP"
    assert (row.kind, row.owner, row.severity, row.status, row.occurrences) == (
        "value_mismatch",
        "finance",
        "high",
        "open",
        1,
    )
    assert (row.return_id, row.item_id, row.ruleset_hash) == ("ret-1", "item-2", "rules-1")
    assert json.loads(row.details) == {"sku": "TEE-1", "price": "24.00", "reason": "größe"}


def test_the_same_exception_raised_again_is_counted_not_duplicated(engine: Engine) -> None:
    subject = Subject.of_return("ret-1", "item-1")
    log = ExceptionLog({}, NOW)
    log.raise_exception(Kind.SKU_NOT_FOUND, subject, "No Khaos stock item for SKU 'CAP-1'")
    _raise(engine, log, Kind.SKU_NOT_FOUND, subject, "No Khaos stock item for SKU 'CAP-1'")

    later = ExceptionLog({"sku_not_found:ret-1:item-1": "open"}, NOW + timedelta(hours=1))
    _raise(engine, later, Kind.SKU_NOT_FOUND, subject, "No Khaos stock item for SKU 'CAP-2'")

    (row,) = _rows(engine)
    assert (row.occurrences, row.message, row.owner) == (3, "No Khaos stock item for SKU 'CAP-2'", "warehouse")
    assert row.last_seen.replace(tzinfo=UTC) == NOW + timedelta(hours=1)


def test_an_exception_raised_under_its_key_is_stored_as_raise_exception_stores_it(tmp_path: Path) -> None:
    # given the same problem of a return, raised by raise_exception in one store and, keyed
    # by trace_key (as the rules' problems are), by raise_keyed in another, twice each
    keyed, whole = (open_store(f"sqlite:///{tmp_path / name}") for name in ("keyed.db", "whole.db"))
    details = {"sku": "TEE-1", "price": Decimal("24.00")}
    by_key, by_subject = ExceptionLog({}, NOW), ExceptionLog({}, NOW)
    for message in ("TEE-1: tax 4.01", "TEE-1: tax 4.02"):
        key = trace_key(Kind.VALUE_MISMATCH, "ret-1", "item-2", "GBP")
        by_key.raise_keyed(key, Kind.VALUE_MISMATCH, "ret-1", "item-2", message, details, ruleset_hash="rules-1")
        subject = Subject.of_return("ret-1", "item-2", "GBP")
        by_subject.raise_exception(Kind.VALUE_MISMATCH, subject, message, details, ruleset_hash="rules-1")
    for engine, log in ((keyed, by_key), (whole, by_subject)):
        with engine.begin() as conn:
            log.write(conn)

    # expect the same row, filed under the return and item, the key with its part, seen twice
    assert [tuple(row) for row in _rows(keyed)] == [tuple(row) for row in _rows(whole)]
    (row,) = _rows(keyed)
    assert (row.trace_key, row.return_id, row.item_id) == ("value_mismatch:ret-1:item-2:GBP", "ret-1", "item-2")
    assert (row.message, row.occurrences, row.details) == ("TEE-1: tax 4.02", 2, '{"sku": "TEE-1", "price": "24.00"}')


def test_a_subject_may_be_keyed_apart_from_where_it_is_filed(engine: Engine) -> None:
    # a pushed entry with no key: keyed by where it was in the push, filed under no item
    log = ExceptionLog({}, NOW)

    key = _raise(
        engine,
        log,
        Kind.KHAOS_PUSH_REJECTED,
        Subject("StockUpload", "Items[3]", item_id=""),
        "Khaos's StockUpload push: Items[3]: no StockID",
    )

    (row,) = _rows(engine)
    assert key == "khaos_push_rejected:StockUpload:Items[3]"
    assert (row.return_id, row.item_id, row.owner, row.severity) == ("", "", "integration", "medium")


def test_an_exception_no_longer_found_is_resolved_under_the_rules_that_no_longer_find_it(engine: Engine) -> None:
    log = ExceptionLog({}, NOW)
    key = _raise(engine, log, Kind.UNKNOWN_REASON, Subject.of_return("ret-1", "item-1"), "reason 'X'")

    later = ExceptionLog({key: "open"}, NOW + timedelta(hours=1))
    later.gone(key, ruleset_hash="rules-2")
    with engine.begin() as conn:
        later.write(conn)

    (row,) = _rows(engine)
    assert (row.status, row.alerted_status, row.ruleset_hash, later.resolved) == ("resolved", "resolved", "rules-2", 1)


def test_a_clients_owner_for_unknown_continuations_is_who_gets_them(engine: Engine, tmp_path: Path) -> None:
    # given a client whose rule set gives unknown continuations to CX, as low
    rules = (
        (DEMO_RULES / "rules.yml")
        .read_text()
        .replace("exceptions: {}", "exceptions:\n  unknown_continuation: {owner: cx, severity: low}")
    )
    client = write_rules(tmp_path, rules)
    shutil.copytree(DEMO_RULES / "tests", client / "tests")

    # when Khaos pulls with a continuation the channel never gave out
    answer = channel(engine, rules_path=str(client)).get("/khaos/returns.json", {"Sirion-Continuation": "7"})

    # expect the exception on CX's list, low: the client's routing, not the registry's
    assert answer.status_code == 200, answer.text
    assert [(row.kind, row.owner, row.severity) for row in _rows(engine)] == [("unknown_continuation", "cx", "low")]


def test_the_exceptions_stream_is_singer_its_schema_accepts(tmp_path: Path) -> None:
    path = tmp_path / "exceptions.jsonl"
    stream = ExceptionStream(path)
    record: ExceptionRecord = {
        "trace_key": "sku_not_found:ret-1:item-1",
        "type": "sku_not_found",
        "owner": "warehouse",
        "severity": "high",
        "status": "open",
        "return_id": "ret-1",
        "item_id": "item-1",
        "order_number": "1001",
        "sales_order_ref": "SOrderID 77",
        "sku": "TEE-M",
        "quantity": 2,
        "unit_price": "24.00",
        "currency": "GBP",
        "reason": "too_small",
        "message": "café",
        "suggested_fix": "Add the SKU to Khaos.",
        "first_seen": "2026-11-20T10:00:00Z",
        "last_seen": "2026-11-20T10:00:00Z",
        "occurrences": 1,
        "ruleset_hash": "",
        "assigned_to": "",
    }

    stream.write([record])
    stream.write([record | {"quantity": None}])
    stream.close()

    schema, *records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert schema == {"type": "SCHEMA", "stream": "exceptions", "schema": SCHEMA, "key_properties": ["trace_key"]}
    assert records == [
        {"type": "RECORD", "stream": "exceptions", "record": record},
        {"type": "RECORD", "stream": "exceptions", "record": record | {"quantity": None}},
    ]
    for message in records:
        jsonschema.validate(message["record"], schema["schema"])


def test_exceptions_seen_again_in_one_batch_each_keep_their_own_count_and_message(engine: Engine) -> None:
    # given two open exceptions, one seen once before and one twice
    first = ExceptionLog({}, NOW)
    first.raise_exception(Kind.SKU_NOT_FOUND, Subject.of_return("ret-1", "item-1"), "No stock item 'CAP-1'")
    for _ in range(2):
        first.raise_exception(Kind.UNKNOWN_REASON, Subject.of_return("ret-2", "item-1"), "Reason 'odd' unmapped")
    with engine.begin() as conn:
        first.write(conn)
    # when a later batch sees the first twice more (its message now with a NUL) and the second
    # once, after the second was resolved and raised again (a different set of columns)
    later = ExceptionLog(
        {"sku_not_found:ret-1:item-1": "open", "unknown_reason:ret-2:item-1": "open"}, NOW + timedelta(hours=1)
    )
    for _ in range(2):
        later.raise_exception(Kind.SKU_NOT_FOUND, Subject.of_return("ret-1", "item-1"), "No stock item 'CAP\x00-2'")
    later.gone("unknown_reason:ret-2:item-1")
    later.raise_exception(Kind.UNKNOWN_REASON, Subject.of_return("ret-2", "item-1"), "Reason 'odder' unmapped")
    with engine.begin() as conn:
        later.write(conn)
    # expect each its own occurrences (1 + 2, 2 + 1), its latest message (the NUL kept as
    # U+FFFD), the later moment, and the second's alert reset by its resolution
    rows = [(r.trace_key, r.occurrences, r.message, r.status, r.alerted_status) for r in _rows(engine)]
    assert rows == [
        ("sku_not_found:ret-1:item-1", 3, "No stock item 'CAP\ufffd-2'", "open", ""),
        ("unknown_reason:ret-2:item-1", 3, "Reason 'odder' unmapped", "open", "resolved"),
    ]
    assert {r.last_seen.replace(tzinfo=UTC) for r in _rows(engine)} == {NOW + timedelta(hours=1)}
