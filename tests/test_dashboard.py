"""The dashboard in a real headless browser (Debian's Chromium, driven by Selenium): every
page opens with the dashboard's own login, and the figures it shows are the store's.
Screenshots land in test-artifacts/dashboard/."""

from __future__ import annotations

import base64
import contextlib
import csv
import io
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import target_khaos_control.operations.cli as operator_cli
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.servers import ChannelServer, ReveniSandbox, run_tap, run_target, tap_output, target_config

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "dashboard"
DASHBOARD = ("finance-lead", "dash-pw-2c7")


@pytest.fixture(scope="module")
def dashboard(demo_sandbox: ReveniSandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChannelServer]:
    workdir = tmp_path_factory.mktemp("dashboard")
    config = target_config(
        workdir,
        dashboard_username=DASHBOARD[0],
        dashboard_password=DASHBOARD[1],
        exceptions_path=str(workdir / "exceptions"),
    )
    sync = run_target(workdir, config, tap_output(run_tap(workdir, demo_sandbox.tap_config())))
    (workdir / "sync.log").write_text(sync.stderr)
    with sa.create_engine(f"sqlite:///{workdir / 'store.db'}").begin() as conn:
        refs = [
            row[0]
            for row in conn.execute(
                sa.text("select associated_ref from documents where state = 'published' order by feed_position limit 3")
            )
        ]
    notes = workdir / "credit-notes.csv"
    notes.write_text(
        "CreditNoteCode,Date,AssociatedRef,Currency,Gross\n"
        + "".join(f"CN{n},2026-11-21,{ref},GBP,1.00\n" for n, ref in enumerate(refs))
    )
    (workdir / "config.json").write_text(json.dumps(config))
    # finance's reconciliation, by the command's entry point in this process
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as reconciled:
        operator_cli.main(["reconcile", "--config", str(workdir / "config.json"), "--credit-notes", str(notes)])
    assert reconciled.value.code == 0
    server = ChannelServer(config, workdir).start()
    server.workdir = workdir
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    if not Path("/usr/bin/chromedriver").exists():
        pytest.skip("Chromium is missing: `sudo apt-get install chromium chromium-driver` runs these tests")
    driver = _chromium(tmp_path_factory.mktemp("chromium"))
    token = base64.b64encode(":".join(DASHBOARD).encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def _chromium(profile: Path) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1366,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def _open(browser: webdriver.Chrome, url: str, shot: str) -> None:
    """Open `url` and keep a screenshot of it. The browser is shared by the module's tests, in
    random order: a navigation an earlier test's click started (a link, a download) may land
    late and abort this page, so the page is opened again (seen in CI: "aborted by navigation")."""
    for attempt in range(3):
        browser.get(url)
        try:
            browser.save_screenshot(str(ARTIFACTS / f"{shot}.png"))
            return
        except TimeoutException as error:
            if "aborted by navigation" not in str(error) or attempt == 2:
                raise


def _rows(browser: webdriver.Chrome, table: str) -> list[list[str]]:
    """Each row's cells as the page shows them, read in one call (not one call per cell)."""
    rows: list[list[str]] = browser.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), row =>"
        " Array.from(row.querySelectorAll('td'), cell => cell.innerText.trim())).slice(1)",
        f"table#{table} tr",
    )
    return rows


def _assert_listed(browser: webdriver.Chrome, expected: int) -> None:
    """The list says how many match, and shows them a page of 50 at a time."""
    assert browser.find_element(By.ID, "matching").text == f"{expected} matching"
    assert len(_rows(browser, "exceptions")) == min(expected, 50)


def _store(server: ChannelServer, query: str, **params: Any) -> list[Any]:
    with sa.create_engine(f"sqlite:///{server.workdir / 'store.db'}").connect() as conn:
        return list(conn.execute(sa.text(query), params).all())


def test_exceptions_page_shows_the_stores_open_exceptions(dashboard: ChannelServer, browser: webdriver.Chrome) -> None:
    _open(browser, f"{dashboard.url}/dashboard/", "exceptions")

    expected = Counter(
        {
            (owner, kind): n
            for owner, kind, n in _store(
                dashboard, "select owner, kind, count(*) from exceptions where status = 'open' group by owner, kind"
            )
        }
    )
    shown = Counter({(owner, kind): int(n) for owner, kind, n in _rows(browser, "by-type")})
    assert shown == expected
    _assert_listed(browser, sum(expected.values()))
    assert browser.find_element(By.CSS_SELECTOR, "table#exceptions td:nth-child(11)").text, "a suggested fix"


def test_reconciliation_page_shows_the_last_run(dashboard: ChannelServer, browser: webdriver.Chrome) -> None:
    _open(browser, f"{dashboard.url}/dashboard/reconciliation", "reconciliation")

    summary = json.loads(_store(dashboard, "select counts from runs where kind = 'reconcile' order by id desc")[0][0])
    assert browser.find_element(By.ID, "match-rate").text == summary["match_rate"]
    assert browser.find_element(By.ID, "compared").text == str(summary["returns_compared"])
    assert {gap: int(n) for gap, n in _rows(browser, "gaps")} == summary["gaps"]
    assert {row[0]: row[1:] for row in _rows(browser, "totals")} == {
        currency: [t["refunded"], t["credited"], t["gap"]] for currency, t in summary["totals_by_currency"].items()
    }


def test_a_returns_timeline_follows_it_from_reveni_to_khaos(
    dashboard: ChannelServer, browser: webdriver.Chrome
) -> None:
    (return_id,) = _store(
        dashboard,
        "select return_id from documents d join credit_notes c on c.associated_ref = d.associated_ref limit 1",
    )[0]
    _open(browser, f"{dashboard.url}/dashboard/returns/{return_id}", "timeline")

    events = [what for _, what in _rows(browser, "timeline")]
    assert events[0] == "Created in Reveni"
    assert any("published to the channel" in event for event in events)
    assert any(event.startswith("Credit note CN") for event in events)
    assert (
        browser.find_element(By.ID, "status").text
        == _store(
            dashboard,
            "select json_extract(v.record, '$.status') from reveni_returns r"
            " join return_versions v on v.id = r.version_id where r.return_id = :id",
            id=return_id,
        )[0][0]
    )


def test_runs_page_lists_the_last_runs(dashboard: ChannelServer, browser: webdriver.Chrome) -> None:
    _open(browser, f"{dashboard.url}/dashboard/runs", "runs")

    kinds = [row[1] for row in _rows(browser, "runs")]
    assert kinds == [kind for (kind,) in _store(dashboard, "select kind from runs order by id desc limit 50")]
    assert {"sync", "reconcile"} <= set(kinds)


def test_each_login_opens_only_its_own_door(dashboard: ChannelServer) -> None:
    channel_login = dashboard.auth
    assert requests.get(f"{dashboard.url}/dashboard/", auth=channel_login, timeout=10).status_code == 401
    assert requests.get(f"{dashboard.url}/khaos/config.json", auth=DASHBOARD, timeout=10).status_code == 400
    assert requests.get(f"{dashboard.url}/dashboard/", auth=DASHBOARD, timeout=10).status_code == 200


def test_an_owner_card_opens_that_owners_exceptions(dashboard: ChannelServer, browser: webdriver.Chrome) -> None:
    _open(browser, f"{dashboard.url}/dashboard/", "exceptions")
    card = browser.find_elements(By.CSS_SELECTOR, "a.card[data-owner]")[0]
    owner = card.get_attribute("data-owner")

    card.click()
    browser.save_screenshot(str(ARTIFACTS / "exceptions-one-owner.png"))

    assert browser.current_url.endswith(f"/dashboard/?owner={owner}")
    rows = _rows(browser, "exceptions")
    (expected,) = _store(dashboard, "select count(*) from exceptions where status = 'open' and owner = :o", o=owner)[0]
    _assert_listed(browser, expected)
    assert {row[0] for row in rows} == {owner}


def test_a_type_link_opens_that_types_exceptions(dashboard: ChannelServer, browser: webdriver.Chrome) -> None:
    _open(browser, f"{dashboard.url}/dashboard/", "exceptions")
    link = browser.find_element(By.CSS_SELECTOR, "table#by-type td:nth-child(2) a")
    kind = link.text

    link.click()

    assert browser.current_url.endswith(f"/dashboard/?type={kind}")
    (expected,) = _store(dashboard, "select count(*) from exceptions where status = 'open' and kind = :k", k=kind)[0]
    rows = _rows(browser, "exceptions")
    _assert_listed(browser, expected)
    assert {row[1] for row in rows} == {kind}


def test_the_all_owners_card_clears_the_filter(dashboard: ChannelServer, browser: webdriver.Chrome) -> None:
    _open(browser, f"{dashboard.url}/dashboard/?owner=finance", "exceptions-finance")

    browser.find_element(By.ID, "all").click()

    assert browser.current_url.endswith("/dashboard/")
    _assert_listed(browser, _store(dashboard, "select count(*) from exceptions where status = 'open'")[0][0])


def test_an_unknown_owner_or_type_is_refused_with_the_valid_ones(dashboard: ChannelServer) -> None:
    for query in ("owner=bogus", "owner=Finance", "type=unknwn_reason"):
        answer = requests.get(f"{dashboard.url}/dashboard/?{query}", auth=DASHBOARD, timeout=10)

        assert answer.status_code == 400, query
        assert "finance, warehouse, cx, integration" in answer.text or "unknown_reason" in answer.text, query


def test_the_landing_page_and_health_check_need_no_login(dashboard: ChannelServer) -> None:
    landing = requests.get(f"{dashboard.url}/", timeout=10)
    health = requests.get(f"{dashboard.url}/healthz", timeout=10)

    assert landing.status_code == 200
    assert 'href="/dashboard/"' in landing.text
    assert (health.status_code, health.text) == (200, "ok")
    assert requests.get(f"{dashboard.url}/khaos/returns.json", timeout=10).status_code == 400


def test_runs_show_status_duration_and_counts_in_columns(dashboard: ChannelServer, browser: webdriver.Chrome) -> None:
    _open(browser, f"{dashboard.url}/dashboard/runs", "runs")

    headers = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "table#runs th")]
    assert headers[:4] == ["Started", "Kind", "Status", "Duration"]
    assert {"returns", "published"} <= set(headers)
    first = _rows(browser, "runs")[0]
    assert first[0].endswith(" UTC"), "with its zone"
    assert "." not in first[0], "to the second"
    assert first[2] == "finished"
    assert first[3].endswith(" s")


def test_a_timeline_names_the_site_and_shows_whole_quantities(
    dashboard: ChannelServer, browser: webdriver.Chrome
) -> None:
    (return_id, body) = _store(
        dashboard,
        "select return_id, body from documents join document_bodies on document_bodies.document_id = documents.id limit 1",
    )[0]
    code = json.loads(body)["ReturnedItems"][0]["SKU"]
    with sa.create_engine(f"sqlite:///{dashboard.workdir / 'store.db'}").begin() as conn:
        conn.execute(
            sa.text(
                "insert into stock_levels (stock_id, site_id, stock_code, available, on_order, updated_at) "
                "values ('timeline-test', '1', :code, 16.0000, 0, '2026-11-26 10:00:00.123456')"
            ),
            {"code": code},
        )

    _open(browser, f"{dashboard.url}/dashboard/returns/{return_id}", "timeline-stock")

    assert [code, "Main warehouse (1)", "16"] in [row[:3] for row in _rows(browser, "stock")]


def test_assign_then_resolve_with_a_note_in_the_browser(dashboard: ChannelServer, browser: webdriver.Chrome) -> None:
    _open(browser, f"{dashboard.url}/dashboard/?owner=finance", "work-list")
    first = browser.find_element(By.CSS_SELECTOR, "table#exceptions tr[data-key]")
    key = first.get_attribute("data-key")
    first.find_element(By.CSS_SELECTOR, "a.work").click()

    browser.find_element(By.ID, "assign-to").clear()
    browser.find_element(By.ID, "assign-to").send_keys("Priya (finance)")
    browser.find_element(By.ID, "assign-by").send_keys("Sam")
    browser.find_element(By.CSS_SELECTOR, "form#assign button").click()
    browser.save_screenshot(str(ARTIFACTS / "exception-assigned.png"))

    assert browser.find_element(By.ID, "done").text == "Assigned."
    assert browser.find_element(By.ID, "assigned-to").text == "Priya (finance)"

    browser.find_element(By.ID, "resolve-note").send_keys("Raised credit note CN-901 in Khaos by hand")
    browser.find_element(By.ID, "resolve-by").send_keys("Priya")
    browser.find_element(By.CSS_SELECTOR, "form#resolve button").click()
    browser.save_screenshot(str(ARTIFACTS / "exception-resolved.png"))

    assert browser.find_element(By.ID, "done").text == "Resolved."
    assert browser.find_element(By.ID, "status").text == "resolved"
    assert [row[1:] for row in _rows(browser, "history")] == [
        ["Priya (login finance-lead)", "resolved", "Raised credit note CN-901 in Khaos by hand"],
        ["Sam (login finance-lead)", "assigned to Priya (finance)", ""],
    ][::-1]
    assert _store(dashboard, "select status, assigned_to from exceptions where trace_key = :k", k=key) == [
        ("resolved", "Priya (finance)")
    ]
    assert _store(
        dashboard, "select action, login, person, note from exception_actions where trace_key = :k order by id", k=key
    ) == [
        ("assign", "finance-lead", "Sam", ""),
        ("resolve", "finance-lead", "Priya", "Raised credit note CN-901 in Khaos by hand"),
    ]

    _open(browser, f"{dashboard.url}/dashboard/resolved?q=CN-901", "resolved-history")
    (row,) = _rows(browser, "resolved")
    assert row[1:3] == ["Priya (login finance-lead)", "Raised credit note CN-901 in Khaos by hand"]


def test_export_downloads_every_matching_row_as_csv(
    dashboard: ChannelServer, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    _open(browser, f"{dashboard.url}/dashboard/?owner=finance", "export")

    browser.find_element(By.ID, "export").click()

    downloaded = tmp_path / "open-exceptions.csv"
    for _ in range(200):  # until Chromium has written it (at most 20 s)
        if downloaded.exists():
            break
        time.sleep(0.1)
    rows = list(csv.DictReader(io.StringIO(downloaded.read_text(encoding="utf-8"))))
    expected = _store(dashboard, "select trace_key from exceptions where status = 'open' and owner = 'finance'")
    assert len(rows) == len(expected), "every matching row, not one page"
    assert {row["owner"] for row in rows} == {"finance"}
    assert {"amount at stake", "currency", "age (days)", "severity", "return id"} <= set(rows[0])


def test_a_syncs_row_on_the_runs_page_counts_the_exceptions_it_opened(
    dashboard: ChannelServer, browser: webdriver.Chrome
) -> None:
    _open(browser, f"{dashboard.url}/dashboard/runs", "runs-exceptions")

    headers = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "table#runs th")]
    sync = next(row for row in _rows(browser, "runs") if row[1] == "sync")
    (opened,) = _store(dashboard, "select count(*) from exceptions where item_id != '(reconciliation)'")[0]
    assert sync[headers.index("exceptions opened")] == str(opened)
    assert f"; {opened} exceptions opened, 0 resolved" in (dashboard.workdir / "sync.log").read_text()


def test_a_reconciliation_gap_opens_its_returns(dashboard: ChannelServer, browser: webdriver.Chrome) -> None:
    _open(browser, f"{dashboard.url}/dashboard/reconciliation", "reconciliation-gap")
    link = browser.find_element(By.CSS_SELECTOR, "table#gaps td a")

    link.click()

    assert "/dashboard/?type=" in browser.current_url
    first = browser.find_element(By.CSS_SELECTOR, "table#exceptions tr[data-key] td:nth-child(3) a")
    assert "/dashboard/returns/" in (first.get_attribute("href") or "")


def test_sign_out_makes_chromium_forget_the_login(dashboard: ChannelServer, tmp_path: Path) -> None:
    if not Path("/usr/bin/chromedriver").exists():
        pytest.skip("Chromium is missing: `sudo apt-get install chromium chromium-driver` runs these tests")
    own = _chromium(tmp_path / "profile")  # a login the browser remembers, not one sent by the test on every request
    signed_in = dashboard.url.replace("http://", f"http://{DASHBOARD[0]}:{DASHBOARD[1]}@")
    try:
        own.get(f"{signed_in}/dashboard/")
        own.get(f"{dashboard.url}/dashboard/runs")
        remembered = own.find_element(By.TAG_NAME, "h1").text

        own.find_element(By.ID, "logout").click()
        own.get(f"{dashboard.url}/")  # elsewhere, then back
        own.get(f"{dashboard.url}/dashboard/runs")
        after = own.find_elements(By.TAG_NAME, "h1")
        own.get(f"{signed_in}/dashboard/runs")
        again = own.find_element(By.TAG_NAME, "h1").text
    finally:
        own.quit()

    assert remembered == "Last runs"
    assert after == [], "the Runs page is not shown: the browser asks for the login again"
    assert again == "Last runs"
