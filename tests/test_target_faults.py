"""One odd record, line or schema change never stops the target nor costs a return.

Each test runs the real `target-khaos-control` command over Singer lines and reads the
SQLite store it writes; the Singer-line checks run the reader in process.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from target_khaos_control.rules import load_ruleset
from target_khaos_control.singer_input import Reader, StreamRefused

from tests.in_process import TargetCommand
from tests.servers import DEMO_RULES, PG_BIN, first_bookmark_then_sigkill, target_config
from tests.test_target_khaos_control import TAP_SCHEMA, _a_return, _documents, _exceptions, _named, _store


def _lines(*messages: dict[str, Any] | str) -> list[str]:
    return [m if isinstance(m, str) else json.dumps(m) for m in messages]


def _record(record: dict[str, Any]) -> dict[str, Any]:
    return {"type": "RECORD", "stream": "returns", "record": record}


def _version(updated: str, *verdicts: str) -> dict[str, Any]:
    return _a_return(*verdicts, updated=updated)


# --- versions in the same second ----------------------------------------------------------


def test_a_newer_version_in_the_same_second_is_never_replaced_by_an_older_one(
    tmp_path: Path, target_here: TargetCommand
) -> None:
    newer = _version("2026-11-20T10:00:00.900Z", "accepted", "accepted")
    older = _version("2026-11-20T10:00:00.100Z", "accepted", "pending")

    target_here(tmp_path, target_config(tmp_path), _lines(TAP_SCHEMA, _record(newer)))
    run = target_here(tmp_path, target_config(tmp_path), _lines(TAP_SCHEMA, _record(older)))

    assert run.returncode == 0, run.stderr
    assert "1 older than stored" in run.stderr
    body = _documents(tmp_path)["RV-ret-1"]["body"]
    assert len(body["ReturnedItems"]) == 2, "the .900 version, with both items accepted, stands"


def test_an_unreadable_updated_at_neither_withdraws_the_document_nor_lets_an_older_version_win(
    tmp_path: Path, target_here: TargetCommand
) -> None:
    config = target_config(tmp_path)
    target_here(tmp_path, config, _lines(TAP_SCHEMA, _record(_version("2026-11-21T10:00:00Z", "accepted", "accepted"))))
    before = _documents(tmp_path)

    garbled = _version("garbage", "accepted", "accepted")
    older = _version("2026-11-20T10:00:00Z", "accepted", "pending")
    run = target_here(tmp_path, config, _lines(TAP_SCHEMA, _record(garbled), _record(older)))

    assert run.returncode == 0, run.stderr
    assert _documents(tmp_path) == before, "the unserved document is neither withdrawn nor replaced"
    invalid = [e for e in _exceptions(tmp_path) if e["kind"] == "invalid_record" and e["status"] == "open"]
    assert len(invalid) == 1
    assert "updated_at is 'garbage'" in invalid[0]["message"]


# --- records that crashed the load, or were published as nonsense ---------------------------

HOSTILE: dict[str, tuple[str, str]] = {
    # return id -> (how the record is spoiled, as a JSON edit of the line; the field its exception names)
    "ret-surrogate": ('"first_name": "Ana"', '"first_name": "An\\ud800a"'),
    "ret-surrogate-status": ('"status": "received"', '"status": "rec\\udf86eived"'),
    "ret-surrogate-price": ('"price": "24.00"', '"price": "24.0\\udf860"'),
    "ret-9999": ('"created_at": "2026-11-18T09:12:44Z"', '"created_at": "9999-12-31T23:59:59-01:00"'),
    "ret-year-1": ('"created_at": "2026-11-18T09:12:44Z"', '"created_at": "0001-01-01T00:00:00+01:00"'),
    "ret-digits": ('"quantity": 1', '"quantity": ' + "7" * 5000),
    "ret-null-sku": ('"sku": "TEE-BLK-M"', '"sku": null'),
    "ret-negative-total": ('"price": "24.00", "total": "24.00"', '"price": "24.00", "total": "-24.00"'),
    "ret-huge-quantity": ('"quantity": 1', '"quantity": 1000000000000000000000000000000'),
    "ret-null-currency": ('"currency": "GBP", "total"', '"currency": null, "total"'),
    "ret-long-currency": ('"currency": "GBP", "total"', '"currency": "GBPX", "total"'),
    "ret-no-offset": ('"created_at": "2026-11-18T09:12:44Z"', '"created_at": "2026-11-18T09:12:44"'),
    "ret-null-exchange-sku": ('"exchange": null', '"exchange": {"sku": null, "quantity": 1}'),
}
NAMED = {
    "ret-surrogate": "customer.first_name",
    "ret-surrogate-status": "status",
    "ret-surrogate-price": "return_items[0].price",
    "ret-9999": "created_at",
    "ret-year-1": "created_at",
    "ret-digits": "return_items[0].quantity",
    "ret-null-sku": "return_items[0].sku",
    "ret-negative-total": "return_items[0].total",
    "ret-huge-quantity": "return_items[0].quantity",
    "ret-null-currency": "currency",
    "ret-long-currency": "currency",
    "ret-no-offset": "created_at",
    "ret-null-exchange-sku": "return_items[0].exchange.sku",
}


STORES = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=pytest.mark.skipif(not (PG_BIN / "initdb").exists(), reason="PostgreSQL's binaries are not installed"),
    ),
]


@pytest.mark.parametrize("store", STORES)
def test_records_that_crashed_the_load_or_became_nonsense_are_each_an_invalid_record(
    tmp_path: Path, store: str, request: pytest.FixtureRequest, target_here: TargetCommand
) -> None:
    url = request.getfixturevalue("postgres").url if store == "postgres" else None
    config = target_config(tmp_path, **({"database_url": url} if url else {}))
    lines = [TAP_SCHEMA, json.dumps(_record(_named("ret-before", _a_return("accepted"))))]
    for return_id, (was, spoiled) in HOSTILE.items():
        line = json.dumps(_record(_named(return_id, _a_return("accepted"))))
        assert was in line, return_id
        lines.append(line.replace(was, spoiled, 1))
    lines.append(json.dumps(_record(_named("ret-after", _a_return("accepted")))))

    run = target_here(tmp_path, config, lines)

    assert run.returncode == 0, run.stderr[-3000:]
    with sa.create_engine(config["database_url"]).connect() as conn:
        documents = set(conn.execute(sa.text("select associated_ref from documents")).scalars())
        found = conn.execute(sa.text("select return_id, message from exceptions where kind = 'invalid_record'"))
        invalid = dict(found.tuples().all())
    assert documents == {"RV-ret-before", "RV-ret-after"}
    assert set(invalid) == set(HOSTILE)
    for return_id, field in NAMED.items():
        assert f"{field} is" in invalid[return_id] or f"{field} holds" in invalid[return_id], invalid[return_id]
    assert "7777777777" not in invalid["ret-digits"], "a 5,000-digit number is not printed whole"


# --- Khaos needs a forename or a surname --------------------------------------------------


def test_a_customer_with_neither_forename_nor_surname_is_held_never_processed() -> None:
    record = _a_return("accepted")
    record["customer"] |= {"first_name": " ", "last_name": None}

    draft = load_ruleset(DEMO_RULES).draft(record)

    assert [(p.kind, p.owner) for p in draft.problems] == [("customer_name_missing", "cx")]
    assert draft.lines == []
    assert draft.process is False
    assert draft.outcomes == {"item-0": "exception:customer_name_missing"}


# --- STATE only for what is committed, whatever the SCHEMA does -----------------------------


def _numbered(n: int) -> dict[str, Any]:
    return _named(f"ret-{n:03d}", _a_return("accepted", updated=f"2026-11-20T10:{n // 60:02d}:{n % 60:02d}Z"))


def test_a_schema_change_then_sigkill_then_resume_loses_no_return(tmp_path: Path, target_here: TargetCommand) -> None:
    # 300 returns, a bookmark after every 100; the schema changes after return 50, when 10
    # of them wait in a batch of 20. The target is killed once it passes on a bookmark.
    changed = json.loads(TAP_SCHEMA)
    changed["schema"]["properties"]["id"]["description"] = "changed mid-stream"
    messages: list[dict[str, Any]] = [json.loads(TAP_SCHEMA)]
    for n in range(300):
        messages.append(_record(_numbered(n)))
        if n == 49:
            messages.append(changed)
        if n % 100 == 99:
            messages.append({"type": "STATE", "value": {"bookmark": n}})
    lines = _lines(*messages)
    sent = lines[: lines.index(json.dumps(messages[-1])) - 1]
    bookmark = first_bookmark_then_sigkill(tmp_path, target_config(tmp_path, batch_size_rows=20), sent)
    assert bookmark is not None, "the target passed on no bookmark"

    # Resumed as Meltano would: the tap starts again after the bookmark passed on.
    resume_at = lines.index(json.dumps({"type": "STATE", "value": bookmark}))
    rerun = target_here(tmp_path, target_config(tmp_path), [json.dumps(changed), *lines[resume_at + 1 :]])

    assert rerun.returncode == 0, rerun.stderr
    with _store(tmp_path) as conn:
        stored = conn.execute(sa.text("select count(*) from reveni_returns")).scalar_one()
    assert stored == 300


# --- malformed Singer lines ---------------------------------------------------------------

SCHEMA_LINE = json.dumps({"type": "SCHEMA", "stream": "returns", "schema": {"properties": {}}, "key_properties": []})
MALFORMED: dict[str, tuple[str, str]] = {
    # what is wrong -> (the line, words the message must hold)
    "not JSON": ("{not json", "not JSON"),
    "cut short": ('{"type": "RECORD", "stream": "returns", "rec', "not JSON"),
    "a list": ('["RECORD"]', "not a list"),
    "text": ('"RECORD"', "not text"),
    "a number": ("42", "not a whole number"),
    "null": ("null", "not null"),
    "no type": ('{"stream": "returns"}', "`type` is missing"),
    "type not text": ('{"type": 7, "stream": "returns"}', "`type` is a whole number"),
    "unknown type": ('{"type": "RECORDS", "stream": "returns"}', "unknown message type 'RECORDS'"),
    "record without stream": ('{"type": "RECORD", "record": {}}', "a RECORD message without `stream`"),
    "record without record": ('{"type": "RECORD", "stream": "returns"}', "a RECORD message without `record`"),
    "record a list": (
        '{"type": "RECORD", "stream": "returns", "record": []}',
        "`record` of a RECORD message is a list",
    ),
    "stream not text": ('{"type": "RECORD", "stream": 5, "record": {}}', "`stream` of a RECORD message is a whole"),
    "schema not an object": ('{"type": "SCHEMA", "stream": "returns", "schema": []}', "`schema` of a SCHEMA message"),
    "schema without properties": (
        '{"type": "SCHEMA", "stream": "returns", "schema": {}}',
        "`schema` of a SCHEMA message has no `properties` object",
    ),
    "properties a list": (
        '{"type": "SCHEMA", "stream": "returns", "schema": {"properties": []}}',
        "`schema` of a SCHEMA message has no `properties` object",
    ),
    "key_properties not names": (
        '{"type": "SCHEMA", "stream": "returns", "schema": {"properties": {}}, "key_properties": [1]}',
        "`key_properties` of a SCHEMA message is not a list of field names",
    ),
    "a stream the target does not load": (
        '{"type": "SCHEMA", "stream": "orders", "schema": {"properties": {}}}',
        "loads tap-reveni's `returns` stream only",
    ),
    "key_properties not a list": (
        '{"type": "SCHEMA", "stream": "returns", "schema": {"properties": {}}, "key_properties": "id"}',
        "`key_properties` of a SCHEMA message is not a list of field names",
    ),
    "state without value": ('{"type": "STATE"}', "a STATE message without `value`"),
    "record before its schema": (
        '{"type": "RECORD", "stream": "other", "record": {}}',
        "before a corresponding schema",
    ),
}


class _Calls:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def callbacks(self) -> dict[str, Any]:
        return {kind: self._keep for kind in ("SCHEMA", "RECORD", "STATE", "ACTIVATE_VERSION", "BATCH")}

    def _keep(self, message: dict[str, Any]) -> None:
        if message["type"] == "RECORD" and message["stream"] == "other":
            from singer_sdk.exceptions import RecordsWithoutSchemaException

            raise RecordsWithoutSchemaException(
                "A record for stream 'other' was encountered before a corresponding schema."
            )
        if message["type"] == "SCHEMA" and message["stream"] != "returns":
            raise StreamRefused("target-khaos-control loads tap-reveni's `returns` stream only")
        self.seen.append(message["type"])


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_a_malformed_singer_line_stops_with_one_line_naming_its_number_and_fault(case: str) -> None:
    line, words = MALFORMED[case]
    calls = _Calls()

    with pytest.raises(SystemExit) as stopped:
        Reader().process_lines(io.StringIO(f"{SCHEMA_LINE}\n\n{line}\n{SCHEMA_LINE}\n"), calls.callbacks())

    message = str(stopped.value.code)
    assert message.startswith("target-khaos-control: line 3 of the Singer input: "), message
    assert words in message, message
    assert "\n" not in message
    assert calls.seen == ["SCHEMA"], "nothing after the bad line is read"


def test_a_null_record_is_said_and_skipped_and_the_rest_is_read(caplog: pytest.LogCaptureFixture) -> None:
    calls = _Calls()
    lines = [SCHEMA_LINE, '{"type": "RECORD", "stream": "returns", "record": null}', '{"type": "STATE", "value": {}}']

    Reader().process_lines(io.StringIO("\n".join(lines) + "\n"), calls.callbacks())

    assert calls.seen == ["SCHEMA", "STATE"]
    assert "Line 2: a RECORD of stream 'returns' with a null record: no return in it, skipped" in caplog.text


def test_lines_of_nothing_but_whitespace_are_skipped_yet_counted_in_the_line_numbers() -> None:
    calls = _Calls()
    blank = ["", "   ", "\t\r", "\u00a0\u2003"]  # empty; spaces; a tab and a CR; Unicode's spaces

    with pytest.raises(SystemExit) as stopped:
        Reader().process_lines(io.StringIO("\n".join([SCHEMA_LINE, *blank, "nonsense"]) + "\n"), calls.callbacks())

    assert calls.seen == ["SCHEMA"]
    assert "line 6 of the Singer input: not JSON" in str(stopped.value.code)


def test_the_target_stops_on_a_malformed_line_without_a_traceback(tmp_path: Path, target_here: TargetCommand) -> None:
    good = json.dumps(_record(_a_return("accepted")))

    run = target_here(tmp_path, target_config(tmp_path), [TAP_SCHEMA, good, '{"type": "RECORD", "stream": "returns"'])

    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert "line 3 of the Singer input: not JSON" in run.stderr
    assert run.states == [], "no bookmark passes over what was not committed"


def test_the_same_record_in_other_words_still_changes_nothing(tmp_path: Path, target_here: TargetCommand) -> None:
    # Sub-second precision kept: a version written with `.000` is the same moment as without.
    record = _a_return("accepted")
    again = copy.deepcopy(record) | {"updated_at": "2026-11-20T10:00:00.000Z"}
    target_here(tmp_path, target_config(tmp_path), _lines(TAP_SCHEMA, _record(record)))

    run = target_here(tmp_path, target_config(tmp_path), _lines(TAP_SCHEMA, _record(again)))

    assert "0 documents published, 0 put on hold, 1 unchanged" in run.stderr
