"""The Dagster code location (orchestration/): one job and schedule per client, generated
from meltano.yml, run in process against the sandboxes; one run per client at a time;
retries; run history; and the production files (Dockerfile, compose.yaml, dagster.yaml)."""

from __future__ import annotations

import importlib
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from dagster._core.instance.config import dagster_instance_config
from reveni_khaos_orchestration.definitions import CLIENT_TAG, build_definitions
from reveni_khaos_orchestration.project import ProjectError, read_project

from tests.in_process import CliCommand, InProcessReveniSandbox
from tests.servers import BIN, PRODUCTION_SETTINGS, SANDBOX_KEY, free_port

ROOT = Path(__file__).resolve().parent.parent
LOCATION = "reveni_khaos_orchestration.location"


def _prod_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, demo_url: str, acme_url: str) -> None:
    """Each client's production settings from the environment, as docs/integration.md sets them."""
    for name, value in {
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",  # Postgres in production
        "TAP_REVENI_API_URL": demo_url,
        "TAP_REVENI_API_KEY": SANDBOX_KEY,
        "TAP_REVENI_STORE_ID": "demo-store",
        "TARGET_KHAOS_CONTROL_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "TARGET_KHAOS_CONTROL_RULES_PATH": "rules/demo",
        "TARGET_KHAOS_CONTROL_CHANNEL_USERNAME": "khaos",
        "TARGET_KHAOS_CONTROL_CHANNEL_PASSWORD": "a-long-channel-secret",
        "TARGET_KHAOS_CONTROL_PUBLIC_URL": "https://returns.example.com",
        "TARGET_KHAOS_CONTROL_EXCEPTIONS_PATH": str(tmp_path / "demo-exceptions"),
        "TAP_REVENI__ACME_API_URL": acme_url,
        "TAP_REVENI__ACME_API_KEY": SANDBOX_KEY,
        "TAP_REVENI__ACME_STORE_ID": "acme-store",
        "TARGET_KHAOS_CONTROL__ACME_CHANNEL_USERNAME": "khaos-acme",
        "TARGET_KHAOS_CONTROL__ACME_CHANNEL_PASSWORD": "another-long-channel-secret",
        "TARGET_KHAOS_CONTROL__ACME_DATABASE_URL": f"sqlite:///{tmp_path / 'acme.db'}",
        "TARGET_KHAOS_CONTROL__ACME_EXCEPTIONS_PATH": str(tmp_path / "acme-exceptions"),
        "TARGET_KHAOS_CONTROL__ACME_PUBLIC_URL": "https://acme-returns.example.com",
    }.items():
        monkeypatch.setenv(name, value)


def _stored_returns(database: Path) -> set[str]:
    with sa.create_engine(f"sqlite:///{database}").connect() as conn:
        return set(conn.execute(sa.text("select return_id from reveni_returns")).scalars())


# --- generated from meltano.yml -------------------------------------------------------------


def test_each_client_of_meltano_yml_is_one_job_and_one_schedule_tagged_with_its_client() -> None:
    defs = build_definitions(ROOT)

    clients = {job.name: job.tags.get(CLIENT_TAG) for job in defs.resolve_all_job_defs()}
    schedules = {s.job_name: s.cron_schedule for s in defs.get_repository_def().schedule_defs}

    # expect the project's two sync jobs as clients, and the reconciliation without one
    assert clients == {"sync": "demo", "sync_acme": "acme", "reconcile": None}
    assert schedules == {"sync": "*/15 * * * *", "sync_acme": "*/15 * * * *", "reconcile": "0 6 * * *"}


def test_a_third_client_added_to_meltano_yml_becomes_a_third_job(tmp_path: Path) -> None:
    # given the project with a client `zeta` added as meltano.yml adds one
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    project["plugins"]["extractors"].append({"name": "tap-reveni--zeta", "inherit_from": "tap-reveni--acme"})
    project["plugins"]["loaders"].append(
        {"name": "target-khaos-control--zeta", "inherit_from": "target-khaos-control", "config": {"client": "zeta"}}
    )
    project["jobs"].append({"name": "sync-zeta", "tasks": ["tap-reveni--zeta target-khaos-control--zeta"]})
    project["schedules"].append({"name": "sync-zeta-hourly", "interval": "@hourly", "job": "sync-zeta"})
    (tmp_path / "meltano.yml").write_text(yaml.safe_dump(project))

    jobs = {job.name: job for job in read_project(tmp_path)}

    # expect zeta a client (its tap inherits from acme's, which inherits from tap-reveni)
    assert jobs["sync-zeta"].client == "zeta"
    assert jobs["sync-zeta"].crons == ("@hourly",)
    assert [job.client for job in jobs.values()] == ["demo", "acme", None, "zeta"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda p: p["jobs"].append({"name": "sync-beta", "tasks": ["tap-reveni--acme target-jsonl"]}),
            "job 'sync-beta' is named like a client's sync but its task is not one `tap-reveni...` extractor",
        ),
        (
            lambda p: p["schedules"].append({"name": "nightly", "interval": "0 1 * * *", "job": "sync-gone"}),
            "a schedule runs job 'sync-gone', which `jobs:` does not define",
        ),
    ],
)
def test_a_meltano_yml_the_orchestrator_cannot_run_is_refused_naming_the_job(
    tmp_path: Path, change: object, message: str
) -> None:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    change(project)  # type: ignore[operator]
    (tmp_path / "meltano.yml").write_text(yaml.safe_dump(project))

    with pytest.raises(ProjectError) as refused:
        read_project(tmp_path)

    assert str(refused.value).startswith(f"{tmp_path / 'meltano.yml'}: ")
    assert message in str(refused.value)


# --- one run per client at a time ----------------------------------------------------------


def test_a_clients_schedule_skips_its_tick_while_its_last_run_is_still_going() -> None:
    defs = build_definitions(ROOT)
    acme, demo = defs.resolve_job_def("sync_acme"), defs.resolve_job_def("sync")
    with dg.instance_for_test() as instance:
        # given a run of the demo client going: acme's tick still runs acme
        instance.create_run_for_job(demo, status=dg.DagsterRunStatus.STARTED)
        tick = defs.resolve_schedule_def("sync_acme_schedule").evaluate_tick(
            dg.build_schedule_context(instance=instance)
        )
        assert len(tick.run_requests or []) == 1
        assert tick.skip_message is None

        # given a run of acme itself going: acme's tick is skipped, naming that run
        going = instance.create_run_for_job(acme, status=dg.DagsterRunStatus.STARTED)
        tick = defs.resolve_schedule_def("sync_acme_schedule").evaluate_tick(
            dg.build_schedule_context(instance=instance)
        )
        assert not tick.run_requests
        assert tick.skip_message == f"sync-acme is still running (run {going.run_id}): one run per client at a time"


def test_the_production_instance_queues_a_second_run_of_a_client_behind_the_first() -> None:
    config, _ = dagster_instance_config(str(ROOT / "orchestration"), "dagster.yaml")

    limits = config["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {"key": CLIENT_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits
    assert "postgres" in config["storage"], "run history kept on Postgres"


# --- run against the sandboxes, in process --------------------------------------------------


def _project_with_a_third_client(folder: Path, cli_here: CliCommand) -> Path:
    """A copy of the project with client `zeta` added by `reveni-khaos clients add zeta`."""
    folder.mkdir()
    shutil.copy(ROOT / "meltano.yml", folder / "meltano.yml")
    shutil.copytree(ROOT / "rules", folder / "rules")
    for shared in (".meltano", "tap-reveni", "target-khaos-control"):  # the installed plugins, read here
        (folder / shared).symlink_to(ROOT / shared)
    added = cli_here("clients", "add", "zeta", "--project", str(folder))
    assert added.returncode == 0, added.stderr
    return folder


def test_dagster_syncs_three_clients_prod_style_each_into_its_own_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_here: CliCommand
) -> None:
    # given three clients, each with its own Reveni store (60 returns each)
    project = _project_with_a_third_client(tmp_path / "project", cli_here)
    sandboxes = {
        "demo": InProcessReveniSandbox(returns=60, seed=7).start(),
        "acme": InProcessReveniSandbox(returns=60, seed=11, store_id="acme-store").start(),
        "zeta": InProcessReveniSandbox(returns=60, seed=13, store_id="zeta-store").start(),
    }
    _prod_variables(monkeypatch, tmp_path, sandboxes["demo"].url, sandboxes["acme"].url)
    for name, value in {
        "TAP_REVENI__ZETA_API_URL": sandboxes["zeta"].url,
        "TAP_REVENI__ZETA_API_KEY": SANDBOX_KEY,
        "TAP_REVENI__ZETA_STORE_ID": "zeta-store",
        "TARGET_KHAOS_CONTROL__ZETA_DATABASE_URL": f"sqlite:///{tmp_path / 'zeta.db'}",
        "TARGET_KHAOS_CONTROL__ZETA_EXCEPTIONS_PATH": str(tmp_path / "zeta-exceptions"),
        "TARGET_KHAOS_CONTROL__ZETA_CHANNEL_USERNAME": "khaos-zeta",
        "TARGET_KHAOS_CONTROL__ZETA_CHANNEL_PASSWORD": "a-third-long-channel-secret",
        "TARGET_KHAOS_CONTROL__ZETA_PUBLIC_URL": "https://zeta-returns.example.com",
    }.items():
        monkeypatch.setenv(name, value)
    defs = build_definitions(project, environment="prod", retries=0)
    try:
        with dg.instance_for_test() as instance:
            results = [
                defs.resolve_job_def(job).execute_in_process(instance=instance)
                for job in ("sync", "sync_acme", "sync_zeta")
            ]
            history = {run.job_name: (run.status, run.tags.get(CLIENT_TAG)) for run in instance.get_runs()}
        expected = {client: {r["id"] for r in sandbox.all_returns()} for client, sandbox in sandboxes.items()}
    finally:
        for sandbox in sandboxes.values():
            sandbox.stop()

    assert [result.success for result in results] == [True, True, True]
    # expect each run on record, tagged with its client
    assert history == {
        "sync": (dg.DagsterRunStatus.SUCCESS, "demo"),
        "sync_acme": (dg.DagsterRunStatus.SUCCESS, "acme"),
        "sync_zeta": (dg.DagsterRunStatus.SUCCESS, "zeta"),
    }
    # expect each store to hold its own client's returns, and only those
    assert [len(ids) for ids in expected.values()] == [60, 60, 60]
    assert not expected["demo"] & expected["acme"]
    assert not expected["acme"] & expected["zeta"]
    assert not expected["demo"] & expected["zeta"]
    assert _stored_returns(tmp_path / "demo.db") == expected["demo"]
    assert _stored_returns(tmp_path / "acme.db") == expected["acme"]
    assert _stored_returns(tmp_path / "zeta.db") == expected["zeta"]


def test_a_failing_sync_is_retried_then_fails_with_meltanos_last_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given acme's Reveni unreachable (nothing listens on its port) and no retries in the tap
    nowhere = f"http://127.0.0.1:{free_port()}"
    _prod_variables(monkeypatch, tmp_path, nowhere, nowhere)
    monkeypatch.setenv("TAP_REVENI__ACME_MAX_RETRIES", "0")
    defs = build_definitions(ROOT, environment="prod", retries=1, retry_delay_seconds=0)

    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def("sync_acme").execute_in_process(instance=instance, raise_on_error=False)
        events = [event.event_type for event in result.all_events]

    # expect one retry, then the run failed with Meltano's command and exit code named
    assert not result.success
    assert events.count(dg.DagsterEventType.STEP_UP_FOR_RETRY) == 1
    assert events.count(dg.DagsterEventType.STEP_FAILURE) == 1
    failure = next(event for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "`meltano --environment prod run sync-acme` exited with 1" in str(failure.event_specific_data)
    assert "127.0.0.1" in str(failure.event_specific_data), "Meltano's own words about the failure"


# --- the production files: they cannot run here (no docker), so their content is checked ---


def _pin(requirement: str, text: str) -> str:
    return text.split(f"{requirement}==", 1)[1].split('"', 1)[0].split()[0]


def test_the_image_installs_what_the_tests_ran_and_builds_meltanos_plugins() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    constraints = (ROOT / "constraints.txt").read_text()

    assert dockerfile.startswith("# ")
    assert "\nFROM python:3.11-slim\n" in dockerfile
    # expect Dagster's webserver at the very version of dagster the tests ran, and the
    # postgres storage of the same release (dagster 1.13.N goes with its libraries' 0.29.N)
    dagster = _pin("dagster", constraints)
    assert _pin("dagster-webserver", dockerfile) == dagster
    assert _pin("dagster-postgres", dockerfile) == "0.29." + dagster.split(".")[2]
    assert _pin("meltano[postgres]", dockerfile) == _pin("meltano", constraints)
    assert "-c constraints.txt" in dockerfile
    assert "&& .venv/bin/meltano install" in dockerfile
    assert 'cp orchestration/dagster.yaml "$DAGSTER_HOME/dagster.yaml"' in dockerfile
    assert "EXPOSE 8803 3000" in dockerfile


def test_compose_runs_postgres_the_channel_and_dagster_each_with_a_health_check() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]

    assert set(services) == {"postgres", "channel", "dagster-webserver", "dagster-daemon"}
    assert all("healthcheck" in service for service in services.values())
    for name in ("channel", "dagster-webserver", "dagster-daemon"):
        assert services[name]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        assert services[name]["environment"]["MELTANO_ENVIRONMENT"] == "prod"
        assert services[name]["environment"]["MELTANO_DATABASE_URI"].startswith("postgresql+psycopg://")
    channel = " ".join(services["channel"]["command"])
    assert "reveni-khaos serve --config /tmp/channel-config.json --host 0.0.0.0 --port 8803" in channel
    assert services["channel"]["ports"] == ["8803:8803"]
    assert "http://127.0.0.1:8803/healthz" in " ".join(services["channel"]["healthcheck"]["test"])
    webserver = services["dagster-webserver"]
    inside_its_container = "0.0.0.0"  # noqa: S104 (published by compose's `ports`)
    assert webserver["command"] == ["dagster-webserver", "-h", inside_its_container, "-p", "3000", "-m", LOCATION]
    assert webserver["ports"] == ["3000:3000"]
    assert services["dagster-daemon"]["command"] == ["dagster-daemon", "run", "-m", LOCATION]
    assert services["dagster-daemon"]["healthcheck"]["test"] == ["CMD", "dagster-daemon", "liveness-check"]
    assert services["postgres"]["command"] == ["postgres", *PRODUCTION_SETTINGS], "as the bench measures it"
    init = (ROOT / "orchestration" / "postgres-init.sql").read_text()
    assert "CREATE DATABASE meltano;" in init
    assert "CREATE DATABASE dagster;" in init


def test_the_commands_compose_runs_exist_and_load_the_code_location(monkeypatch: pytest.MonkeyPatch) -> None:
    # given the project as the image has it (MELTANO_PROJECT_ROOT), the module Dagster loads
    monkeypatch.setenv("MELTANO_PROJECT_ROOT", str(ROOT))
    location = importlib.import_module(LOCATION)

    assert {job.name for job in location.defs.resolve_all_job_defs()} == {"sync", "sync_acme", "reconcile"}
    for command in (["dagster-daemon", "liveness-check", "--help"], ["reveni-khaos", "serve", "--help"]):
        done = subprocess.run([str(BIN / command[0]), *command[1:]], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
