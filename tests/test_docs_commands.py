"""Every command the docs show runs exactly as written, in order, from a project folder.

Each page's `sh` blocks run as printed, one block as one `bash -e` script, from a copy of
a project folder as `make install` and `make demo` leave it (`.venv/`, Meltano's plugins,
the demo's store after a sync, `channel-config.json` where docs/README.md says it lives,
Khaos's credit-note export in `output/`). A `reveni-khaos` command in any other block
(a unit file's `ExecStart`) runs too. Only what cannot be used on a test machine is moved:

- a fixed port becomes a free one (Acme's sandbox, 8811 in the `dev` environment, is
  this test's own Acme sandbox, or the one the page starts);
- `/tmp/...` and the server's `/srv/returns/` become folders of this test's own;
- `$EDITOR` is `true`, and the production settings (docs/integration.md) point at the
  sandboxes and this test's stores, for blocks run `--environment prod`;
- the client the docs add (`clients add northwind`) has its own sandbox, on its dev port.

`make` lines are not run here (`make test` runs this test); tests/test_docs.py checks each
target exists.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from reveni_khaos_sandbox.demo import CHANNEL_CONFIG

from tests.in_process import CliCommand, tap_command_here
from tests.servers import (
    BIN,
    CHANNEL_PASSWORD,
    CHANNEL_USER,
    SANDBOX_KEY,
    ReveniSandbox,
    free_port,
    run_tap,
    run_target,
    tap_output,
    target_config,
)
from tests.test_docs import PAGES, ROOT

DOCS_PAGES = [*PAGES, ROOT / "rules" / "README.md"]
DOCS_TMP = "/tmp/"  # noqa: S108 (the docs' scratch folder, moved into this test's own)
SERVER_ROOT = "/srv/returns/"  # the project folder on the server (integration.md)
ACME_DEV_PORT = "8811"  # Acme's sandbox in meltano.yml's `dev` environment
DEV_SANDBOX_KEY = "sandbox-key"  # the `dev` environment's key, and reveni-sandbox's default
COMMAND = re.compile(r"(?:^|[\s/=])((?:[^\s=]*/)?reveni-khaos\s+.+)$")


@dataclass(frozen=True)
class Step:
    """A block of shell commands as printed, or one `reveni-khaos` command from another block."""

    line: int
    text: str
    script: bool  # a whole `sh` block, run by bash


def _steps(page: Path) -> list[Step]:
    steps: list[Step] = []
    block: list[str] = []
    start, language = 0, None
    for number, line in enumerate(page.read_text().splitlines(), 1):
        if line.strip().startswith("```"):
            if language is None:
                language, block, start = line.strip()[3:], [], number + 1
                continue
            if language == "sh" and any(line.strip() for line in block):
                steps.append(Step(start, "\n".join(block), script=True))
            language = None
        elif language == "sh":
            if not line.strip().startswith("make "):
                block.append(line.strip())
        elif language is not None and (m := COMMAND.search(line.split(" #")[0].strip())):
            steps.append(Step(number, m.group(1), script=False))
    return steps


def _pages_with_commands() -> list[Path]:
    return [page for page in DOCS_PAGES if _steps(page)]


@pytest.fixture(scope="module")
def acme_sandbox() -> Iterator[ReveniSandbox]:
    """Acme's Reveni, with the `dev` environment's key, as the docs' own sandbox has it."""
    sandbox = ReveniSandbox(
        returns=20, seed=11, store_id="acme-store", extra_args=["--api-key", DEV_SANDBOX_KEY]
    ).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="module")
def northwind_sandbox() -> Iterator[ReveniSandbox]:
    """The Reveni of the client the docs add (`clients add northwind`), as its dev sandbox."""
    sandbox = ReveniSandbox(
        returns=20, seed=23, store_id="northwind-store", extra_args=["--api-key", DEV_SANDBOX_KEY]
    ).start()
    yield sandbox
    sandbox.stop()


@pytest.fixture(scope="module")
def project(demo_sandbox: ReveniSandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder after `make install` and `make demo`."""
    folder = tmp_path_factory.mktemp("project")
    shutil.copytree(ROOT / "rules", folder / "rules")
    shutil.copy(ROOT / "meltano.yml", folder / "meltano.yml")  # `reveni-khaos clients ...` read and edit it
    for shared in (".venv", ".meltano", "tap-reveni", "target-khaos-control"):  # installed once, read here
        (folder / shared).symlink_to(ROOT / shared)
    (folder / "output").mkdir()
    (folder / "tmp").mkdir()
    tapped = tap_output(run_tap(folder, demo_sandbox.tap_config()))
    (folder / "tap-config.json").unlink()
    synced = run_target(folder, target_config(folder, rules_path=str(folder / "rules" / "demo")), tapped)
    assert synced.returncode == 0, synced.stderr
    (folder / "target-config.json").unlink()
    # As the demo writes it, paths relative to the project folder.
    config = target_config(folder, rules_path="rules/demo", database_url="sqlite:///store.db")
    (folder / CHANNEL_CONFIG).write_text(json.dumps(config))
    # Acme is another client: its own store (one store holding two clients' returns is refused).
    acme = {**config, "rules_path": "rules/acme", "database_url": "sqlite:///acme.db"}
    (folder / "acme-config.json").write_text(json.dumps(acme))
    (folder / "output" / "credit-notes.csv").write_text(
        "CreditNoteCode,Date,AssociatedRef,Currency,Gross\nCN1,2026-11-21,RV-nobody-knows,GBP,1.00\n"
    )
    return folder


def _production(demo_sandbox: ReveniSandbox, acme_url: str) -> dict[str, str]:
    """The production settings docs/integration.md and consultant.md list, for both clients."""
    return {
        "TAP_REVENI_API_URL": demo_sandbox.url,
        "TAP_REVENI_API_KEY": SANDBOX_KEY,
        "TAP_REVENI_STORE_ID": demo_sandbox.store_id,
        "TARGET_KHAOS_CONTROL_DATABASE_URL": "sqlite:///store.db",
        "TARGET_KHAOS_CONTROL_RULES_PATH": "rules/demo",
        "TARGET_KHAOS_CONTROL_CHANNEL_USERNAME": CHANNEL_USER,
        "TARGET_KHAOS_CONTROL_CHANNEL_PASSWORD": CHANNEL_PASSWORD,
        "TARGET_KHAOS_CONTROL_PUBLIC_URL": "https://returns.example.com",
        "TAP_REVENI__ACME_API_URL": acme_url,
        "TAP_REVENI__ACME_API_KEY": DEV_SANDBOX_KEY,
        "TAP_REVENI__ACME_STORE_ID": "acme-store",
        "TARGET_KHAOS_CONTROL__ACME_DATABASE_URL": "sqlite:///acme.db",
        "TARGET_KHAOS_CONTROL__ACME_CHANNEL_USERNAME": "khaos-acme",
        "TARGET_KHAOS_CONTROL__ACME_CHANNEL_PASSWORD": "acme-channel-secret",
        "TARGET_KHAOS_CONTROL__ACME_PUBLIC_URL": "https://acme-returns.example.com",
    }


@pytest.mark.parametrize(
    "page",
    [page for page in _pages_with_commands() if page.name != "finance.md"],
    ids=lambda page: str(page.relative_to(ROOT)),
)
def test_every_command_of_the_page_runs_as_written(
    page: Path,
    project: Path,
    demo_sandbox: ReveniSandbox,
    acme_sandbox: ReveniSandbox,
    northwind_sandbox: ReveniSandbox,
    tmp_path: Path,
) -> None:
    moved = {"TAP_REVENI__NORTHWIND_API_URL": northwind_sandbox.url}  # its dev port, 8821
    _run_page(page, project, demo_sandbox, acme_sandbox, tmp_path, moved)  # finance.md: its own test, below


def _run_page(
    page: Path,
    project: Path,
    demo_sandbox: ReveniSandbox,
    acme_sandbox: ReveniSandbox,
    tmp_path: Path,
    moved: dict[str, str] | None = None,
) -> Path:
    """Run every step of `page` in order in a copy of `project`; the copy, for a look after."""
    folder = tmp_path / "project"
    shutil.copytree(project, folder, symlinks=True)
    steps = _steps(page)
    own_port = str(free_port())  # for a sandbox the page starts on Acme's dev port
    starts_sandbox = any(f"--port {ACME_DEV_PORT}" in step.text for step in steps)
    env = {
        **os.environ,
        "PATH": _path_without_the_project_environment(),  # a terminal where nothing was activated
        "EDITOR": "true",
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",  # this test's own bookmarks
        "TAP_REVENI__ACME_API_URL": f"http://127.0.0.1:{own_port}" if starts_sandbox else acme_sandbox.url,
        **(moved or {}),
    }
    for step in steps:
        where = f"{page.relative_to(ROOT)}:{step.line}"
        text = step.text.replace(DOCS_TMP, f"{folder}{DOCS_TMP}").replace(SERVER_ROOT, f"{folder}/")
        if not step.script:
            _serve(shlex.split(text), folder) if " serve " in text else _run(shlex.split(text), folder, env, where)
            continue
        script = text.replace(f"--port {ACME_DEV_PORT}", f"--port {own_port}")
        production = _production(demo_sandbox, acme_sandbox.url) if "--environment prod" in script else {}
        _run(["bash", "-e", "-c", script], folder, {**env, **production}, where)
    return folder


def _path_without_the_project_environment() -> str:
    return os.pathsep.join(
        part for part in os.environ["PATH"].split(os.pathsep) if part and Path(part).resolve() != BIN.resolve()
    )


def _run(argv: list[str], folder: Path, env: dict[str, str], where: str) -> None:
    done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False)

    assert done.returncode == 0, f"{where}: `{argv[-1]}`\n{done.stderr[-3000:]}"
    assert "Traceback" not in done.stderr, f"{where}\n{done.stderr[-3000:]}"


def _serve(argv: list[str], folder: Path) -> None:
    port = free_port()
    argv[argv.index("--port") + 1] = str(port)
    process = subprocess.Popen(argv, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                answered = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                time.sleep(0.2)
        else:
            pytest.fail("the channel did not answer within 20 s")
        assert answered.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_every_role_page_shows_commands() -> None:
    shown = {page.name for page in _pages_with_commands()}

    assert shown >= {"README.md", "finance.md", "cx.md", "warehouse.md", "consultant.md", "integration.md"}


def test_every_command_is_written_to_run_from_the_project_folder() -> None:
    # given each command line of the docs, expect the project's own programs by their path
    # in the project folder (`.venv/bin/...`), never a bare name that is not on PATH
    bare = [
        f"{page.relative_to(ROOT)}:{step.line}: {line}"
        for page in DOCS_PAGES
        for step in _steps(page)
        if step.script
        for line in step.text.splitlines()
        if re.match(
            r"(?:\w+=\S+ )*(reveni-khaos|meltano|tap-reveni|target-khaos-control|reveni-sandbox|dagster)\b", line
        )
    ]

    assert bare == []


def test_customer_data_the_docs_write_goes_under_output() -> None:
    # given every file a documented command writes (`> file`, `--output file`)
    written = [
        (f"{page.relative_to(ROOT)}:{step.line}", m.group(1))
        for page in DOCS_PAGES
        for step in _steps(page)
        for m in re.finditer(r"(?:>|--output) (\S+)", step.text)
    ]

    assert written, "the docs write files"
    # expect data under output/ (ignored by git), or a config file (`*-config.json`, ignored too)
    assert [(where, file) for where, file in written if not re.match(r"output/|[\w-]+-config\.json$", file)] == []
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "output/" in ignored
    assert "*-config.json" in ignored


def test_the_tap_without_its_config_file_says_what_to_write_in_one_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    done = tap_command_here(capfd, ["tap-reveni", "--config", "tap-config.json"])

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()  # one line, logged as an ERROR Meltano shows as one
    assert "| ERROR " in line
    assert "tap-reveni: File at 'tap-config.json' was not found. Write the tap's settings" in line
    assert "meltano invoke --dump=config tap-reveni > tap-config.json" in line


def test_make_clean_removes_every_folder_the_demo_tests_and_docs_leave() -> None:
    # given what `make demo`, the tests (hypothesis's examples, the browser tests' screenshots)
    # and the docs' commands (output/) write into the project folder, all ignored by git
    left = {".demo", "output", ".hypothesis", "test-artifacts", ".pytest_cache", ".meltano"}
    ignored = {line.rstrip("/") for line in (ROOT / ".gitignore").read_text().splitlines()}
    assert left <= ignored

    dry_run = subprocess.run(
        ["make", "-n", "clean"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout

    # expect `make clean` to remove each of them
    assert left <= set(dry_run.split())


def test_starting_a_client_from_the_demo_never_nests_into_an_existing_folder(tmp_path: Path) -> None:
    # given each documented command that starts a client's rules from the demo's
    starts = [
        line
        for page in DOCS_PAGES
        for step in _steps(page)
        if step.script
        for line in step.text.splitlines()
        if " clients add " in line
    ]
    assert len(starts) == 2, "consultant.md and rules/README.md"
    for line in starts:
        command = line.split(" #")[0].replace(".venv/bin/reveni-khaos", str(BIN / "reveni-khaos"))
        client = command.split()[-1]
        shutil.rmtree(tmp_path / "rules", ignore_errors=True)
        shutil.copytree(ROOT / "rules" / "demo", tmp_path / "rules" / "demo")
        shutil.copy(ROOT / "meltano.yml", tmp_path / "meltano.yml")

        # for a new client: the demo's files, in the client's own folder
        created = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, check=False)
        assert created.returncode == 0, created.stderr
        assert sorted(path.name for path in (tmp_path / "rules" / client).iterdir()) == ["rules.yml", "tests"]

        # for a client that has a folder already: refused, nothing copied into it
        (tmp_path / "meltano.yml").write_text((ROOT / "meltano.yml").read_text())
        again = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, check=False)
        assert again.returncode != 0
        assert f"rules/{client}" in again.stderr
        assert sorted(path.name for path in (tmp_path / "rules" / client).iterdir()) == ["rules.yml", "tests"]


def test_finance_month_end_checklist_runs_as_written_and_leaves_its_papers(
    project: Path, demo_sandbox: ReveniSandbox, acme_sandbox: ReveniSandbox, tmp_path: Path
) -> None:
    # Given the demo's state, the controller runs finance.md's commands in its order.
    folder = _run_page(ROOT / "docs" / "finance.md", project, demo_sandbox, acme_sandbox, tmp_path)

    # Expect the papers the checklist names: the close's two exports and the report.
    for paper in ("close-2026-11.csv", "close-2026-11.xlsx", "reconciliation-2026-11.csv"):
        assert (folder / "output" / paper).stat().st_size > 0, paper


def test_close_on_the_demo_gives_the_figures_worked_out_by_hand(
    project: Path, cli_here: CliCommand, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo's 200 returns, refunds and top-ups dated in November 2026, summed by hand
    # from the tap's output per currency and refund method (store_credit: store credit;
    # bank_transfer, original_payment_method: cash):
    #   GBP cash 511.62, GBP store credit 24.00, EUR cash 495.89, EUR store credit 48.07,
    #   USD cash 245.92, USD store credit 0.00. Khaos credited none of them; the one credit
    #   note of the export (CN1, 1.00 GBP) names a reference Reveni never sent.
    monkeypatch.chdir(project)
    done = cli_here(
        "close",
        "--period",
        "2026-11",
        "--config",
        "channel-config.json",
        "--credit-notes",
        "output/credit-notes.csv",
        "--payout-total",
        "511.62",
        "GBP",
        "--payout-total",
        "500.00",
        "EUR",
        "--output",
        "demo-close",
    )

    assert done.returncode == 0, done.stderr
    paid = re.findall(r"^  (\w{3})\s+(cash|store credit)\s+paid out by Reveni\s+(-?\d+\.\d\d)", done.stdout, re.M)
    assert paid == [
        ("EUR", "cash", "495.89"),
        ("EUR", "store credit", "48.07"),
        ("GBP", "cash", "511.62"),
        ("GBP", "store credit", "24.00"),
        ("USD", "cash", "245.92"),
        ("USD", "store credit", "0.00"),
    ]
    assert not re.search(r"credited by Khaos\s+[1-9]", done.stdout), "Khaos credited none of the demo's returns"
    assert re.search(r"GBP\s+credited, no Reveni return\s+1\.00", done.stdout)
    assert "Reveni payout 511.62 GBP against cash refunds less top-ups 511.62 GBP: ties out" in done.stdout
    assert "Reveni payout 500.00 EUR against cash refunds less top-ups 495.89 EUR: difference 4.11 EUR" in done.stdout
    assert {"demo-close.csv", "demo-close.xlsx"} <= {path.name for path in project.iterdir()}
