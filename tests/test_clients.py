"""A client is one thing: `reveni-khaos clients add` gives a new client everything it needs,
in every environment, apart from every other client; `clients check`, the target and the
channel refuse two clients sharing a store, a state id, an exceptions path or a port."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from target_khaos_control import clients
from target_khaos_control.rules import load_ruleset

from tests.in_process import CliCommand, InProcessReveniSandbox, TargetCommand
from tests.servers import BIN, SANDBOX_KEY, target_config
from tests.test_target_khaos_control import _a_return, _records

ROOT = Path(__file__).resolve().parent.parent


def _project(tmp_path: Path) -> Path:
    """Given: a copy of this project (its plugins installed once, shared with it)."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "meltano.yml", project)
    shutil.copytree(ROOT / "rules", project / "rules")
    (project / "tap-reveni").mkdir()
    shutil.copy(ROOT / "tap-reveni" / "catalog.json", project / "tap-reveni")
    (project / ".meltano").symlink_to(ROOT / ".meltano")
    return project


InProject = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def reveni_khaos(cli_here: CliCommand, monkeypatch: pytest.MonkeyPatch) -> InProject:
    """`reveni-khaos ARGS` run from a project's folder, its entry point called in this process."""

    def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
        with monkeypatch.context() as inside:
            inside.chdir(project)
            return cli_here(*args)

    return run


def _returns_in(store: Path) -> set[str]:
    with sa.create_engine(f"sqlite:///{store}").connect() as conn:
        return set(conn.execute(sa.text("select return_id from reveni_returns")).scalars())


def test_a_third_client_added_in_one_command_syncs_into_its_own_store(tmp_path: Path, reveni_khaos: InProject) -> None:
    project = _project(tmp_path)
    before = (project / "meltano.yml").read_text().splitlines()

    added = reveni_khaos(project, "clients", "add", "beta")

    assert added.returncode == 0, added.stderr
    assert "TARGET_KHAOS_CONTROL__BETA_DATABASE_URL" in added.stdout, "says which prod variables to set"
    after = (project / "meltano.yml").read_text().splitlines()
    kept = iter(after)
    assert all(line in kept for line in before), "every line of meltano.yml kept, comments included, in order"
    assert "client: beta" in (project / "rules" / "beta" / "rules.yml").read_text()
    beta = next(c for c in clients.read(project, {}) if c.name == "beta")
    assert (beta.extractor, beta.loader) == ("tap-reveni--beta", "target-khaos-control--beta")
    assert beta.jobs == ["sync-beta"]
    assert beta.schedules == ["sync-beta-every-15-minutes"]
    assert beta.environments["prod"].store == "$TARGET_KHAOS_CONTROL__BETA_DATABASE_URL"
    assert beta.environments["dev"].channel_port == "8823"
    assert reveni_khaos(project, "clients", "check").returncode == 0

    sandboxes = {
        "demo": InProcessReveniSandbox(seed=7).start(),
        "acme": InProcessReveniSandbox(seed=11, store_id="acme-store").start(),
        "beta": InProcessReveniSandbox(seed=13, store_id="beta-store").start(),
    }
    stores = {name: tmp_path / f"{name}.db" for name in sandboxes}
    # Production as the docs set it up: every value from the client's own variables, on a bare machine.
    variables = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'm.db'}",
    }
    for name, sandbox in sandboxes.items():
        tap, loader = (
            ("TAP_REVENI", "TARGET_KHAOS_CONTROL")
            if name == "demo"
            else (
                f"TAP_REVENI__{name.upper()}",
                f"TARGET_KHAOS_CONTROL__{name.upper()}",
            )
        )
        variables |= {
            f"{tap}_API_URL": sandbox.url,
            f"{tap}_API_KEY": SANDBOX_KEY,
            f"{tap}_STORE_ID": sandbox.store_id,
            f"{loader}_DATABASE_URL": f"sqlite:///{stores[name]}",
            f"{loader}_CHANNEL_USERNAME": f"khaos-{name}",
            f"{loader}_CHANNEL_PASSWORD": f"{name}-channel-secret",
            f"{loader}_PUBLIC_URL": f"https://returns.{name}.example.com",
        }
    variables["TARGET_KHAOS_CONTROL_RULES_PATH"] = "rules/demo"  # the first client's only: the others name theirs
    try:
        synced = subprocess.run(
            [str(BIN / "meltano"), "--environment", "prod", "run", "sync", "sync-acme", "sync-beta"],
            cwd=project,
            env=variables,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        expected = {name: {r["id"] for r in sandbox.all_returns()} for name, sandbox in sandboxes.items()}
    finally:
        for sandbox in sandboxes.values():
            sandbox.stop()

    assert synced.returncode == 0, synced.stderr[-3000:]
    for name, store in stores.items():
        assert _returns_in(store) == expected[name], f"{name}'s store holds its own returns, and only those"
        with sa.create_engine(f"sqlite:///{store}").connect() as conn:
            assert conn.execute(sa.text("select client from store_owner")).scalar_one() == name
    assert not expected["beta"] & (expected["demo"] | expected["acme"])
    with sa.create_engine(f"sqlite:///{stores['beta']}").connect() as conn:
        hashes = set(conn.execute(sa.text("select ruleset_hash from documents")).scalars())
    assert hashes == {load_ruleset(project / "rules" / "beta").content_hash}, "beta's documents by beta's rules"
    assert list((project / "output" / "beta" / "exceptions").glob("*.jsonl")), "its exceptions in its own folder"


def test_adding_refuses_an_existing_rule_folder_or_client_and_writes_nothing(
    tmp_path: Path, reveni_khaos: InProject
) -> None:
    project = _project(tmp_path)
    (project / "rules" / "gamma").mkdir()
    untouched = (project / "meltano.yml").read_text()

    existing_folder = reveni_khaos(project, "clients", "add", "gamma")
    existing_client = reveni_khaos(project, "clients", "add", "acme", "--template", "rules/demo")
    bad_name = reveni_khaos(project, "clients", "add", "Acme Two")

    assert existing_folder.returncode == 1
    assert "rules/gamma already exists" in existing_folder.stderr
    assert not list((project / "rules" / "gamma").iterdir()), "nothing copied into it (cp -r would nest)"
    assert existing_client.returncode == 1
    assert "rules/acme already exists" in existing_client.stderr
    assert bad_name.returncode == 1
    assert "is not a client name" in bad_name.stderr
    assert (project / "meltano.yml").read_text() == untouched
    for run in (existing_folder, existing_client, bad_name):
        assert "Traceback" not in run.stderr


def _share_demos_store(project: Path) -> None:
    """Given: beta's dev store set, by mistake, to the demo client's."""
    text = (project / "meltano.yml").read_text()
    text = text.replace(
        "database_url: sqlite:///output/beta/reveni-khaos.db", "database_url: sqlite:///output/reveni-khaos.db"
    )
    (project / "meltano.yml").write_text(text)


def test_a_shared_store_is_refused_by_check_the_target_and_the_channel(
    tmp_path: Path, reveni_khaos: InProject, target_here: TargetCommand, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path)
    assert reveni_khaos(project, "clients", "add", "beta").returncode == 0
    _share_demos_store(project)

    checked = reveni_khaos(project, "clients", "check")
    config = target_config(tmp_path, rules_path=str(project / "rules" / "beta"))
    with monkeypatch.context() as meltano_runs_it:
        meltano_runs_it.setenv("MELTANO_PROJECT_ROOT", str(project))
        meltano_runs_it.setenv("MELTANO_ENVIRONMENT", "dev")
        loaded = target_here(tmp_path, config, _records(_a_return("accepted")))
    # Were it not refused, `serve` would start its server here: say so rather than serve.
    monkeypatch.setattr("uvicorn.run", _serving_is_not_refusing)
    served = reveni_khaos(project, "serve", "--config", str(_written(tmp_path, config)))

    expected = "dev: clients 'demo' and 'beta' would share one store"
    assert checked.returncode == 1
    assert expected in checked.stderr
    assert loaded.returncode != 0
    assert expected in loaded.stderr
    assert "Traceback" not in loaded.stderr
    assert not (tmp_path / "store.db").exists(), "refused before the store was touched"
    assert served.returncode != 0
    assert expected in served.stderr


@pytest.mark.parametrize(
    ("setting", "shared", "what"),
    [
        ("exceptions_path: output/beta/exceptions", "exceptions_path: output/acme/exceptions", "exceptions path"),
        ("channel_port: 8823", "channel_port: 8813", "channel port"),
    ],
)
def test_check_names_both_clients_sharing_a_folder_or_a_port(
    tmp_path: Path, setting: str, shared: str, what: str, reveni_khaos: InProject
) -> None:
    project = _project(tmp_path)
    assert reveni_khaos(project, "clients", "add", "beta").returncode == 0
    (project / "meltano.yml").write_text((project / "meltano.yml").read_text().replace(setting, shared))

    checked = reveni_khaos(project, "clients", "check")

    assert checked.returncode == 1
    assert f"clients 'acme' and 'beta' would share one {what}" in checked.stderr


def test_prod_clients_reading_the_same_store_from_their_variables_are_refused(tmp_path: Path) -> None:
    project = _project(tmp_path)
    same = "postgresql+psycopg://returns:secret@db.example:5432/returns"

    apart = clients.clashes(clients.read(project, {}))
    shared = clients.clashes(
        clients.read(
            project, {"TARGET_KHAOS_CONTROL_DATABASE_URL": same, "TARGET_KHAOS_CONTROL__ACME_DATABASE_URL": same}
        )
    )

    assert apart == []
    assert [str(clash) for clash in shared] == [
        f"{env}: clients 'demo' and 'acme' would share one store "
        "(postgresql://returns:***@db.example:5432/returns); give each its own"
        for env in ("dev", "prod")  # a variable set outranks meltano.yml in every environment
    ]


def test_clients_list_is_json_for_an_orchestrator(tmp_path: Path, reveni_khaos: InProject) -> None:
    listed = reveni_khaos(_project(tmp_path), "clients", "list", "--format", "json")

    assert listed.returncode == 0, listed.stderr
    by_name = {client["name"]: client for client in json.loads(listed.stdout)}
    assert sorted(by_name) == ["acme", "demo"]
    assert by_name["acme"]["jobs"] == ["sync-acme"]
    assert by_name["acme"]["environments"]["dev"]["state_id"] == "dev:tap-reveni--acme-to-target-khaos-control--acme"


def _serving_is_not_refusing(*args: object, **kwargs: object) -> None:
    raise AssertionError("serve started its server: it should have refused the shared store")


def _written(tmp_path: Path, config: dict[str, object]) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def test_a_job_written_as_a_list_of_lists_still_names_its_client(tmp_path: Path) -> None:
    project: clients.MeltanoProject = {
        "plugins": {
            "extractors": [{"name": "tap-reveni"}, {"name": "tap-reveni--acme", "inherit_from": "tap-reveni"}],
            "loaders": [
                {"name": "target-khaos-control", "config": {"rules_path": "rules/demo"}},
                {
                    "name": "target-khaos-control--acme",
                    "inherit_from": "target-khaos-control",
                    "config": {"client": "acme"},
                },
            ],
        },
        "jobs": [
            {"name": "sync", "tasks": "tap-reveni target-khaos-control"},
            {"name": "sync-acme", "tasks": [["tap-reveni--acme", "target-khaos-control--acme"]]},
        ],
        "environments": [{"name": "dev"}],
    }

    found = {client.name: client for client in clients.of_project(project, tmp_path, {})}

    assert found["acme"].extractor == "tap-reveni--acme"
    assert found["acme"].jobs == ["sync-acme"]
    assert found["demo"].environments["dev"].state_id == "dev:tap-reveni-to-target-khaos-control"
    assert [str(c) for c in clients.clashes(list(found.values()))] == [
        f"dev: clients 'demo' and 'acme' would share one {what} ({value}); give each its own"
        for what, value in (
            ("store", "$TARGET_KHAOS_CONTROL_DATABASE_URL"),  # acme would read the first client's variable
            ("exceptions path", str(tmp_path / "output" / "exceptions")),
            ("channel port", "8803"),
        )
    ]
