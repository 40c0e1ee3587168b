"""Neither plugin overrides a private singer-sdk method but those CONTRIBUTING.md says stay, and why."""

from __future__ import annotations

import copy
import importlib
import inspect
import io
import json
import pkgutil
import re
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import singer_sdk.streams.core
import tap_reveni.client
import tap_reveni.pagination
import tap_reveni.streams
import tap_reveni.tap
import tap_reveni.writer
import target_khaos_control
from reveni_khaos_sandbox.reveni_data import ReturnGenerator
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.target_base import Target
from tap_reveni.schemas import RETURN
from target_khaos_control.sinks import ReturnsSink
from target_khaos_control.target import TargetKhaosControl

from tests.servers import target_config

ROOT = Path(__file__).resolve().parent.parent
TAP = (tap_reveni.client, tap_reveni.pagination, tap_reveni.streams, tap_reveni.tap, tap_reveni.writer)


def target_modules() -> list[ModuleType]:
    """Every module of target_khaos_control but its migrations and `__main__` (scripts, not libraries)."""
    names = pkgutil.walk_packages(target_khaos_control.__path__, "target_khaos_control.")
    return [
        importlib.import_module(name) for _, name, _ in names if ".migrations" not in name and "__main__" not in name
    ]


def private_sdk_overrides(modules: tuple[ModuleType, ...] | list[ModuleType]) -> set[str]:
    """Each `module.Class._name` of `modules` that replaces a private name a singer-sdk base defines."""
    found = set()
    for module in modules:
        for cls in vars(module).values():
            if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                continue
            sdk_bases = [base for base in cls.__mro__[1:] if base.__module__.startswith("singer_sdk")]
            for name, value in vars(cls).items():
                method = inspect.isfunction(value) or isinstance(value, (property, cached_property))
                private = name.startswith("_") and not name.startswith("__")
                if method and private and any(name in vars(base) for base in sdk_bases):
                    found.add(f"{module.__name__}.{cls.__name__}.{name}")
    return found


def listed_as_staying(package: str) -> set[str]:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    section = text.split("## singer-sdk overrides that stay", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(rf"^- `({package}\.[\w.]+)`: \S", section, flags=re.MULTILINE))


def test_every_private_singer_sdk_override_of_the_tap_is_listed_with_its_reason() -> None:
    assert private_sdk_overrides(TAP) == listed_as_staying("tap_reveni")


def test_every_private_singer_sdk_override_of_the_target_is_listed_with_its_reason() -> None:
    assert private_sdk_overrides(target_modules()) == listed_as_staying("target_khaos_control")


def test_the_check_sees_a_private_override() -> None:
    """Given the plugins as they are, expect the check to find overrides that stay (it is not blind)."""
    assert "tap_reveni.streams.ReturnsStream._increment_stream_state" in private_sdk_overrides(TAP)
    assert "target_khaos_control.sinks.ReturnsSink._validate_and_parse" in private_sdk_overrides(target_modules())


def records_written(stream: Any, record: dict[str, Any], capsysbinary: pytest.CaptureFixture[bytes]) -> list[Any]:
    """The RECORD lines `stream` writes for `record`, as the target reads them."""
    capsysbinary.readouterr()
    stream._write_record_message(copy.deepcopy(record))
    tap_reveni.writer.flush()
    return [json.loads(line) for line in capsysbinary.readouterr().out.splitlines()]


RECORD = {"id": "ret-1", "customer": {"id": "c-1"}, "status": "accepted", "updated_at": "2026-11-20T12:00:00Z"}
CONFIG = {"api_key": "k", "store_id": "s"}


def test_a_field_deselected_in_the_catalog_is_still_left_out_of_every_record(
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    """Given Meltano's catalog with `customer` deselected, expect records without it: the fast
    path of `_write_record_message` is taken only when every field is selected."""
    catalog = json.loads((ROOT / "tap-reveni" / "catalog.json").read_text())
    for entry in catalog["streams"][0]["metadata"]:
        if entry["breadcrumb"] == ["properties", "customer"]:
            entry["metadata"]["selected"] = False

    everything = tap_reveni.tap.TapReveni(config=CONFIG).streams["returns"]
    deselected = tap_reveni.tap.TapReveni(config=CONFIG, catalog=catalog).streams["returns"]

    assert [m["record"] for m in records_written(everything, RECORD, capsysbinary)] == [RECORD]
    assert [m["record"] for m in records_written(deselected, RECORD, capsysbinary)] == [
        {"id": "ret-1", "status": "accepted", "updated_at": "2026-11-20T12:00:00Z"}
    ]


WITHOUT_CUSTOMER = {"id": "ret-1", "status": "accepted", "updated_at": "2026-11-20T12:00:00Z"}


@pytest.mark.parametrize(
    ("maps", "expected"),
    [
        ({"returns": {"customer": None}}, [("returns", WITHOUT_CUSTOMER)]),
        ({"returns_copy": {"__source__": "returns"}}, [("returns", RECORD), ("returns_copy", RECORD)]),
        (
            {"returns": {"customer": None}, "returns_copy": {"__source__": "returns"}},
            [("returns", WITHOUT_CUSTOMER), ("returns_copy", RECORD)],
        ),
    ],
)
def test_stream_maps_still_apply_to_every_record(
    maps: dict[str, Any], expected: list[tuple[str, Any]], capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """Given stream maps that drop `customer`, copy the stream, or both, expect each record mapped
    and copied: the fast path is taken only for singer-sdk's default map alone."""
    stream = tap_reveni.tap.TapReveni(config={**CONFIG, "stream_maps": maps}).streams["returns"]

    written = records_written(stream, RECORD, capsysbinary)

    assert [(m["stream"], m["record"]) for m in written] == expected


def test_a_stream_that_conforms_types_still_conforms_every_record(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """Given the stream set to conform the top level of each record to its schema, expect a field
    the schema does not have dropped: the fast path is taken only when nothing is conformed."""

    class Conforming(tap_reveni.streams.ReturnsStream):
        TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY

    stream = Conforming(tap_reveni.tap.TapReveni(config=CONFIG))

    written = records_written(stream, {**RECORD, "not_in_the_schema": 1}, capsysbinary)

    assert [m["record"] for m in written] == [RECORD]


@pytest.mark.parametrize("version", [None, 1764806400])
def test_the_fast_path_writes_the_line_singer_sdk_writes(
    version: int | None, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    """Given a record going out as read, expect byte for byte the line singer-sdk's own path writes
    (a RecordMessage through the tap's writer), with and without a stream version."""
    extracted = datetime(2026, 12, 4, 18, 30, 5, 123456, tzinfo=UTC)
    monkeypatch.setattr(tap_reveni.streams, "utc_now", lambda: extracted)
    monkeypatch.setattr(singer_sdk.streams.core, "utc_now", lambda: extracted)
    stream = tap_reveni.tap.TapReveni(config=CONFIG).streams["returns"]
    stream._stream_version = version
    record = {**RECORD, "refunds": [{"amount": Decimal("24.00")}], "note": "Café ✓"}

    capsysbinary.readouterr()
    stream._write_record_message(copy.deepcopy(record))
    tap_reveni.writer.flush()
    fast = capsysbinary.readouterr().out
    for message in singer_sdk.streams.core.Stream._generate_record_messages(stream, copy.deepcopy(record)):
        stream._tap.write_message(message)
    tap_reveni.writer.flush()
    sdk = capsysbinary.readouterr().out

    assert fast == sdk
    version_part = b"" if version is None else b',"version":1764806400'
    assert fast.endswith(version_part + b',"time_extracted":"2026-12-04T18:30:05.123456Z"}\n')


# The plain path for records (`PlainRecordsTarget._process_record_message`).


def singer_input() -> list[str]:
    """Twelve returns as tap-reveni sends them, with STATE between, odd records among them
    (singer-sdk metadata fields, a timestamp to normalise, no key), and the schema sent
    again changed halfway (a new sink)."""
    returns = [ReturnGenerator(seed=7, count=12).build(n) for n in range(12)]
    returns[1]["_sdc_extracted_at"] = "2026-12-04T18:30:05Z"
    returns[2]["updated_at"] = "2026-11-20T11:00:00+01:00"
    del returns[3]["id"]
    returns[4]["not_in_the_schema"] = 1
    schema = {"type": "SCHEMA", "stream": "returns", "schema": RETURN, "key_properties": ["id"]}
    changed = {**schema, "schema": {**RETURN, "description": "changed"}}
    messages: list[dict[str, Any]] = [schema]
    for n, record in enumerate(returns):
        messages.append({"type": "RECORD", "stream": "returns", "record": record})
        messages.append({"type": "STATE", "value": {"bookmarks": {"returns": {"replication_key_value": str(n)}}}})
        if n == 6:
            messages.append(changed)
    return [json.dumps(message, default=str) for message in messages]


def run_target(
    workdir: Path, capsys: pytest.CaptureFixture[str], *, sdk_path: bool = False, **settings: Any
) -> tuple[list[list[dict[str, Any]]], list[str], dict[str, int], int]:
    """The batches the returns sinks were given, the STATE lines written, the run's counts,
    and how many records took singer-sdk's own path."""
    batches: list[list[dict[str, Any]]] = []
    sdk_records = 0
    kept_batch, sdk_path_itself = ReturnsSink.process_batch, Target._process_record_message

    def keeping(sink: ReturnsSink, context: dict[str, Any]) -> None:
        batches.append(copy.deepcopy(context["records"]))
        kept_batch(sink, context)

    def sdk_record(target: Target, message: dict[str, Any]) -> None:
        nonlocal sdk_records
        sdk_records += 1
        sdk_path_itself(target, message)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ReturnsSink, "process_batch", keeping)
        patch.setattr(Target, "_process_record_message", sdk_record)
        if sdk_path:
            patch.setattr(TargetKhaosControl, "_process_record_message", sdk_record)
        workdir.mkdir()
        target = TargetKhaosControl(config=target_config(workdir, batch_size_rows=5, **settings))
        capsys.readouterr()
        target.listen(io.StringIO("\n".join(singer_input()) + "\n"))
    return batches, capsys.readouterr().out.splitlines(), dict(target.run_counts), sdk_records


def test_the_plain_path_gives_the_sink_what_singer_sdks_path_gives_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Given tap-reveni's records under the target's settings (no stream map, no record metadata),
    expect the plain path taken for every record, and the same batches, STATE lines and counts
    as singer-sdk's own path gives."""
    plain = run_target(tmp_path / "plain", capsys)
    sdk = run_target(tmp_path / "sdk", capsys, sdk_path=True)

    batches, states, counts, sdk_records = plain
    assert sdk_records == 0
    assert sdk[3] == 12
    assert (batches, states, counts) == sdk[:3]
    assert [len(batch) for batch in batches] == [5, 2, 5]  # the changed schema commits the first sink's 2
    # after each commit, the latest STATE read before it; the last at the end of the input
    assert [json.loads(state)["bookmarks"]["returns"]["replication_key_value"] for state in states] == [
        "3",
        "6",
        "10",
        "11",
    ]
    assert counts["returns"] == 12
    second = batches[0][1]
    assert "_sdc_extracted_at" not in second  # singer-sdk's metadata fields taken out, as its path does
    assert batches[0][2]["updated_at"] == "2026-11-20T10:00:00Z"  # normalised to UTC
    assert batches[0][3]["id"] is None  # the key present, null: the rules name it


def test_a_stream_map_takes_singer_sdks_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Given a stream map dropping `customer`, expect singer-sdk's path for every record, and the map applied."""
    batches, _, counts, sdk_records = run_target(tmp_path / "map", capsys, stream_maps={"returns": {"customer": None}})

    assert sdk_records == 12
    assert counts["returns"] == 12
    assert all("customer" not in record for batch in batches for record in batch)


def test_record_metadata_takes_singer_sdks_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Given `add_record_metadata` on, expect singer-sdk's path for every record, and its metadata added."""
    batches, _, counts, sdk_records = run_target(tmp_path / "metadata", capsys, add_record_metadata=True)

    assert sdk_records == 12
    assert counts["returns"] == 12
    assert all("_sdc_received_at" in record for batch in batches for record in batch)
