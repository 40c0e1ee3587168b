"""The dashboard in a real headless browser (Debian's Chromium, driven by Selenium): every
page opens with the dashboard's own login, and the figures it shows are the store's.
Screenshots land in test-artifacts/dashboard/."""

from __future__ import annotations

import base64
import json
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from tests.servers import BIN, ChannelServer, ReveniSandbox, run_tap, run_target, tap_output, target_config

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
    run_target(workdir, config, tap_output(run_tap(workdir, demo_sandbox.tap_config())))
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
    subprocess.run(
        [
            str(BIN / "reveni-khaos"),
            "reconcile",
            "--config",
            str(workdir / "config.json"),
            "--credit-notes",
            str(notes),
        ],
        check=True,
        capture_output=True,
    )
    server = ChannelServer(config, workdir).start()
    server.workdir = workdir
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    if not Path("/usr/bin/chromedriver").exists():
        pytest.skip("Chromium is missing: `sudo apt-get install chromium chromium-driver` runs these tests")
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
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    token = base64.b64encode(":".join(DASHBOARD).encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def _open(browser: webdriver.Chrome, url: str, shot: str) -> None:
    browser.get(url)
    browser.save_screenshot(str(ARTIFACTS / f"{shot}.png"))


def _rows(browser: webdriver.Chrome, table: str) -> list[list[str]]:
    return [
        [cell.text for cell in row.find_elements(By.TAG_NAME, "td")]
        for row in browser.find_elements(By.CSS_SELECTOR, f"table#{table} tr")[1:]
    ]


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
    assert len(_rows(browser, "exceptions")) == sum(expected.values())
    assert browser.find_element(By.CSS_SELECTOR, "table#exceptions td:nth-child(7)").text, "a suggested fix"


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
            dashboard, "select json_extract(record, '$.status') from reveni_returns where return_id = :id", id=return_id
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
    assert len(rows) == expected
    assert {row[0] for row in rows} == {owner}


def test_a_type_link_opens_that_types_exceptions(dashboard: ChannelServer, browser: webdriver.Chrome) -> None:
    _open(browser, f"{dashboard.url}/dashboard/", "exceptions")
    link = browser.find_element(By.CSS_SELECTOR, "table#by-type td:nth-child(2) a")
    kind = link.text

    link.click()

    assert browser.current_url.endswith(f"/dashboard/?type={kind}")
    (expected,) = _store(dashboard, "select count(*) from exceptions where status = 'open' and kind = :k", k=kind)[0]
    rows = _rows(browser, "exceptions")
    assert len(rows) == expected
    assert {row[1] for row in rows} == {kind}


def test_the_all_owners_card_clears_the_filter(dashboard: ChannelServer, browser: webdriver.Chrome) -> None:
    _open(browser, f"{dashboard.url}/dashboard/?owner=finance", "exceptions-finance")

    browser.find_element(By.ID, "all").click()

    assert browser.current_url.endswith("/dashboard/")
    assert (
        len(_rows(browser, "exceptions"))
        == _store(dashboard, "select count(*) from exceptions where status = 'open'")[0][0]
    )


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
    (return_id, body) = _store(dashboard, "select return_id, body from documents limit 1")[0]
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
