"""One configuration for the target and the channel service.

`meltano invoke --dump=config target-khaos-control` prints it as JSON; the target reads
it through singer-sdk and `reveni-khaos serve --config FILE` reads the same file, so the
two can never disagree about the database or the channel's credentials.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, ValidationError
from singer_sdk import typing as th

# How a return item names its sales order. The docs disagree (README L969 and L876, their
# examples at L1873 and L1959, returns.php L65): the table's form is the default.
SOURCE_REFERENCE_FORMS = ("SourceReference/SourceOrder", "SourceReturnReference/SourceOrder", "SourceReference")
ALERT_FORMATS = ("slack", "teams", "pagerduty", "json")

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "database_url",
        th.StringType,
        required=True,
        description="Where documents and Khaos's pushes are kept: a SQLite file or a Postgres URL",
    ),
    th.Property(
        "rules_path",
        th.StringType,
        required=True,
        description="The client's rule set: a folder holding rules.yml (see rules/README.md)",
    ),
    th.Property(
        "channel_username",
        th.StringType,
        required=True,
        description="Basic auth username set on the channel in Khaos Control",
    ),
    th.Property(
        "channel_password",
        th.StringType,
        required=True,
        secret=True,
        description="Basic auth password set on the channel in Khaos Control",
    ),
    th.Property(
        "public_url",
        th.StringType,
        required=True,
        description="The channel's address as Khaos reaches it (behind HTTPS in production)",
    ),
    th.Property(
        "client",
        th.StringType,
        description="The client this loader, its store and its channel belong to; empty: the rule set's "
        "folder name. A store holding another client's returns is refused",
    ),
    th.Property(
        "channel_port",
        th.IntegerType(minimum=1),
        default=8803,
        description="The port `reveni-khaos serve` listens on for this client (each client its own; "
        "`reveni-khaos clients check` compares them)",
    ),
    th.Property("batch_size", th.IntegerType(minimum=1), default=1000, description="Returns per pull"),
    th.Property(
        "pull_frequency_minutes",
        th.IntegerType(minimum=1),
        default=5,
        description="How often Khaos should pull returns (the config file's Frequency)",
    ),
    th.Property(
        "max_body_bytes",
        th.IntegerType(minimum=1),
        default=20_000_000,
        description="Largest push from Khaos the channel accepts",
    ),
    th.Property(
        "max_header_bytes",
        th.IntegerType(minimum=1024),
        default=65_536,
        description="Largest request line and headers the channel reads; more is refused before auth",
    ),
    th.Property(
        "source_reference_form",
        th.StringType,
        default=SOURCE_REFERENCE_FORMS[0],
        allowed_values=list(SOURCE_REFERENCE_FORMS),
        description="How a return item names its sales order: the docs' table (default), their examples, "
        "or returns.php's flat form",
    ),
    th.Property(
        "dashboard_username",
        th.StringType,
        description="The dashboard's own login (never the channel's), which can also assign and resolve exceptions; empty: no dashboard",
    ),
    th.Property("dashboard_password", th.StringType, secret=True, description="The dashboard's password"),
    th.Property(
        "exceptions_path",
        th.StringType,
        description="Folder for the exceptions stream, one JSON Lines file of Singer messages per run; "
        "empty: no file (the store keeps every exception)",
    ),
    th.Property(
        "alert_webhook_url",
        th.StringType,
        secret=True,
        description="Where each owner's alert event is posted after a sync (see docs/alerts/); empty: no alerts",
    ),
    th.Property(
        "alert_format",
        th.StringType,
        default="slack",
        allowed_values=list(ALERT_FORMATS),
        description="The alert's form: slack, teams (a Workflows webhook), pagerduty (Events v2) or json",
    ),
    th.Property(
        "alert_routing_key",
        th.StringType,
        secret=True,
        description="PagerDuty's integration key (alert_format pagerduty only)",
    ),
    th.Property("alert_attempts", th.IntegerType, default=3, description="Tries per alert before giving up"),
    th.Property("alert_backoff_seconds", th.NumberType, default=1.0, description="Wait before the 2nd try; doubles"),
    th.Property(
        "credit_note_columns",
        th.ObjectType(additional_properties=th.StringType),
        description="The headers of the client's Khaos credit-note export, if not the standard ones",
    ),
    th.Property(
        "unconfirmed_after_hours",
        th.NumberType,
        default=24,
        description="A return served to Khaos this long ago with no credit note is a gap",
    ),
    th.Property(
        "match_address_on",
        th.ArrayType(th.StringType),
        default=["Address1", "Postcode"],
        description="Address fields Khaos matches a customer's address on (the feed's Config.MatchAddressOn)",
    ),
    th.Property(
        "match_contact_on",
        th.ArrayType(th.StringType),
        default=["Surname"],
        description="Contact fields Khaos matches a customer's contact on (the feed's Config.MatchContactOn)",
    ),
).to_dict()


@dataclass(frozen=True)
class ChannelSettings:
    """What the channel (`reveni-khaos serve`) needs of the target's config."""

    database_url: str
    channel_username: str
    channel_password: str
    public_url: str
    batch_size: int
    pull_frequency_minutes: int
    max_body_bytes: int
    max_header_bytes: int
    match_address_on: list[str]
    match_contact_on: list[str]
    dashboard_username: str = ""
    dashboard_password: str = ""
    source_reference_form: str = SOURCE_REFERENCE_FORMS[0]
    channel_port: int = 8803
    client: str = ""  # whose store this is: empty, the rule set's folder name (client_store)
    rules_path: str = ""  # the dashboard names Khaos's sites from it; the channel itself reads no rules

    @classmethod
    def from_config(cls, config: Mapping[str, object], source: str = "config") -> ChannelSettings:
        """The channel's settings, checked against the same schema as the target's: a
        wrong type or value stops `serve` at its start, naming the setting."""
        # What the channel needs is checked below: `rules_path`, say, is the target's.
        errors = Draft7Validator(CONFIG_SCHEMA).iter_errors(config)
        problems = [_problem(error) for error in errors if error.validator != "required"]
        if problems:
            raise ValueError(f"{source}: {'; '.join(sorted(problems))}")
        values: dict[str, Any] = {}
        for spec in fields(cls):
            if config.get(spec.name) is not None:
                values[spec.name] = config[spec.name]
            elif "default" in CONFIG_SCHEMA["properties"][spec.name]:
                values[spec.name] = CONFIG_SCHEMA["properties"][spec.name]["default"]
            elif spec.name.startswith("dashboard_") or spec.name in ("rules_path", "client"):
                continue  # optional: no dashboard without its own login, site ids without rules
            else:
                raise ValueError(f"{source}: `{spec.name}` is required")
        if values["source_reference_form"] not in SOURCE_REFERENCE_FORMS:
            raise ValueError(f"{source}: `source_reference_form` must be one of {', '.join(SOURCE_REFERENCE_FORMS)}")
        if not values["channel_password"] or not values["channel_username"]:
            raise ValueError(f"{source}: `channel_username` and `channel_password` must not be empty")
        return cls(**values)


WORDS = {"integer": "a whole number", "number": "a number", "string": "text", "boolean": "true or false"}
WORDS |= {"array": "a list", "object": "an object"}


def _problem(error: ValidationError) -> str:
    """What is wrong with one setting, in words that never show its value (it may be a secret)."""
    name = ".".join(str(part) for part in error.absolute_path) or "the settings"
    wanted = error.validator_value
    if error.validator == "type":
        kinds = [WORDS.get(kind, kind) for kind in ([wanted] if isinstance(wanted, str) else wanted) if kind != "null"]
        return f"`{name}` must be {' or '.join(kinds)}"
    if error.validator == "minimum":
        return f"`{name}` must be at least {wanted}"
    if error.validator == "enum":
        return f"`{name}` must be one of {', '.join(map(str, wanted))}"
    return f"`{name}` is not valid ({error.validator})"


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A config file's settings, or an error naming the file and what is wrong with it."""
    path = Path(path)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{path}: cannot read ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON at line {error.lineno}, column {error.colno}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: expected a JSON object of settings")
    return config
