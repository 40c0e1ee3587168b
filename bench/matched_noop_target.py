"""A no-op target matched to target-khaos-control: the target's own reader and decoder
(`singer_input.Reader`, msgspec), the target's way from a line to its sink
(`plain_records.PlainRecordsTarget`), singer-sdk's validation off as the target has it, the
full record check every record gets (`rules.validation.unreadable`: tap-reveni's schema
and the contract beyond it), then the record is dropped. What the target does beyond
this is its own cost: rules, documents, the store."""

from __future__ import annotations

from typing import Any

from singer_sdk import typing as th
from singer_sdk.sinks import RecordSink
from target_khaos_control.plain_records import PlainRecordsTarget
from target_khaos_control.rules.validation import unreadable
from target_khaos_control.singer_input import Reader


class CheckedNoopSink(RecordSink):
    """Checks each record fully, as the rules do first, and keeps nothing."""

    def __init__(self, target: Any, stream_name: str, schema: dict[str, Any], key_properties: Any) -> None:
        # As the target's sink: no date-time formats left for singer-sdk to parse.
        properties = schema.get("properties", {})
        plain = {name: {k: v for k, v in spec.items() if k != "format"} for name, spec in properties.items()}
        super().__init__(target, stream_name, {**schema, "properties": plain}, key_properties)
        self.broken = 0
        target.note_sink(self)

    def get_validator(self) -> None:
        return None

    def _validate_and_parse(self, record: dict[str, Any]) -> dict[str, Any]:
        return record

    def process_record(self, record: dict[str, Any], context: dict[str, Any]) -> None:
        if unreadable(record):
            self.broken += 1

    def clean_up(self) -> None:
        self.logger.info("checked records: %d broke the contract", self.broken)


class MatchedNoopTarget(PlainRecordsTarget):
    """target-khaos-control's reading and checking, and nothing else."""

    name = "target-matched-noop"
    message_reader_class = Reader
    config_jsonschema = th.PropertiesList().to_dict()
    default_sink_class = CheckedNoopSink


if __name__ == "__main__":
    MatchedNoopTarget.cli()
