"""A record's way to its sink, without singer-sdk's per-record mapping when no setting asks for it.

singer-sdk's path copies each record for each of its stream maps, maps it, and looks up
its sink and its metadata setting again for every record: ~2 us of the ~6 us its path takes
(issue 22; the target's steps beside it are in sinks.py). With singer-sdk's default map alone (no `stream_maps` for the stream, no flattening)
and no record metadata (`add_record_metadata`), each of those steps changes nothing, and
the record takes the remaining steps here; any other case takes singer-sdk's own path.
Used by the target and by its matched no-op yardstick (bench/matched_noop_target.py).
"""

from __future__ import annotations

from typing import Any

from singer_sdk.mapper import SameRecordTransform, StreamMap
from singer_sdk.sinks import Sink
from singer_sdk.target_base import Target


class PlainRecordsTarget(Target):
    """A singer-sdk target whose records go to their sink the plain way when nothing would change them.

    The plain way hands each record to its stream's sink: a subclass whose `get_sink` picks
    a sink by the record must not use it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """A target with no sink noted yet."""
        # stream -> its sink and the stream maps it was noted with (`note_sink`)
        self.plain_sinks: dict[str, tuple[Sink, list[StreamMap]]] = {}
        super().__init__(*args, **kwargs)

    def note_sink(self, sink: Sink) -> None:
        """Note whether singer-sdk's path would change nothing in a record of `sink` that the
        plain path (`_process_record_message`) leaves as it is; each sink calls this when made."""
        maps = self.mapper.stream_maps.get(sink.stream_name)  # registered just before the sink is made
        if (
            maps is not None
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == sink.stream_name
            and not maps[0].flattening_enabled
            and not sink.include_sdc_metadata_properties
        ):
            self.plain_sinks[sink.stream_name] = (sink, maps)
        else:
            self.plain_sinks.pop(sink.stream_name, None)

    def _process_record_message(self, message_dict: dict[str, Any]) -> None:
        # Stays private (CONTRIBUTING.md): singer-sdk has no public hook for a record's way to
        # its sink. The noted sink and maps must still be the stream's (the config is fixed for
        # the run; a new SCHEMA makes a new sink, noted again), else singer-sdk's path is taken.
        stream_name, record = message_dict["stream"], message_dict.get("record")
        plain = self.plain_sinks.get(stream_name)
        if (
            plain is None
            or type(record) is not dict
            or plain[0] is not self._sinks_active.get(stream_name)
            or plain[1] is not self.mapper.stream_maps.get(stream_name)
        ):
            super()._process_record_message(message_dict)
            return
        sink = plain[0]
        # singer-sdk's steps but the copy (one map: nothing else reads the message's record once
        # handed on), the identity map and the look-ups: the same record, the same calls.
        context = sink._get_context(record)
        sink._remove_sdc_metadata_from_record(record)
        sink._validate_and_parse(record)
        record = sink.preprocess_record(record, context)
        sink._singer_validate_message(record)
        sink.tally_record_read()
        sink.process_record(record, context)
        sink.record_counter_metric.increment()
        sink._after_process_record(context)
        if sink.is_full:
            self.logger.info(
                "Target sink for '%s' is full. Current size is '%s'. Draining...", sink.stream_name, sink.current_size
            )
            self.drain_one(sink)
        self._handle_max_record_age()
