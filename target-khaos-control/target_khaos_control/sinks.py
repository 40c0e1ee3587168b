"""The `returns` stream into the store: one transaction per batch."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from singer_sdk.sinks import BatchSink

from target_khaos_control.exceptions import touched_since
from target_khaos_control.publishing import apply_returns
from target_khaos_control.rules import Catalogue
from target_khaos_control.store import now


class ReturnsSink(BatchSink):
    """Each batch is committed whole before singer-sdk emits the STATE that covers it,
    so a target killed mid-run resends only records it never committed, and those
    deduplicate on their content hash."""

    MAX_SIZE_DEFAULT = 500
    # A record that breaks the schema still reaches the rules, which turn it into an
    # `invalid_record` exception for a person, instead of stopping the whole load.
    fail_on_record_validation_exception = False

    def __init__(self, target: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(target, *args, **kwargs)
        self.target = target

    def preprocess_record(self, record: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
        # singer-sdk parses top-level timestamps; keep them as Reveni sent them.
        return {key: _iso(value) if isinstance(value, datetime) else value for key, value in record.items()}

    def process_batch(self, context: dict[str, Any]) -> None:
        records = context.get("records", [])
        if not records:
            return
        ruleset, moment = self.target.ruleset, now()
        with self.target.engine.begin() as conn:
            catalogue = Catalogue.read(conn)  # what Khaos last pushed about its stock
            entries = [(record, ruleset.draft(record, catalogue)) for record in records]
            counts = apply_returns(conn, entries, moment)
        self.target.run_counts.update({"returns": len(records), **vars(counts)})
        # Committed: now the exceptions this batch opened, saw again or resolved go out.
        with self.target.engine.connect() as conn:
            self.target.exception_stream.write(touched_since(conn, moment))
        self.logger.info(
            "Committed %d returns: %d documents published, %d held, %d unchanged",
            len(records),
            counts.published,
            counts.held,
            counts.unchanged,
        )


def _iso(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
