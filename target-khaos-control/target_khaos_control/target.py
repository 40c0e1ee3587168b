"""target-khaos-control: Reveni returns in, Khaos Control customer returns out."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecReader, decoder
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.singerlib.json import deserialize_json
from singer_sdk.target_base import Target
from sqlalchemy.engine import Engine

from target_khaos_control import alerts
from target_khaos_control.client_store import claim_store, client_name, masked
from target_khaos_control.config_errors import refusal
from target_khaos_control.exception_log import ExceptionStream
from target_khaos_control.publishing import finish_run, start_run
from target_khaos_control.rules import RuleSet, RuleSetError, load_ruleset
from target_khaos_control.rules.catalogue import Latest
from target_khaos_control.settings import CONFIG_SCHEMA
from target_khaos_control.sinks import ReturnsSink
from target_khaos_control.store import open_store


class Reader(MsgSpecReader):
    """Each line decoded by msgspec (numbers with a point as Decimal, as singer-sdk's own
    reader); a line only Python's json reads (a bare NaN, say) is read as singer-sdk would,
    so the rules, not the reader, judge what it holds."""

    def deserialize_json(self, line: str) -> dict[str, Any]:
        try:
            return decoder.decode(line)  # type: ignore[no-any-return]
        except msgspec.DecodeError:
            return deserialize_json(line, parse_constant=Decimal)  # NaN as a Decimal too: never a float


class TargetKhaosControl(Target):
    """Turns each Reveni return into Khaos `CustomerReturn` documents in the store the
    channel serves to Khaos Control."""

    name = "target-khaos-control"
    message_reader_class = Reader
    config_jsonschema = CONFIG_SCHEMA
    default_sink_class = ReturnsSink

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.started, self.run_counts = datetime.now(UTC), Counter[str]()
        self.passed_on: dict[str, Any] | None = None  # the last STATE written
        self.catalogue = Latest()
        # A broken rule set stops the target before it reads a single record.
        try:
            _ = self.ruleset
        except RuleSetError as error:
            raise SystemExit(f"target-khaos-control: the rule set is not usable:\n{error}") from None
        claim_store(self.engine, client_name(self.config), masked(self.config["database_url"]))
        with self.engine.begin() as conn:  # on the Runs page from now: a sync that dies stays unfinished
            self.run_id = start_run(conn, "sync", self.started)

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        # singer-sdk's own messages would print a secret given with the wrong type, and name
        # neither the environment variable to set nor every problem in one place.
        try:
            return super()._validate_config(raise_errors=raise_errors)
        except ConfigValidationError:
            raise refusal("target-khaos-control", "loader", self.config_jsonschema, dict(self.config)) from None

    def get_sink_class(self, stream_name: str) -> type[ReturnsSink]:
        if stream_name != "returns":
            msg = f"target-khaos-control loads tap-reveni's `returns` stream only; got a stream named {stream_name!r}"
            raise ValueError(msg)
        return ReturnsSink

    @cached_property
    def ruleset(self) -> RuleSet:
        return load_ruleset(self.config["rules_path"])

    @cached_property
    def engine(self) -> Engine:
        return open_store(self.config["database_url"])

    @cached_property
    def exception_stream(self) -> ExceptionStream:
        started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        folder = self.config.get("exceptions_path")
        return ExceptionStream(Path(folder) / f"exceptions-{started}.jsonl" if folder else None)

    def batch_committed(self) -> None:
        """Every record read so far is now committed (one stream, so one sink, drained
        whole), and so is everything the latest STATE from the tap covers: pass it on
        now rather than at the end of the run or after singer-sdk's five minutes, so a
        target killed later resends only records it never committed."""
        if self._latest_state:
            self._write_state_message(copy.deepcopy(self._latest_state))

    def _write_state_message(self, state: dict[str, Any]) -> None:
        # singer-sdk's writer, called by it at each full drain and by us after each batch.
        if state != self.passed_on:
            self.passed_on = state
            super()._write_state_message(state)

    def process_endofpipe(self) -> None:
        super().process_endofpipe()
        self.exception_stream.close()
        with self.engine.begin() as conn:
            finish_run(conn, self.run_id, dict(self.run_counts))
        url = self.config.get("alert_webhook_url")
        if url:
            sent = alerts.send(
                self.engine,
                url,
                attempts=int(self.config["alert_attempts"]),
                backoff_seconds=float(self.config["alert_backoff_seconds"]),
            )
            self.logger.info("Sent %d alert message(s)", sent)


if __name__ == "__main__":
    TargetKhaosControl.cli()
