"""target-khaos-control turns Reveni returns into Khaos documents, exactly once.

Each test runs the target's command over Singer messages and reads the SQLite store it
writes: the first end to end, with the real `tap-reveni` and `target-khaos-control`
processes; those killed mid-run as processes too; the others call the same commands
inside the test's process (`tests/in_process.py`), which spares each a process start.
"""

from __future__ import annotations

import copy
import hashlib
import json
import signal
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tap_reveni.schemas import RETURN
from target_khaos_control.canonical import canonical_bytes, canonical_json, content_hash, stored_text
from target_khaos_control.rules import load_ruleset
from target_khaos_control.served_marks import settled_first

from tests.in_process import InProcessChannel, TapCommand, TargetCommand
from tests.servers import (
    BIN,
    DEMO_RULES,
    ReveniSandbox,
    first_bookmark_then_sigkill,
    run_tap,
    run_target,
    tap_output,
    target_config,
)

SCHEMA = json.dumps(
    {
        "type": "SCHEMA",
        "stream": "returns",
        "key_properties": ["id"],
        "schema": {"type": "object", "properties": {"id": {"type": "string"}}},
    }
)


def _store(workdir: Path) -> sa.Connection:
    return sa.create_engine(f"sqlite:///{workdir / 'store.db'}").connect()


def _documents(workdir: Path) -> dict[str, dict[str, Any]]:
    settled_first(sa.create_engine(f"sqlite:///{workdir / 'store.db'}"))  # as every reader of states
    with _store(workdir) as conn:
        rows = conn.execute(
            sa.text(
                "select associated_ref, state, body, feed_position from documents"
                " join document_bodies on document_bodies.document_id = documents.id"
            )
        ).mappings()
        return {row["associated_ref"]: {**row, "body": json.loads(row["body"])} for row in rows}


def _exceptions(workdir: Path) -> list[dict[str, Any]]:
    with _store(workdir) as conn:
        return [dict(row) for row in conn.execute(sa.text("select * from exceptions")).mappings()]


# The schema tap-reveni sends: the SDK parses what it marks as date-time.
TAP_SCHEMA = json.dumps({"type": "SCHEMA", "stream": "returns", "key_properties": ["id"], "schema": RETURN})


def _records(*returns: dict[str, Any], schema: str = SCHEMA) -> list[str]:
    return [schema, *(json.dumps({"type": "RECORD", "stream": "returns", "record": r}) for r in returns)]


def _a_return(
    *verdicts: str,
    instant: bool = False,
    refunded: bool = False,
    updated: str = "2026-11-20T10:00:00Z",
    reason: str = "size_too_small",
    tax_rate: str | None = "20.00",
) -> dict[str, Any]:
    items = []
    for n, verdict in enumerate(verdicts):
        item = {
            "id": f"item-{n}",
            "sku": "TEE-BLK-M",
            "ean": "5056000000017",
            "name": "Logo tee",
            "quantity": 1,
            "price": "24.00",
            "total": "24.00",
            "return_reason": {"code": reason, "label": reason},
            "exchange": None,
            "status": verdict,
            "reject_reason": "used" if verdict == "rejected" else None,
            "reject_reason_text": None,
        }
        if tax_rate is not None:
            item |= {"tax_rate": tax_rate, "tax": "4.00"}
        items.append(item)
    refunds = (
        [
            {
                "id": "r-1",
                "method": "bank_transfer",
                "amount": f"{24 * len(verdicts)}.00",  # every item, at 24.00 each
                "currency": "GBP",
                "status": "completed",
                "refunded_at": updated,
            }
        ]
        if refunded or instant
        else []
    )
    return {
        "id": "ret-1",
        "order": {"external_id": "5123400056", "number": "#10008"},
        "customer": {
            "id": "c-1",
            "email": "cust0001@example.com",
            "first_name": "Ana",
            "last_name": "Ruiz",
            "address": {
                "line1": "12 High Street",
                "line2": "",
                "city": "Leeds",
                "postcode": "LS1 4AP",
                "country_code": "GB",
            },
        },
        "type": "refund",
        "instant": instant,
        "status": "received",
        "refund_method": "bank_transfer",
        "currency": "GBP",
        "total": "48.00",
        "return_items": items,
        "refunds": refunds,
        "shipping": {"carrier": "Evri", "tracking_number": "H1"},
        "created_at": "2026-11-18T09:12:44Z",
        "updated_at": updated,
    }


def test_demo_returns_become_documents_or_exceptions_and_state_follows_commit(
    demo_sandbox: ReveniSandbox, tmp_path: Path
) -> None:
    tap = run_tap(tmp_path, demo_sandbox.tap_config())
    run = run_target(tmp_path, target_config(tmp_path), tap_output(tap))

    assert run.returncode == 0, run.stderr
    assert run.states[-1] == tap.state, "the target passes on the tap's bookmark once committed"
    documents = _documents(tmp_path)
    published = [d for d in documents.values() if d["state"] == "published"]
    assert len(published) > 50
    positions = sorted(d["feed_position"] for d in published)
    assert len(set(positions)) == len(published), "each its own place in the feed"
    assert positions[0] > 0
    with _store(tmp_path) as conn:
        sent = {i for (ids,) in conn.execute(sa.text("select item_ids from documents")) for i in json.loads(ids)}
    open_items = {(e["item_id"], e["kind"]) for e in _exceptions(tmp_path) if e["status"] == "open"}
    untaxed = [
        i["id"]
        for r in tap.records
        for i in r["return_items"]
        if "tax_rate" not in i and i["id"] in {item for item, _ in open_items}
    ]
    assert untaxed, "the demo data has lines with no tax rate"
    for item_id in untaxed:
        assert (item_id, "missing_tax_code") in open_items
        assert item_id not in sent, "an item with an open exception never goes to Khaos"
    made_by = load_ruleset(DEMO_RULES).content_hash
    with _store(tmp_path) as conn:
        hashes = {
            row[0]
            for row in conn.execute(
                sa.text("select ruleset_hash from documents union select ruleset_hash from exceptions")
            )
        }
    assert hashes == {made_by}, "each document and exception records the rule set that made it"


def test_the_same_records_twice_change_nothing(
    demo_sandbox: ReveniSandbox, tmp_path: Path, target_here: TargetCommand, tap_here: TapCommand
) -> None:
    lines = tap_output(tap_here(tmp_path, demo_sandbox.tap_config()))
    target_here(tmp_path, target_config(tmp_path), lines)
    before = _documents(tmp_path)

    again = target_here(tmp_path, target_config(tmp_path), lines)

    assert again.returncode == 0, again.stderr
    assert _documents(tmp_path) == before
    assert "0 documents published, 0 put on hold, 200 unchanged" in again.stderr


def test_a_change_before_khaos_pulls_updates_the_same_document(tmp_path: Path, target_here: TargetCommand) -> None:
    target_here(tmp_path, target_config(tmp_path), _records(_a_return("accepted", "pending")))
    first = _documents(tmp_path)["RV-ret-1"]

    later = _a_return("accepted", "accepted", refunded=True, updated="2026-11-21T10:00:00Z")
    target_here(tmp_path, target_config(tmp_path), _records(later))

    documents = _documents(tmp_path)
    assert list(documents) == ["RV-ret-1"]
    assert len(first["body"]["ReturnedItems"]) == 1
    assert len(documents["RV-ret-1"]["body"]["ReturnedItems"]) == 2
    assert documents["RV-ret-1"]["body"]["ProcessReturn"] is True
    assert documents["RV-ret-1"]["feed_position"] > first["feed_position"]


def test_after_khaos_pulls_later_items_go_in_a_follow_up_and_nothing_is_credited_twice(
    tmp_path: Path, target_here: TargetCommand
) -> None:
    config = target_config(tmp_path)
    target_here(tmp_path, config, _records(_a_return("accepted", "pending")))
    channel = InProcessChannel(config, tmp_path).start()  # Khaos pulls
    try:
        assert [
            r["AssociatedRef"]
            for r in channel.get("/khaos/returns.json", headers={"Sirion-Continuation": "2026-11-26 14:00:00Z"}).json()[
                "Returns"
            ]
        ] == ["RV-ret-1"]
        pulled = _documents(tmp_path)["RV-ret-1"]

        both = _a_return("accepted", "accepted", updated="2026-11-21T10:00:00Z")
        target_here(tmp_path, config, _records(both))
        refunded = _a_return("accepted", "accepted", refunded=True, updated="2026-11-22T10:00:00Z")
        target_here(tmp_path, config, _records(refunded))
    finally:
        channel.stop()

    documents = _documents(tmp_path)
    assert documents["RV-ret-1"] == pulled, "a pulled document never changes"
    follow_up = documents["RV-ret-1-2"]["body"]
    assert [line["Quantity"] for line in follow_up["ReturnedItems"]] == [1]
    assert len(documents) == 2


def test_rejected_items_and_unrefunded_pending_items_are_not_credited(
    tmp_path: Path, target_here: TargetCommand
) -> None:
    target_here(tmp_path, target_config(tmp_path), _records(_a_return("rejected", "pending")))

    assert _documents(tmp_path) == {}


def test_an_instant_refund_is_queued_for_approval_until_graded(tmp_path: Path, target_here: TargetCommand) -> None:
    target_here(tmp_path, target_config(tmp_path), _records(_a_return("pending", instant=True)))

    body = _documents(tmp_path)["RV-ret-1"]["body"]
    assert body["ProcessReturn"] is False
    assert body["ReturnedItems"][0]["UnitPrice"] == {"Gross": 24.0}
    assert body["ReturnedItems"][0]["SourceReference"] == {"SourceOrder": {"AssociatedRef": "5123400056"}}


def test_what_cannot_be_mapped_waits_as_an_exception_for_its_owner(tmp_path: Path, target_here: TargetCommand) -> None:
    unmapped = _a_return("accepted", reason="colour_not_as_pictured", tax_rate=None)
    target_here(tmp_path, target_config(tmp_path), _records(unmapped))

    assert _documents(tmp_path) == {}, "nothing Khaos could be sent for its only item"
    found = {(e["kind"], e["owner"], e["status"]) for e in _exceptions(tmp_path)}
    assert found == {("unknown_reason", "cx", "open"), ("missing_tax_code", "finance", "open")}

    fixed = _a_return("accepted", refunded=True, updated="2026-11-21T10:00:00Z")
    target_here(tmp_path, target_config(tmp_path), _records(fixed))
    assert _documents(tmp_path)["RV-ret-1"]["state"] == "published"
    assert {e["status"] for e in _exceptions(tmp_path)} == {"resolved"}


def test_a_malformed_record_becomes_an_exception_and_the_load_goes_on(
    tmp_path: Path, target_here: TargetCommand
) -> None:
    broken = {"id": "ret-broken", "updated_at": "2026-11-20T10:00:00Z", "status": "accepted"}
    run = target_here(tmp_path, target_config(tmp_path), _records(broken, _a_return("accepted")))

    assert run.returncode == 0, run.stderr
    assert "RV-ret-1" in _documents(tmp_path)
    invalid = [e for e in _exceptions(tmp_path) if e["kind"] == "invalid_record"]
    assert [(e["return_id"], e["owner"]) for e in invalid] == [("ret-broken", "integration")]


def test_a_price_only_pythons_json_reads_is_still_the_rules_to_judge(
    tmp_path: Path, target_here: TargetCommand
) -> None:
    nan = _a_return("accepted")
    nan["id"] = "ret-nan"
    lines = _records(nan, _a_return("accepted"))
    lines[1] = lines[1].replace('"price": "24.00"', '"price": NaN')  # no JSON, but Python's json reads it
    assert "NaN" in lines[1]

    run = target_here(tmp_path, target_config(tmp_path), lines)

    assert run.returncode == 0, run.stderr
    assert "RV-ret-1" in _documents(tmp_path)
    invalid = [e for e in _exceptions(tmp_path) if e["kind"] == "invalid_record"]
    assert [
        (e["return_id"], "price is Decimal('NaN'): expected text or null, not a number" in e["message"])
        for e in invalid
    ] == [("ret-nan", True)]


def test_a_broken_rule_set_stops_the_target_before_any_record(tmp_path: Path, target_here: TargetCommand) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rules.yml").write_text(
        (DEMO_RULES / "rules.yml").read_text().replace('khaos_reason: "2"', 'khaos_reason: "9"')
    )
    run = target_here(tmp_path, target_config(tmp_path, rules_path=str(rules)), _records(_a_return("accepted")))

    assert run.returncode != 0
    assert f"{rules / 'rules.yml'}:" in run.stderr
    assert "Khaos return reason '9' is not under khaos.return_reasons" in run.stderr
    assert not (tmp_path / "store.db").exists()


def test_a_stream_other_than_returns_is_refused_by_name(tmp_path: Path, target_here: TargetCommand) -> None:
    other = json.dumps({"type": "SCHEMA", "stream": "orders", "key_properties": [], "schema": {"properties": {}}})
    run = target_here(tmp_path, target_config(tmp_path), [other])

    assert run.returncode != 0
    assert "got a stream named 'orders'" in run.stderr


def test_killed_mid_stream_then_rerun_leaves_no_duplicate_and_nothing_missing(
    demo_sandbox: ReveniSandbox, tmp_path: Path, target_here: TargetCommand, tap_here: TapCommand
) -> None:
    lines = tap_output(tap_here(tmp_path, demo_sandbox.tap_config()))
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    clean.mkdir()
    killed.mkdir()
    target_here(clean, target_config(clean), lines)

    config_file = killed / "target-config.json"
    config_file.write_text(json.dumps(target_config(killed, batch_size_rows=20)))
    process = subprocess.Popen(
        [str(BIN / "target-khaos-control"), "--config", str(config_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdin is not None
    for line in lines[: len(lines) // 2]:
        process.stdin.write(line.encode() + b"\n")
    process.stdin.flush()
    _wait_for_documents(killed)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = len(_documents(killed))
    target_here(killed, target_config(killed), lines)

    assert 0 < partial < len(_documents(clean))
    as_body = {ref: doc["body"] for ref, doc in _documents(killed).items()}
    assert as_body == {ref: doc["body"] for ref, doc in _documents(clean).items()}
    with _store(killed) as conn:
        runs = [row.finished_at is None for row in conn.execute(sa.text("select finished_at from runs order by id"))]
    assert runs == [True, False], "the killed sync stays on record as unfinished; the rerun finished"


def test_killed_after_committing_batches_resumes_from_their_bookmark(
    demo_sandbox: ReveniSandbox, tmp_path: Path, tap_here: TapCommand
) -> None:
    # The tap says where it got to every 100 returns; the target commits every 20.
    lines = tap_output(tap_here(tmp_path, demo_sandbox.tap_config()))
    first_state = next(n for n, line in enumerate(lines) if json.loads(line)["type"] == "STATE")
    sent = lines[: first_state + 41]  # past the tap's first bookmark, and two batches more
    state = first_bookmark_then_sigkill(tmp_path, target_config(tmp_path, batch_size_rows=20), sent, timeout=60)

    assert state is not None, "the target passed on no bookmark although it had committed the records it covers"
    covered = [json.loads(line) for line in lines[:first_state]]
    assert state == json.loads(lines[first_state])["value"]
    with _store(tmp_path) as conn:
        stored = set(conn.execute(sa.text("select return_id from reveni_returns")).scalars())
    assert {m["record"]["id"] for m in covered if m["type"] == "RECORD"} <= stored, (
        "the bookmark covers only committed returns"
    )


def _wait_for_documents(workdir: Path) -> None:
    for _ in range(600):  # up to 30 s on a busy machine
        if (workdir / "store.db").exists():
            try:
                if _documents(workdir):
                    return
            except sa.exc.OperationalError:
                pass
        time.sleep(0.05)
    raise AssertionError("the target committed nothing")


def test_exchange_items_are_sent_with_the_returned_item(tmp_path: Path, target_here: TargetCommand) -> None:
    exchange = copy.deepcopy(_a_return("accepted"))
    exchange["type"] = "exchange"
    exchange["return_items"][0]["exchange"] = {"sku": "HOOD-GRY-M", "ean": "5056000000031", "quantity": 1}
    target_here(tmp_path, target_config(tmp_path), _records(exchange))

    body = _documents(tmp_path)["RV-ret-1"]["body"]
    assert body["ExchangeItems"][0]["SKU"] == "HOODIE-GREY-M", "the alias applies to exchange items too"
    assert body["ReturnedItems"][0]["SKU"] == "TEE-BLK-M"


def test_the_return_s_currency_is_on_its_document_and_on_each_exception(
    tmp_path: Path, target_here: TargetCommand
) -> None:
    euros = _a_return("accepted", refunded=True)
    euros["currency"] = "EUR"
    euros["refunds"][0] |= {"currency": "EUR", "amount": "20.00"}  # 4.00 kept back

    target_here(tmp_path, target_config(tmp_path), _records(euros))

    with _store(tmp_path) as conn:
        currencies = [tuple(row) for row in conn.execute(sa.text("select associated_ref, currency from documents"))]
    assert currencies == [("RV-ret-1", "EUR")]
    [difference] = [e for e in _exceptions(tmp_path) if e["kind"] == "refund_credit_difference"]
    assert json.loads(difference["details"])["currency"] == "EUR"
    assert "Reveni refunded 20.00 EUR; the credit asks Khaos for 24.00 EUR" in difference["message"]


def _named(return_id: str, record: dict[str, Any]) -> dict[str, Any]:
    return {**copy.deepcopy(record), "id": return_id}


def test_an_older_version_never_replaces_a_newer_one(tmp_path: Path, target_here: TargetCommand) -> None:
    newer = _a_return("accepted", "accepted", updated="2026-11-21T10:00:00Z")
    target_here(tmp_path, target_config(tmp_path), _records(newer))
    before = _documents(tmp_path)

    older = _a_return("accepted", "pending", updated="2026-11-20T10:00:00Z")
    run = target_here(tmp_path, target_config(tmp_path), _records(older))

    assert run.returncode == 0, run.stderr
    assert _documents(tmp_path) == before, "the newer version's document stands, in its place in the feed"
    assert "1 older than stored" in run.stderr


def test_a_status_moving_backwards_is_an_exception_for_cx_not_a_withdrawal(
    tmp_path: Path, target_here: TargetCommand
) -> None:
    target_here(
        tmp_path, target_config(tmp_path), _records({**_a_return("accepted", refunded=True), "status": "accepted"})
    )
    before = _documents(tmp_path)

    back = {**_a_return("pending", updated="2026-11-21T10:00:00Z"), "status": "in_progress"}
    run = target_here(tmp_path, target_config(tmp_path), _records(back))

    assert run.returncode == 0, run.stderr
    assert _documents(tmp_path) == before, "the published document is not withdrawn"
    found = [(e["kind"], e["owner"], e["status"]) for e in _exceptions(tmp_path)]
    assert found == [("status_moved_backwards", "cx", "open")]
    message = _exceptions(tmp_path)[0]["message"]
    assert "from 'accepted' to 'in_progress'" in message


# Records Reveni should never send, each with what the exception must name.
UNREADABLE: dict[str, tuple[dict[str, Any], str, str]] = {
    "created_at not a date": ({"created_at": "yesterday"}, "created_at", "'yesterday'"),
    "updated_at not a date": ({"updated_at": "2026-13-45T99:00:00Z"}, "updated_at", "'2026-13-45T99:00:00Z'"),
    "no updated_at": ({"updated_at": None}, "updated_at", "None"),
    "empty id": ({"id": ""}, "id", "''"),
    "no id": ({"id": None}, "id", "None"),
    "id not text": ({"id": 12345}, "id", "12345"),
    "id with a comma": ({"id": "ret-7,ret-8"}, "id", "'ret-7,ret-8'"),
    "zero quantity": ({"quantity": 0}, "return_items[0].quantity", "0"),
    "negative quantity": ({"quantity": -2}, "return_items[0].quantity", "-2"),
    "fractional quantity": ({"quantity": 1.5}, "return_items[0].quantity", "1.5"),
    "negative price": ({"price": "-24.00"}, "return_items[0].price", "'-24.00'"),
    "price not a number": ({"price": "24,00"}, "return_items[0].price", "'24,00'"),
    "a control character in the id": ({"id": "ret-\x00-bad"}, "id", "'ret-\\x00-bad'"),
}


@pytest.mark.parametrize("case", UNREADABLE, ids=list(UNREADABLE))
def test_an_unreadable_record_is_an_exception_naming_field_and_value_and_the_rest_loads(
    case: str, tmp_path: Path, target_here: TargetCommand
) -> None:
    changes, field, value = UNREADABLE[case]
    bad = _named("ret-bad", _a_return("accepted"))
    for name, new in changes.items():
        target = bad["return_items"][0] if name in ("quantity", "price", "name") else bad
        if new is None:
            del target[name]
        else:
            target[name] = new
    good_before, good_after = _named("ret-before", _a_return("accepted")), _named("ret-after", _a_return("accepted"))

    run = target_here(tmp_path, target_config(tmp_path), _records(good_before, bad, good_after, schema=TAP_SCHEMA))

    assert run.returncode == 0, run.stderr
    documents = _documents(tmp_path)
    assert {"RV-ret-before", "RV-ret-after"} <= set(documents)
    assert set(documents) == {"RV-ret-before", "RV-ret-after"}, "nothing of the bad record reaches Khaos"
    invalid = [e for e in _exceptions(tmp_path) if e["kind"] == "invalid_record"]
    assert len(invalid) == 1
    message = invalid[0]["message"]
    assert field in message, message
    assert value in message, message


def test_a_secret_of_the_wrong_type_is_named_but_never_printed(tmp_path: Path, target_here: TargetCommand) -> None:
    config = target_config(tmp_path, channel_password=98765432101234)

    run = target_here(tmp_path, config, _records(_a_return("accepted")))

    assert run.returncode != 0
    assert "98765432101234" not in run.stderr
    assert "channel_password" in run.stderr


def test_a_records_canonical_form_and_so_its_content_hash_is_what_it_always_was() -> None:
    record = {
        "z": [{"b": Decimal("1E+400"), "a": Decimal("-0.00")}],
        "text": "".join(chr(n) for n in range(256)) + "\u2028 \U0001f600 Zoë",
        "big": 10**30,
        "flags": [True, False, None],
    }

    before = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)

    assert canonical_json(record) == before
    assert canonical_json({"lone surrogate": "\ud800"}) == '{"lone surrogate":"\ud800"}'
    # and its hash, taken of the bytes, is the SHA-256 of that text as UTF-8 (surrogatepass), as it always was
    assert content_hash(canonical_bytes(record)) == hashlib.sha256(before.encode()).hexdigest()
    assert content_hash(canonical_bytes({"lone surrogate": "\ud800"})) == (
        hashlib.sha256(b'{"lone surrogate":"\xed\xa0\x80"}').hexdigest()
    )
    # and the text the store keeps of it: as written, a lone surrogate as its escape (documents.storable)
    assert stored_text(canonical_bytes(record)) == before
    assert stored_text(canonical_bytes({"lone surrogate": "\ud800"})) == '{"lone surrogate":"\\ud800"}'
