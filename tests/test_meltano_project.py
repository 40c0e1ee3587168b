"""The Meltano project: the config Meltano hands the target is one the channel accepts too."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import sqlalchemy as sa
import yaml
from target_khaos_control.rules import load_ruleset

from tests.in_process import InProcessChannel, InProcessReveniSandbox, TapCommand, TargetCommand
from tests.servers import BIN, SANDBOX_KEY, ReveniSandbox, tap_output

ROOT = Path(__file__).resolve().parent.parent


def _meltano(*args: str) -> str:
    done = subprocess.run(
        [str(BIN / "meltano"), *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_dumped_target_config_serves_the_channel_and_loads_returns(
    demo_sandbox: ReveniSandbox, tmp_path: Path, tap_here: TapCommand, target_here: TargetCommand
) -> None:
    config = json.loads(_meltano("--environment", "dev", "invoke", "--dump=config", "target-khaos-control"))
    # Only where the store lives moves into this test's folder, and the mapping file is found from
    # the project folder, where Meltano runs its plugins; everything else is as dumped.
    config["database_url"] = f"sqlite:///{tmp_path / 'store.db'}"
    config["exceptions_path"] = str(tmp_path / "exceptions")  # never the working tree's output/
    config["rules_path"] = str(ROOT / config["rules_path"])

    # Meltano dumps it (a process); the target's and the channel's commands read it in process.
    loaded = target_here(tmp_path, config, tap_output(tap_here(tmp_path, demo_sandbox.tap_config())))
    channel = InProcessChannel(config, tmp_path).start()
    try:
        served = channel.get("/khaos/returns.json", headers={"Sirion-Continuation": "2026-11-26 14:00:00Z"})
    finally:
        channel.stop()

    assert loaded.returncode == 0, loaded.stderr
    assert served.status_code == 200
    assert len(served.json()["Returns"]) > 50


def test_meltano_invoke_runs_every_command_a_user_runs() -> None:
    validated = _meltano("invoke", "reveni-khaos:validate-rules")
    tested = _meltano("invoke", "reveni-khaos", "rules", "test", "rules/demo")
    helps = {
        command: _meltano("invoke", "reveni-khaos", command, "--help")
        for command in ("serve", "replay", "reconcile", "exceptions")
    }

    assert "valid rule set for 'demo'" in validated
    assert tested.strip().endswith("0 failed")
    for command, text in helps.items():
        assert f"usage: reveni-khaos {command}" in text


def test_two_clients_run_their_scheduled_jobs_apart(tmp_path: Path) -> None:
    demo, acme = InProcessReveniSandbox(seed=7).start(), InProcessReveniSandbox(seed=11, store_id="acme-store").start()
    env = {
        **os.environ,
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",  # this test's own state
        "TAP_REVENI_API_URL": demo.url,
        "TAP_REVENI_API_KEY": SANDBOX_KEY,
        "TAP_REVENI__ACME_API_URL": acme.url,
        "TAP_REVENI__ACME_API_KEY": SANDBOX_KEY,
        "TARGET_KHAOS_CONTROL_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "TARGET_KHAOS_CONTROL_EXCEPTIONS_PATH": str(tmp_path / "demo-exceptions"),
        "TARGET_KHAOS_CONTROL__ACME_DATABASE_URL": f"sqlite:///{tmp_path / 'acme.db'}",
        "TARGET_KHAOS_CONTROL__ACME_EXCEPTIONS_PATH": str(tmp_path / "acme-exceptions"),
    }
    try:
        for job in ("sync", "sync-acme"):
            done = subprocess.run(
                [str(BIN / "meltano"), "--environment", "dev", "run", job],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert done.returncode == 0, done.stderr[-3000:]
        states = subprocess.run(
            [str(BIN / "meltano"), "--environment", "dev", "state", "list"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout.split()
        demo_ids, acme_ids = {r["id"] for r in demo.all_returns()}, {r["id"] for r in acme.all_returns()}
    finally:
        demo.stop()
        acme.stop()

    assert {"dev:tap-reveni-to-target-khaos-control", "dev:tap-reveni--acme-to-target-khaos-control--acme"} <= set(
        states
    )
    stored = {}
    for client in ("demo", "acme"):
        with sa.create_engine(f"sqlite:///{tmp_path / f'{client}.db'}").connect() as conn:
            stored[client] = (
                set(conn.execute(sa.text("select return_id from reveni_returns")).scalars()),
                set(conn.execute(sa.text("select ruleset_hash from documents")).scalars()),
            )
    assert stored["demo"][0] == demo_ids
    assert stored["acme"][0] == acme_ids
    assert not demo_ids & acme_ids
    assert stored["demo"][1] == {load_ruleset(ROOT / "rules" / "demo").content_hash}
    assert stored["acme"][1] == {load_ruleset(ROOT / "rules" / "acme").content_hash}


def test_each_plugin_ships_a_hub_listing_in_step_with_the_project() -> None:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    for kind, name in (("extractors", "tap-reveni"), ("loaders", "target-khaos-control")):
        listing = yaml.safe_load((ROOT / name / "meltano-hub.yml").read_text())
        plugin = next(p for p in project["plugins"][kind] if p["name"] == name)
        assert listing["namespace"] == plugin["namespace"]
        assert listing["capabilities"] == plugin["capabilities"]
        # Their settings: tests/test_settings_sync.py (both written from the plugin's `--about`).
