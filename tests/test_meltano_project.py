"""The Meltano project: the config Meltano hands the target is one the channel accepts too."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from tests.servers import BIN, ChannelServer, ReveniSandbox, run_tap, run_target, tap_output

ROOT = Path(__file__).resolve().parent.parent


def _meltano(*args: str) -> str:
    done = subprocess.run(
        [str(BIN / "meltano"), *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_dumped_target_config_serves_the_channel_and_loads_returns(
    demo_sandbox: ReveniSandbox, tmp_path: Path
) -> None:
    config = json.loads(_meltano("--environment", "dev", "invoke", "--dump=config", "target-khaos-control"))
    # Only where the store lives moves into this test's folder, and the mapping file is found from
    # the project folder, where Meltano runs its plugins; everything else is as dumped.
    config["database_url"] = f"sqlite:///{tmp_path / 'store.db'}"
    config["rules_path"] = str(ROOT / config["rules_path"])

    loaded = run_target(tmp_path, config, tap_output(run_tap(tmp_path, demo_sandbox.tap_config())))
    channel = ChannelServer(config, tmp_path).start()  # on a port of the test's choosing
    try:
        served = channel.get("/khaos/returns.json")
    finally:
        channel.stop()

    assert loaded.returncode == 0, loaded.stderr
    assert served.status_code == 200
    assert len(served.json()["Returns"]) > 50


def test_each_plugin_declares_every_setting_of_its_own() -> None:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    for kind, name in (("extractors", "tap-reveni"), ("loaders", "target-khaos-control")):
        plugin = next(p for p in project["plugins"][kind] if p["name"] == name)
        declared = {setting["name"] for setting in plugin["settings"]}
        about = json.loads(
            subprocess.run(
                [str(BIN / name), "--about", "--format=json"], capture_output=True, text=True, check=True
            ).stdout
        )
        own = {s for s in about["settings"]["properties"] if s not in SDK_BUILT_IN}
        assert own <= declared, f"meltano.yml does not declare {name}'s {sorted(own - declared)}"


SDK_BUILT_IN = {
    "stream_maps",
    "stream_map_config",
    "faker_config",
    "flattening_enabled",
    "flattening_max_depth",
    "flattening_max_key_length",
    "flattening_separator",
    "batch_config",
    "add_record_metadata",
    "load_method",
    "validate_records",
    "batch_size_rows",
    "process_activate_version_messages",
}


def test_meltano_invoke_runs_the_rules_commands() -> None:
    validated = _meltano("invoke", "reveni-khaos:validate-rules")
    tested = _meltano("invoke", "reveni-khaos", "rules", "test", "rules/demo")

    assert "valid rule set for 'demo'" in validated
    assert tested.strip().endswith("0 failed")
