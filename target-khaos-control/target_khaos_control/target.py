"""target-khaos-control: Reveni returns in, Khaos Control customer returns out."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from singer_sdk.target_base import Target
from sqlalchemy.engine import Engine

from target_khaos_control.rules import RuleSet, RuleSetError, load_ruleset
from target_khaos_control.settings import CONFIG_SCHEMA
from target_khaos_control.sinks import ReturnsSink
from target_khaos_control.store import open_store


class TargetKhaosControl(Target):
    """Turns each Reveni return into Khaos `CustomerReturn` documents in the store the
    channel serves to Khaos Control."""

    name = "target-khaos-control"
    config_jsonschema = CONFIG_SCHEMA
    default_sink_class = ReturnsSink

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A broken rule set stops the target before it reads a single record.
        try:
            _ = self.ruleset
        except RuleSetError as error:
            raise SystemExit(f"target-khaos-control: the rule set is not usable:\n{error}") from None

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


if __name__ == "__main__":
    TargetKhaosControl.cli()
