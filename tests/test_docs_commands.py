"""Every `reveni-khaos` command the docs show runs as written, against the demo's state.

Given the demo's state in a temporary project folder (the store after a sync of the demo
returns, `channel-config.json` where docs/README.md says it lives, Khaos's credit-note
export, the tap's output the consultant previews), each command of each page is run from
that folder exactly as printed. Only what cannot be used on a test machine is moved: a
fixed port becomes a free one and `/tmp/...` a folder of this test's own.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
from reveni_khaos_sandbox.demo import CHANNEL_CONFIG

from tests.servers import BIN, ReveniSandbox, free_port, run_tap, run_target, tap_output, target_config
from tests.test_docs import PAGES, ROOT, _code_lines

DOCS_TMP = "/tmp/"  # noqa: S108 (the docs' scratch folder, moved into this test's own)
COMMAND = re.compile(r"(?:^|[\s/=])((?:\S*/)?reveni-khaos\s+.+)$")


def _documented() -> list[tuple[str, str]]:
    return [
        (page.name, m.group(1))
        for page in PAGES
        for line in _code_lines(page)
        if (m := COMMAND.search(line)) and not m.group(1).startswith("reveni-khaos:")
    ]


@pytest.fixture(scope="module")
def project(demo_sandbox: ReveniSandbox, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("project")
    shutil.copytree(ROOT / "rules", folder / "rules")
    shutil.copy(ROOT / "meltano.yml", folder)  # `reveni-khaos clients ...` read and edit it
    tapped = tap_output(run_tap(folder, demo_sandbox.tap_config()))
    (folder / "acme-returns.singer").write_text("\n".join(tapped) + "\n")
    synced = run_target(folder, target_config(folder, rules_path=str(folder / "rules" / "demo")), tapped)
    assert synced.returncode == 0, synced.stderr
    # As the demo writes it, paths relative to the project folder.
    config = target_config(folder, rules_path="rules/demo", database_url="sqlite:///store.db")
    (folder / CHANNEL_CONFIG).write_text(json.dumps(config))
    # Acme is another client: its own store (one store holding two clients' returns is refused).
    acme = {**config, "rules_path": "rules/acme", "database_url": "sqlite:///acme.db"}
    (folder / "acme-config.json").write_text(json.dumps(acme))
    (folder / "credit-notes.csv").write_text(
        "CreditNoteCode,Date,AssociatedRef,Currency,Gross\nCN1,2026-11-21,RV-nobody-knows,GBP,1.00\n"
    )
    shutil.copytree(ROOT / "rules" / "acme", folder / "tmp" / "acme-live")
    return folder


@pytest.mark.parametrize(("page", "command"), _documented(), ids=lambda value: value)
def test_the_documented_command_runs_as_written(page: str, command: str, project: Path) -> None:
    argv = shlex.split(command.replace(DOCS_TMP, f"{project}{DOCS_TMP}"))
    argv[0] = str(BIN / "reveni-khaos")  # `.venv/bin/reveni-khaos`, `/srv/returns/.venv/bin/...`: the same command
    if argv[1] == "serve":
        _serve(argv, project)
        return
    done = subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=300, check=False)

    assert done.returncode == 0, f"{page}: `{command}`\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr


def _serve(argv: list[str], project: Path) -> None:
    port = free_port()
    argv[argv.index("--port") + 1] = str(port)
    process = subprocess.Popen(argv, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
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
    assert {page for page, _ in _documented()} >= {"README.md", "finance.md", "cx.md", "warehouse.md", "consultant.md"}


def test_finance_month_end_checklist_runs_as_written_and_leaves_its_papers(project: Path) -> None:
    # Given the demo's state, the controller runs finance.md's commands in its order.
    for page, command in _documented():
        if page != "finance.md":
            continue
        argv = shlex.split(command)
        argv[0] = str(BIN / "reveni-khaos")
        done = subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, f"`{command}`\n{done.stderr[-2000:]}"

    # Expect the papers the checklist names: the close's two exports and the report.
    for paper in ("close-2026-11.csv", "close-2026-11.xlsx", "reconciliation-2026-11.csv"):
        assert (project / paper).stat().st_size > 0, paper


def test_close_on_the_demo_gives_the_figures_worked_out_by_hand(project: Path) -> None:
    # The demo's 200 returns, refunds and top-ups dated in November 2026, summed by hand
    # from the tap's output per currency and refund method (store_credit: store credit;
    # bank_transfer, original_payment_method: cash):
    #   GBP cash 511.62, GBP store credit 24.00, EUR cash 495.89, EUR store credit 48.07,
    #   USD cash 245.92, USD store credit 0.00. Khaos credited none of them; the one credit
    #   note of the export (CN1, 1.00 GBP) names a reference Reveni never sent.
    done = subprocess.run(
        [
            str(BIN / "reveni-khaos"),
            "close",
            "--period",
            "2026-11",
            "--config",
            "channel-config.json",
            "--credit-notes",
            "credit-notes.csv",
            "--payout-total",
            "511.62",
            "GBP",
            "--payout-total",
            "500.00",
            "EUR",
            "--output",
            "demo-close",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
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
