"""Production as docs/integration.md sets it up: `meltano --environment prod run sync` with
only the variables its "Production settings" table lists, and one clear line naming each
missing one."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.in_process import InProcessReveniSandbox, tap_command_here
from tests.servers import BIN, SANDBOX_KEY

ROOT = Path(__file__).resolve().parent.parent
TABLE = (ROOT / "docs" / "integration.md").read_text().split("## Production settings", 1)[1].split("\n## ", 1)[0]
DOCUMENTED = {
    name: required
    for names, required in re.findall(r"^\| (`[^|]+) \| ([^|]+) \|", TABLE, re.MULTILINE)
    for name in re.findall(r"`([A-Z_]+)`", names)
}
REQUIRED = sorted(name for name, required in DOCUMENTED.items() if required.strip() == "yes")


def _prod_sync(tmp_path: Path, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    assert set(variables) <= set(DOCUMENTED), f"not in docs/integration.md: {set(variables) - set(DOCUMENTED)}"
    bare = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path))}
    return subprocess.run(
        [str(BIN / "meltano"), "--environment", "prod", "run", "sync"],
        cwd=ROOT,
        env={**bare, "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}", **variables},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_documented_variables_are_every_required_setting() -> None:
    assert REQUIRED == [
        "TAP_REVENI_API_KEY",
        "TAP_REVENI_STORE_ID",
        "TARGET_KHAOS_CONTROL_CHANNEL_PASSWORD",
        "TARGET_KHAOS_CONTROL_CHANNEL_USERNAME",
        "TARGET_KHAOS_CONTROL_DATABASE_URL",
        "TARGET_KHAOS_CONTROL_PUBLIC_URL",
        "TARGET_KHAOS_CONTROL_RULES_PATH",
    ]


def test_prod_syncs_with_only_the_documented_variables(tmp_path: Path) -> None:
    sandbox = InProcessReveniSandbox(seed=5, returns=12).start()
    try:
        done = _prod_sync(
            tmp_path,
            {
                "TAP_REVENI_API_URL": sandbox.url,  # the one documented override: Reveni's host
                "TAP_REVENI_API_KEY": SANDBOX_KEY,
                "TAP_REVENI_STORE_ID": sandbox.store_id,
                "TARGET_KHAOS_CONTROL_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
                "TARGET_KHAOS_CONTROL_RULES_PATH": "rules/demo",
                "TARGET_KHAOS_CONTROL_CHANNEL_USERNAME": "khaos",
                "TARGET_KHAOS_CONTROL_CHANNEL_PASSWORD": "a-long-channel-secret",
                "TARGET_KHAOS_CONTROL_PUBLIC_URL": "https://returns.example.com",
                "TARGET_KHAOS_CONTROL_EXCEPTIONS_PATH": str(tmp_path / "exceptions"),
            },
        )
        expected = {r["id"] for r in sandbox.all_returns()}
    finally:
        sandbox.stop()

    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "Running catalog discovery" not in done.stderr, "the shipped catalog is used"
    with sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}").connect() as conn:
        assert set(conn.execute(sa.text("select return_id from reveni_returns")).scalars()) == expected


def test_prod_without_its_variables_names_each_one_and_shows_no_traceback(tmp_path: Path) -> None:
    done = _prod_sync(tmp_path, {})

    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    for variable in REQUIRED:
        assert f"set {variable}" in done.stderr, variable
    refusals = [line for line in done.stderr.splitlines() if "the config is not usable" in line]
    assert len(refusals) == 2, refusals  # one line for the tap, one for the target


def test_the_shipped_catalog_is_what_the_tap_discovers(capfd: pytest.CaptureFixture[str]) -> None:
    discovered = tap_command_here(capfd, ["tap-reveni", "--discover"])

    assert discovered.returncode == 0, discovered.stderr
    assert json.loads(discovered.stdout) == json.loads((ROOT / "tap-reveni" / "catalog.json").read_text())
