"""One store, one client: a second client's sync, channel or command never touches the
first client's store, in dev or in prod, whatever it inherited."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.in_process import CliCommand, InProcessReveniSandbox, TapCommand, TargetCommand
from tests.servers import BIN, SANDBOX_KEY, ReveniSandbox, tap_output, target_config

ROOT = Path(__file__).resolve().parent.parent
ACME_RULES = ROOT / "rules" / "acme"


def _returns_in(store: Path) -> set[str]:
    with sa.create_engine(f"sqlite:///{store}").connect() as conn:
        return set(conn.execute(sa.text("select return_id from reveni_returns")).scalars())


def test_a_store_that_holds_one_clients_returns_refuses_another_client(
    tmp_path: Path, demo_sandbox: ReveniSandbox, target_here: TargetCommand, tap_here: TapCommand
) -> None:
    given = tap_output(tap_here(tmp_path, demo_sandbox.tap_config()))
    demo_loaded = target_here(tmp_path, target_config(tmp_path), given)
    assert demo_loaded.returncode == 0, demo_loaded.stderr[-2000:]
    before = _returns_in(tmp_path / "store.db")

    acme = target_here(tmp_path, target_config(tmp_path, rules_path=str(ACME_RULES)), given)

    assert acme.returncode != 0
    assert "holds client 'demo'" in acme.stderr, acme.stderr[-2000:]
    assert "this is client 'acme'" in acme.stderr
    assert "TARGET_KHAOS_CONTROL__ACME_DATABASE_URL" in acme.stderr
    assert "Traceback" not in acme.stderr
    assert _returns_in(tmp_path / "store.db") == before


def test_the_channel_and_the_daily_commands_refuse_another_clients_store(
    tmp_path: Path, cli_here: CliCommand, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store.db"
    owned = cli_here("exceptions", "--config", str(_config_file(tmp_path, "demo.json")))
    assert owned.returncode == 0, owned.stderr

    acme_config = _config_file(tmp_path, "acme.json", rules_path=str(ACME_RULES))
    monkeypatch.setattr("uvicorn.run", _serving_is_not_refusing)  # were it not refused, `serve` would serve here
    for command in (["exceptions"], ["serve", "--port", "1"]):
        refused = cli_here(*command, "--config", str(acme_config))
        assert refused.returncode != 0, command
        assert f"the store sqlite:///{store} holds client 'demo'" in refused.stderr, refused.stderr[-2000:]
        assert "Traceback" not in refused.stderr


def _serving_is_not_refusing(*args: object, **kwargs: object) -> None:
    raise AssertionError("serve started its server: it should have refused another client's store")


def _config_file(tmp_path: Path, name: str, **settings: str) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(target_config(tmp_path, **settings)))
    return path


def _meltano(tmp_path: Path, job: str, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    bare = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", str(tmp_path))}
    return subprocess.run(
        [str(BIN / "meltano"), "--environment", "prod", "run", job],
        cwd=ROOT,
        env={**bare, "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}", **variables},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_in_prod_the_second_client_never_inherits_the_first_clients_store(tmp_path: Path) -> None:
    """Given the first client's production variables set on the machine, acme's sync
    without its own stops and names them; with them, acme loads into its own store only."""
    sandbox = InProcessReveniSandbox(seed=11, returns=8, store_id="acme-store").start()
    first_store = tmp_path / "first.db"
    first_client = {
        "TAP_REVENI_API_URL": sandbox.url,
        "TAP_REVENI_API_KEY": "the-first-clients-key",
        "TAP_REVENI_STORE_ID": "first-store",
        "TARGET_KHAOS_CONTROL_DATABASE_URL": f"sqlite:///{first_store}",
        "TARGET_KHAOS_CONTROL_RULES_PATH": "rules/demo",
        "TARGET_KHAOS_CONTROL_CHANNEL_USERNAME": "khaos",
        "TARGET_KHAOS_CONTROL_CHANNEL_PASSWORD": "the-first-clients-secret",
        "TARGET_KHAOS_CONTROL_PUBLIC_URL": "https://returns.first.example.com",
    }
    acme_tap = {"TAP_REVENI__ACME_API_KEY": SANDBOX_KEY, "TAP_REVENI__ACME_STORE_ID": sandbox.store_id}
    acme_store = tmp_path / "acme.db"
    acme_loader = {
        "TARGET_KHAOS_CONTROL__ACME_DATABASE_URL": f"sqlite:///{acme_store}",
        "TARGET_KHAOS_CONTROL__ACME_CHANNEL_USERNAME": "khaos-acme",
        "TARGET_KHAOS_CONTROL__ACME_CHANNEL_PASSWORD": "acme-channel-secret",
        "TARGET_KHAOS_CONTROL__ACME_PUBLIC_URL": "https://returns.acme.example.com",
    }
    try:
        forgotten = _meltano(tmp_path, "sync-acme", {**first_client, **acme_tap})
        synced = _meltano(tmp_path, "sync-acme", {**first_client, **acme_tap, **acme_loader})
        expected = {r["id"] for r in sandbox.all_returns()}
    finally:
        sandbox.stop()

    assert forgotten.returncode != 0
    for variable in acme_loader:
        assert f"set {variable}" in forgotten.stderr, variable
    assert not first_store.exists()
    assert synced.returncode == 0, synced.stderr[-3000:]
    assert _returns_in(acme_store) == expected
    assert not first_store.exists()
