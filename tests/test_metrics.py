"""`/metrics`: a client's state in Prometheus's format, scraped as Prometheus would, with
every series the sample alert rules in deploy/prometheus/ rely on."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from target_khaos_control.channel.app import Channel
from target_khaos_control.settings import ChannelSettings
from target_khaos_control.store import open_store

from tests.in_process import TargetCommand
from tests.servers import CHANNEL_PASSWORD, CHANNEL_USER, target_config
from tests.test_target_khaos_control import _a_return, _records

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ("finance-lead", "dash-pw-2c7")

# Khaos sends a datetime on its first contact (a call without a continuation is served nothing).
FIRST_CONTACT = {"Sirion-Continuation": "2019-12-31 12:00:00Z"}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_scrape_shows_exceptions_money_documents_syncs_and_pulls(tmp_path: Path, target_here: TargetCommand) -> None:
    config = target_config(
        tmp_path, dashboard_username=DASHBOARD[0], dashboard_password=DASHBOARD[1], client="acme-test"
    )
    clean = {**_a_return("accepted", refunded=True), "id": "ret-clean"}  # refunded: nothing to flag
    unmapped = {**_a_return("accepted", reason="colour_not_as_pictured"), "id": "ret-cx"}
    untaxed = {**_a_return("accepted", "accepted", tax_rate=None), "id": "ret-finance"}
    before = time.time()
    loaded = target_here(tmp_path, config, _records(clean, unmapped, untaxed))
    assert loaded.returncode == 0, loaded.stderr
    settings = ChannelSettings.from_config(config)
    engine = open_store(settings.database_url)

    with TestClient(Channel(engine, settings).app()) as channel:
        pulled = channel.get("/khaos/returns.json", auth=(CHANNEL_USER, CHANNEL_PASSWORD), headers=FIRST_CONTACT)
        anonymous = channel.get("/metrics")
        as_khaos = channel.get("/metrics", auth=(CHANNEL_USER, CHANNEL_PASSWORD))
        scraped = channel.get("/metrics", auth=DASHBOARD)

    assert pulled.status_code == 200
    assert [r["AssociatedRef"] for r in pulled.json()["Returns"]] == ["RV-ret-clean"]
    assert (anonymous.status_code, as_khaos.status_code) == (401, 401), "the dashboard's login only"
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain; version=")
    samples = _samples(scraped.text)

    def value(name: str, **labels: str) -> Any:
        return samples.get((f"reveni_khaos_{name}", tuple(sorted({"client": "acme-test", **labels}.items()))))

    assert value("open_exceptions", owner="cx", kind="unknown_reason") == 1
    assert value("open_exceptions", owner="finance", kind="missing_tax_code") == 2  # one per untaxed line
    assert sum(v for (name, _), v in samples.items() if name == "reveni_khaos_open_exceptions") == 3
    assert value("money_at_stake", currency="GBP") == 72.0  # 3 held lines at 24.00 GBP
    assert value("documents", state="served") == 1
    assert value("documents", state="published") == 0
    with engine.connect() as conn:
        stored = conn.execute(sa.text("select count(*) from documents")).scalar_one()
    assert sum(v for (name, _), v in samples.items() if name == "reveni_khaos_documents") == stored
    assert before <= value("last_sync_success_timestamp_seconds") <= time.time()
    assert before <= value("last_pull_timestamp_seconds") <= time.time()
    assert value("pull_duration_seconds_count") == 1


def test_the_sample_alert_rules_use_only_series_the_channel_exposes(tmp_path: Path) -> None:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    used = {
        name.removesuffix("_bucket")
        for group in rules["groups"]
        for rule in group["rules"]
        for name in re.findall(r"reveni_khaos_\w+", rule["expr"])
    }
    settings = ChannelSettings.from_config(
        target_config(tmp_path, dashboard_username=DASHBOARD[0], dashboard_password=DASHBOARD[1])
    )
    with TestClient(Channel(open_store(settings.database_url), settings).app()) as channel:
        channel.get("/khaos/returns.json", auth=(CHANNEL_USER, CHANNEL_PASSWORD), headers=FIRST_CONTACT)
        scraped = channel.get("/metrics", auth=DASHBOARD).text
    exposed = {family.name for family in text_string_to_metric_families(scraped)}

    assert {"ReveniKhaosSyncStale", "ReveniKhaosExceptionsGrowing", "ReveniKhaosKhaosNotPulling"} <= {
        rule["alert"] for group in rules["groups"] for rule in group["rules"]
    }
    assert used <= exposed, sorted(used - exposed)
    assert all(rule.get("annotations", {}).get("summary") for group in rules["groups"] for rule in group["rules"])
