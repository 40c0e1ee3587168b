"""target-khaos-control: Reveni returns in, Khaos Control customer returns out."""

from __future__ import annotations

import copy
import gc
import os
from collections import Counter
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import PluginCapabilities
from singer_sdk.helpers.types import Record

from target_khaos_control.config_errors import refusal
from target_khaos_control.plain_records import PlainRecordsTarget
from target_khaos_control.settings import CONFIG_SCHEMA
from target_khaos_control.singer_input import Reader, StreamRefused

# The store, the rules and the alerts (SQLAlchemy, Alembic, Jinja, requests) are imported
# where a run first needs them, not here: `--about`, `--help` and a refused config then
# start in singer-sdk's own time (issue 22; tests/test_startup.py).
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from singer_sdk.sinks import Sink
    from sqlalchemy.engine import Engine

    from target_khaos_control.exception_log import ExceptionStream
    from target_khaos_control.rules import RuleSet
    from target_khaos_control.sinks import ReturnsSink


# How many new objects the garbage collector lets pile up before it looks for cycles (Python: 700).
# 1,000,000 saved nothing more (round 6, 50k returns, 3 runs).
YOUNG_OBJECTS_PER_COLLECTION = 50_000


class TargetKhaosControl(PlainRecordsTarget):
    """Turns each Reveni return into Khaos `CustomerReturn` documents in the store the
    channel serves to Khaos Control."""

    name = "target-khaos-control"
    # What it really does: every record is checked in full against Reveni's contract by the
    # rules (`reveni.py`), whatever singer-sdk's `validate_records` says, so that setting is
    # not offered; a flattened record would no longer be a Reveni return, so neither is that.
    capabilities = [  # noqa: RUF012 (singer-sdk's own class attribute)
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]
    message_reader_class = Reader
    config_jsonschema = CONFIG_SCHEMA
    # Set by the command, never in process (tests, the SDK suite): what start-up loaded lives
    # until the process ends, so the garbage collector is told to leave it alone (gc.freeze),
    # which saves a tenth of a second of CPU, mostly at exit (issue 22; bench/startup.py);
    # the command (command.py) starts with the collector off; `__init__` turns it on at its end.
    freeze_after_start = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Refuse a broken rule set or a clash of clients, claim the store and start the run on record."""
        from target_khaos_control.client_store import claim_store, client_name, masked
        from target_khaos_control.clients import clash_for
        from target_khaos_control.rules import RuleSetError
        from target_khaos_control.rules.catalogue import Latest
        from target_khaos_control.run_log import start_run

        # singer-sdk's own config messages would print a secret given with the wrong type, and
        # name neither the environment variable to set nor every problem in one place. Only
        # its check against the settings' schema (the one that carries it) is replaced.
        try:
            super().__init__(*args, **kwargs)
        except ConfigValidationError as error:
            if error.schema is None:
                raise
            raise refusal("target-khaos-control", "loader", self.config_jsonschema, dict(self.config)) from None
        # One stream, one store: nothing to gain from singer-sdk's thread pool (joblib) for the
        # drains at the end, which cost its start-up each time (issue 22). Sinks drain in turn.
        self.max_parallelism = 1
        self.returns_sinks: list[ReturnsSink] = []  # each sink made this run, to know which hold records
        self.started, self.run_counts = datetime.now(UTC), Counter[str]()
        self.passed_on: Mapping[str, object] | None = None  # the last STATE written: the tap's, as it sent it
        self.catalogue = Latest()
        if self.config.get("alert_format") == "pagerduty" and not self.config.get("alert_routing_key"):
            raise SystemExit(
                "target-khaos-control: alert_format is pagerduty but no alert_routing_key is set "
                "(set TARGET_KHAOS_CONTROL_ALERT_ROUTING_KEY to the PagerDuty service's integration key)"
            )
        # A broken rule set stops the target before it reads a single record.
        try:
            _ = self.ruleset
        except RuleSetError as error:
            raise SystemExit(f"target-khaos-control: the rule set is not usable:\n{error}") from None
        clash = clash_for(client_name(self.config), os.environ.get("MELTANO_ENVIRONMENT"))
        if clash:  # two clients of this project would share a store, state, exceptions or port
            raise SystemExit(f"target-khaos-control: {clash}")
        claim_store(self.engine, client_name(self.config), masked(self.config["database_url"]))
        with self.engine.begin() as conn:  # on the Runs page from now: a sync that dies stays unfinished
            self.run_id = start_run(conn, "sync", self.started)
        if self.freeze_after_start:
            gc.freeze()
        if not gc.isenabled():  # the command started with it off (command.py): on again for the run
            # A batch's records live until it is committed; at Python's default (a collection
            # each 700 new objects) each is walked several times while it waits, ~10 us a
            # return. Cycles (rare here) wait a little longer to be freed: memory stays flat.
            gc.set_threshold(YOUNG_OBJECTS_PER_COLLECTION)
            gc.enable()

    @classmethod
    def invoke(cls, **options: Any) -> None:
        """Run the target; a refusal (a SystemExit with a message) is logged as one ERROR, which
        Meltano shows as an error, rather than printed raw (which it shows as info)."""
        cls.freeze_after_start = True
        gc.freeze()  # singer-sdk and this module; the store and the rules after __init__
        try:
            super().invoke(**options)
        except SystemExit as stop:
            if not isinstance(stop.code, str):
                raise
            cls.logger.error("%s", stop.code)
            raise SystemExit(1) from None

    def get_sink_class(self, stream_name: str) -> type[ReturnsSink]:
        """The returns sink for tap-reveni's `returns` stream; any other stream is refused."""
        if stream_name != "returns":
            msg = f"target-khaos-control loads tap-reveni's `returns` stream only; got a stream named {stream_name!r}"
            raise StreamRefused(msg)
        from target_khaos_control.sinks import ReturnsSink

        return ReturnsSink

    @cached_property
    def ruleset(self) -> RuleSet:
        """The client's rule set (`rules_path`), loaded once."""
        from target_khaos_control.rules import load_ruleset

        return load_ruleset(self.config["rules_path"])

    @cached_property
    def engine(self) -> Engine:
        """The store (`database_url`), migrated to the latest schema."""
        from target_khaos_control.store import open_store

        return open_store(self.config["database_url"])

    @cached_property
    def exception_stream(self) -> ExceptionStream:
        """The `exceptions` Singer stream of this run, to a file under `exceptions_path` if set."""
        from target_khaos_control.exception_log import ExceptionStream

        started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = self.config.get("exceptions_path")
        return ExceptionStream(Path(folder) / f"exceptions-{started}.jsonl" if folder else None)

    def get_sink(
        self,
        stream_name: str,
        *,
        record: Record | None = None,
        schema: dict[str, Any] | None = None,  # a SCHEMA message's JSON schema, untyped in singer-sdk
        key_properties: Sequence[str] | None = None,
    ) -> Sink:
        """The stream's sink; a changed SCHEMA retires the sink holding the records read so
        far, so those are committed first: no later batch's STATE can cover records still
        waiting in it."""
        if schema is not None and self.waiting():
            self.drain_all()
        return super().get_sink(stream_name, record=record, schema=schema, key_properties=key_properties)

    def waiting(self, *, besides: Sink | None = None) -> bool:
        """Whether a sink other than `besides` holds records not yet committed."""
        return any(sink.current_size for sink in self.returns_sinks if sink is not besides)

    def batch_committed(self, sink: ReturnsSink) -> None:
        """Every record `sink` read is now committed; when no other sink holds one still
        waiting, so is everything the latest STATE from the tap covers: pass it on now
        rather than at the end of the run or after singer-sdk's five minutes, so a
        target killed later resends only records it never committed."""
        if self._latest_state and not self.waiting(besides=sink):
            self._write_state_message(copy.deepcopy(self._latest_state))

    def _write_state_message(self, state: Mapping[str, object]) -> None:
        # Stays private (CONTRIBUTING.md): singer-sdk writes STATE only here, at its full
        # drains, and offers no public hook to pass it on after a batch commits, nor to skip
        # one already passed on (each full drain would write the last one again).
        if state != self.passed_on:
            self.passed_on = state
            super()._write_state_message(dict(state))

    def process_endofpipe(self) -> None:
        """At the end of the input: commit the rest, finish the run on record and send the owners' alerts."""
        from target_khaos_control.run_log import finish_run

        super().process_endofpipe()
        self.exception_stream.close()
        with self.engine.begin() as conn:
            finish_run(conn, self.run_id, dict(self.run_counts))
        self.logger.info(
            "Sync finished: %d returns, %d documents published, %d put on hold; %d exceptions opened, %d resolved",
            self.run_counts["returns"],
            self.run_counts["published"],
            self.run_counts["held"],
            self.run_counts["exceptions_opened"],
            self.run_counts["exceptions_resolved"],
        )
        url = self.config.get("alert_webhook_url")
        if url:
            from target_khaos_control import alerts

            destination = alerts.Destination(
                url,
                format=self.config.get("alert_format") or "slack",
                routing_key=self.config.get("alert_routing_key") or "",
                attempts=int(self.config["alert_attempts"]),
                backoff_seconds=float(self.config["alert_backoff_seconds"]),
            )
            sent = alerts.send(self.engine, destination, alerts.origin(self.config), datetime.now(UTC))
            self.logger.info("Sent %d alert event(s) (%s)", sent, destination.format)
        # Close the store's connections now: what start-up loaded is frozen (gc.freeze), so
        # nothing would close them at exit, and SQLite folds its write-ahead log back into the
        # file only when the last connection closes (a copy of the file alone would miss it).
        self.engine.dispose()


if __name__ == "__main__":
    TargetKhaosControl.cli()
