"""Alerts reach operators where they work: one event per owner per run, in Slack's, Teams',
PagerDuty's or plain JSON form (as the samples in docs/alerts/ show), never carrying a
return's markup through, and at the level Meltano shows."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from meltano.core.logging.parsers import SingerSDKLogParser
from target_khaos_control import alerts, at_stake
from target_khaos_control.alert_formats import render
from target_khaos_control.store import exceptions, open_store

from tests.in_process import TargetCommand
from tests.servers import BIN
from tests.test_exceptions_and_reconciliation import Webhook, _config
from tests.test_target_khaos_control import _a_return, _records

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "docs" / "alerts"
ACME_PROD = alerts.Where("acme", "prod", "https://returns.acme.example/dashboard/")
RUN_AT = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
PD_KEY = "YOUR-PAGERDUTY-INTEGRATION-KEY"  # the samples' placeholder
HOSTILE = "<!channel> <https://x|Click>"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def _exception(
    trace_key: str, kind: str, owner: str, severity: str, first_seen: str, message: str, **details: Any
) -> dict[str, Any]:
    kind_, return_id, item_id = trace_key.split(":")
    assert kind_ == kind
    return {
        "trace_key": trace_key,
        "kind": kind,
        "owner": owner,
        "return_id": return_id,
        "item_id": item_id,
        "message": message,
        "status": "open",
        "first_seen": datetime.fromisoformat(first_seen),
        "last_seen": RUN_AT,
        "occurrences": 1,
        "severity": severity,
        "details": json.dumps(details),
        "ruleset_hash": "",
        "alerted_status": "",
        "alerted_severity": "",
    }


def _acme_store(tmp_path: Path) -> sa.Engine:
    """Given: finance has two open exceptions (one already alerted), CX one from a hostile return."""
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    rows = [
        _exception(
            "missing_tax_code:ret-1:item-0",
            "missing_tax_code",
            "finance",
            "high",
            "2026-11-30T09:00:00+00:00",
            "Tax rate 21.00 of TEE-BLK-M has no Khaos tax code",
            sku="TEE-BLK-M",
            quantity=2,
            price="24.00",
            currency="GBP",
            order_number="#10008",
            reason="size_too_small",
        ),
        _exception(
            "refund_credit_difference:ret-2:",
            "refund_credit_difference",
            "finance",
            "medium",
            "2026-12-03T10:00:00+00:00",
            "Reveni refunded 30.00 GBP; the credit asks Khaos for 24.00 GBP, a difference of 6.00 GBP.",
            currency="GBP",
            refunded="30.00",
            credited="24.00",
            difference="6.00",
            order_number="#10009",
        )
        | {"alerted_status": "open", "alerted_severity": "medium"},
        _exception(
            "unknown_reason:ret-3:item-0",
            "unknown_reason",
            "cx",
            "high",
            "2026-12-04T05:30:00+00:00",
            f"No rule maps the Reveni reason {HOSTILE}",
            sku="CAP-RED",
            quantity=1,
            price="12.50",
            currency="EUR",
            order_number=HOSTILE,
            reason=HOSTILE,
        ),
    ]
    with engine.begin() as conn:
        conn.execute(exceptions.insert(), rows)
    return engine


def _rendered(engine: sa.Engine, destination: alerts.Destination) -> dict[str, dict[str, Any]]:
    """Each owner's message as the destination reads it: the JSON posted."""
    return {
        event.owner: json.loads(json.dumps(render(event, destination)))
        for event, _ in alerts.events(engine, ACME_PROD, RUN_AT)
    }


def _sample(name: str) -> dict[str, Any]:
    sample: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return sample


def test_each_destination_gets_the_documented_sample(tmp_path: Path) -> None:
    engine = _acme_store(tmp_path)

    for name, form in (("event.json", "json"), ("slack.json", "slack"), ("teams.json", "teams")):
        finance = _rendered(engine, alerts.Destination("https://hooks.example", form))["finance"]
        assert finance == _sample(name), f"docs/alerts/{name} is what a {form} destination gets"
    paged = _rendered(engine, alerts.Destination("https://events.pagerduty.com/v2/enqueue", "pagerduty", PD_KEY))
    assert paged["finance"] == _sample("pagerduty.json")


def test_the_event_sums_up_the_owner_in_figures_a_person_checked(tmp_path: Path) -> None:
    events = {event.owner: (event, fresh) for event, fresh in alerts.events(_acme_store(tmp_path), ACME_PROD, RUN_AT)}

    finance, fresh = events["finance"]
    assert [row.trace_key for row in fresh] == ["missing_tax_code:ret-1:item-0"], "the alerted one is not new"
    assert (finance.open, finance.new, finance.severity) == (2, 1, "high")
    assert finance.at_stake == {"GBP": Decimal("54.00")}  # 2 x 24.00 held, plus the 6.00 difference
    assert finance.oldest_age_hours == 93  # 30 Nov 09:00 to 4 Dec 06:00: 4 days less 3 hours
    assert finance.by_severity == {"high": 1, "medium": 1, "low": 0}
    assert finance.dashboard_url == "https://returns.acme.example/dashboard/?owner=finance"
    assert events["cx"][0].at_stake == {"EUR": Decimal("12.50")}


def test_an_owner_is_told_of_exactly_the_rows_new_or_worse_than_alerted(store_url: str) -> None:
    # Given (SQLite, Postgres): one owner per open exception, each alerted (or not) at a severity,
    # some unknown to SEVERITY_RANK (which ranks an unknown severity high, an unknown alerted one never).
    engine = open_store(store_url)
    rows, told = [], set()
    for n, (status, severity, alerted) in enumerate(
        (status, severity, alerted)
        for status in ("", "open", "resolved")
        for severity in ("low", "medium", "high", "urgent!")
        for alerted in ("", "low", "medium", "high", "bogus")
    ):
        owner = f"owner-{n}"
        row = _exception(f"unknown_reason:ret-{n}:", "unknown_reason", owner, severity, "2026-12-01T00:00:00+00:00", "")
        rows.append(row | {"alerted_status": status, "alerted_severity": alerted})
        if alerts._worse(SimpleNamespace(alerted_status=status, severity=severity, alerted_severity=alerted)):
            told.add(owner)
    with engine.begin() as conn:
        conn.execute(exceptions.insert(), rows)

    # Expect: an event for each owner whose exception the Python rule calls new or worse, and no other.
    assert {event.owner for event, _ in alerts.events(engine, ACME_PROD, RUN_AT)} == told
    assert 0 < len(told) < len(rows)


def test_nothing_new_to_alert_reads_no_exception_row(tmp_path: Path) -> None:
    # Given: every open exception was alerted already at its severity, and no incident stands.
    engine = _acme_store(tmp_path)
    with engine.begin() as conn:
        conn.execute(exceptions.update().values(alerted_status="open", alerted_severity=exceptions.c.severity))
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *given: statements.append(given[2]))

    # Expect: no event, and only counts read: no row's message (a grown store's every open
    # exception, read whole, cost each run seconds of CPU).
    assert alerts.events(engine, ACME_PROD, RUN_AT) == []
    assert statements, "the counts were read"
    assert not [sql for sql in statements if "exceptions.message" in sql]


def test_money_at_stake_counts_each_item_once_and_leaves_out_what_cannot_be_read() -> None:
    def row(return_id: str, item_id: str, **details: Any) -> SimpleNamespace:
        return SimpleNamespace(return_id=return_id, item_id=item_id, details=json.dumps(details))

    rows = [
        row("ret-1", "item-0", price="24.00", quantity=2, currency="GBP"),
        row("ret-1", "item-0", price="24.00", quantity=2, currency="GBP"),  # a second problem on the same line
        row("ret-1", "item-1", price="12.50", quantity=3, currency="GBP"),
        row("ret-2", "", difference="-6.10", currency="GBP"),  # Reveni paid less than the credit
        row("ret-3", "item-0", price="9.99", quantity=1, currency="EUR"),
        row("ret-4", "item-0", price="abc", quantity=1, currency="EUR"),  # an invalid_record's price
        row("ret-5", "item-0", price="NaN", quantity=1, currency="EUR"),
        row("ret-6", "item-0", price="5.00", quantity=1),  # no currency
    ]

    assert at_stake.by_currency(rows) == {"EUR": Decimal("9.99"), "GBP": Decimal("91.60")}  # 48 + 37.50 + 6.10


def test_a_return_cannot_ping_a_slack_channel_or_hide_a_link(
    tmp_path: Path, webhook: Webhook, target_here: TargetCommand
) -> None:
    hostile = _a_return("accepted", reason=HOSTILE)
    hostile["order"] = {"external_id": "5123400056", "number": HOSTILE}

    run = target_here(tmp_path, _config(tmp_path, alert_webhook_url=webhook.url), _records(hostile))

    assert run.returncode == 0, run.stderr
    posted = json.dumps(webhook.received)
    assert webhook.received, "the CX alert was sent"
    assert "<!channel>" not in posted
    assert "<https://x|Click>" not in posted
    assert "&lt;!channel&gt; &lt;https://x|Click&gt;" in posted, "shown as typed"


def test_teams_and_pagerduty_show_a_hostile_value_as_typed(tmp_path: Path) -> None:
    engine = _acme_store(tmp_path)

    teams = json.dumps(_rendered(engine, alerts.Destination("https://hooks.example", "teams"))["cx"])
    paged = _rendered(engine, alerts.Destination("https://events.pagerduty.com/v2/enqueue", "pagerduty", PD_KEY))

    assert "order \\\\<!channel\\\\> \\\\<https://x|Click\\\\>" in teams  # Markdown-escaped
    assert paged["cx"]["payload"]["custom_details"]["examples"][0]["order_number"] == HOSTILE  # plain JSON data
    assert len(paged["cx"]["payload"]["summary"]) <= 1024


def test_pagerduty_triggers_one_incident_per_owner_and_resolves_it_at_zero(tmp_path: Path, webhook: Webhook) -> None:
    engine = _acme_store(tmp_path)
    pagerduty = alerts.Destination(webhook.url, "pagerduty", PD_KEY, attempts=1)

    first = alerts.send(engine, pagerduty, ACME_PROD, RUN_AT)
    quiet = alerts.send(engine, pagerduty, ACME_PROD, RUN_AT)
    with engine.begin() as conn:  # finance's fixed; CX's still open
        conn.execute(exceptions.update().where(exceptions.c.owner == "finance").values(status="resolved"))
    resolved = alerts.send(engine, pagerduty, ACME_PROD, RUN_AT)
    after = alerts.send(engine, pagerduty, ACME_PROD, RUN_AT)

    assert (first, quiet, resolved, after) == (2, 0, 1, 0)
    sent = [(m["event_action"], m["dedup_key"]) for m in webhook.received]
    assert sent == [
        ("trigger", "reveni-khaos/acme/prod/cx"),
        ("trigger", "reveni-khaos/acme/prod/finance"),
        ("resolve", "reveni-khaos/acme/prod/finance"),
    ]
    assert webhook.received[2] == _sample("pagerduty-resolve.json")


def test_pagerduty_without_its_key_stops_the_target_naming_the_variable(
    tmp_path: Path, target_here: TargetCommand
) -> None:
    config = _config(tmp_path, alert_webhook_url="https://events.pagerduty.com/v2/enqueue", alert_format="pagerduty")

    run = target_here(tmp_path, config, _records(_a_return("accepted")))

    assert run.returncode != 0
    assert "TARGET_KHAOS_CONTROL_ALERT_ROUTING_KEY" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_failing_webhook_is_a_warning_and_a_refusal_an_error_in_meltano(tmp_path: Path) -> None:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    loader = next(p for p in project["plugins"]["loaders"] if p["name"] == "target-khaos-control")
    extractor = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-reveni")
    # Meltano reads a plugin's log levels only from one that declares structured logging; it
    # then hands it this logging config (as singer-sdk documents), and parses each line.
    assert "structured-logging" in loader["capabilities"]
    assert "structured-logging" in extractor["capabilities"]
    logging_config = tmp_path / "logging.json"
    logging_config.write_text(
        json.dumps(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {"structured": {"()": "singer_sdk.logging.StructuredFormatter"}},
                "handlers": {
                    "console": {
                        "class": "logging.StreamHandler",
                        "formatter": "structured",
                        "stream": "ext://sys.stderr",
                    }
                },
                "root": {"handlers": ["console"], "level": "INFO"},
            }
        )
    )

    def run(**settings: Any) -> tuple[int, dict[str, int]]:
        config_file = tmp_path / "config.json"
        config_file.write_text(json.dumps(_config(tmp_path, **settings)))
        done = subprocess.run(
            [str(BIN / "target-khaos-control"), "--config", str(config_file)],
            input="\n".join(_records(_a_return("accepted", reason="colour_not_as_pictured"))) + "\n",
            env={**os.environ, "SINGER_SDK_LOG_CONFIG": str(logging_config)},
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        parsed = [SingerSDKLogParser().parse(line) for line in done.stderr.splitlines()]
        return done.returncode, {record.message: record.level for record in parsed if record is not None}

    broken = Webhook(status=500)
    try:
        loaded, levels = run(alert_webhook_url=broken.url, alert_attempts=1, alert_backoff_seconds=0)
    finally:
        broken.close()
    refused, refusal_levels = run(alert_webhook_url=broken.url, alert_format="pagerduty")

    assert loaded == 0
    failure = next(message for message in levels if "alert webhook failed" in message)
    assert levels[failure] == 30, "WARNING, as Meltano shows it"
    assert refused == 1
    stop = next(message for message in refusal_levels if "ALERT_ROUTING_KEY" in message)
    assert refusal_levels[stop] == 40, "a refusal to start is an ERROR in Meltano, not a raw line it shows as info"
    (tmp_path / "tap.json").write_text("{}")
    tapped = subprocess.run(
        [str(BIN / "tap-reveni"), "--config", str(tmp_path / "tap.json")],
        env={**os.environ, "SINGER_SDK_LOG_CONFIG": str(logging_config)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    tap_levels = [SingerSDKLogParser().parse(line) for line in tapped.stderr.splitlines()]
    assert tapped.returncode == 1
    assert [r.level for r in tap_levels if r is not None and "set TAP_REVENI_API_KEY" in r.message] == [40]
