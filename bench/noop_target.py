"""A singer-sdk target that does nothing with its records: the yardstick for
target-khaos-control's own cost (parsing, validation and batching are the SDK's)."""

from __future__ import annotations

from typing import Any

from singer_sdk import typing as th
from singer_sdk.sinks import RecordSink
from singer_sdk.target_base import Target


class NoopSink(RecordSink):
    def process_record(self, record: dict[str, Any], context: dict[str, Any]) -> None:
        pass


class NoopTarget(Target):
    name = "target-noop"
    config_jsonschema = th.PropertiesList().to_dict()
    default_sink_class = NoopSink


if __name__ == "__main__":
    NoopTarget.cli()
