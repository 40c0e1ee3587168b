"""tap-reveni pulls every return, incrementally and without loss, from the sandbox.

Each test runs the tap against a sandbox over HTTP. The first runs the real `tap-reveni`
command against the sandbox process, end to end; the others test paging, retries and
refusals with the tap's entry point and the sandbox's app inside the test's process
(`tests/in_process.py`), where retry waits are recorded rather than slept.
"""

from __future__ import annotations

import gc
import random
from pathlib import Path
from typing import Any

import pytest
import requests
import tap_reveni.cli
import tap_reveni.tap

from tests.in_process import Waits, run_tap_here
from tests.servers import SANDBOX_KEY, ReveniSandbox, run_tap

Capture = pytest.CaptureFixture[str]


def _returns_at(timestamps: list[str]) -> list[dict[str, Any]]:
    return [
        {"id": f"ret-{n:03d}", "status": "accepted", "updated_at": ts, "return_items": [], "refunds": []}
        for n, ts in enumerate(timestamps)
    ]


def test_full_run_emits_every_return_once_with_money_as_strings(demo_sandbox: ReveniSandbox, tmp_path: Path) -> None:
    run = run_tap(tmp_path, demo_sandbox.tap_config())

    assert run.returncode == 0, run.stderr
    assert sorted(run.ids) == sorted(r["id"] for r in demo_sandbox.all_returns())
    assert len(run.ids) == len(set(run.ids)) == 200
    prices = [item["price"] for r in run.records for item in r["return_items"]]
    assert all(isinstance(p, str) for p in prices)
    assert run.bookmark == max(r["updated_at"] for r in run.records)
    assert SANDBOX_KEY not in run.stderr


def test_second_run_emits_only_what_changed(sandbox: ReveniSandbox, tmp_path: Path, capfd: Capture) -> None:
    first = run_tap_here(capfd, tmp_path, sandbox.tap_config(lookback_minutes=0))
    assert first.returncode == 0, first.stderr
    in_progress = next(r for r in sandbox.all_returns() if r["status"] == "in_progress")
    verdicts = [
        {"item_id": i["id"], "quantity": i["quantity"], "status": "accepted"} for i in in_progress["return_items"]
    ]
    accepted = sandbox.post(f"returns/{in_progress['id']}/partial_validate", {"items": verdicts}).json()
    received = next(r for r in sandbox.all_returns() if r["status"] == "received")
    sandbox.admin("PATCH", f"returns/{received['id']}", {"status": "for_review"})

    second = run_tap_here(capfd, tmp_path, sandbox.tap_config(lookback_minutes=0), state=first.state)

    assert second.returncode == 0, second.stderr
    # The bookmark is inclusive: returns stamped exactly at it are read again (and
    # deduplicated downstream); everything else in the second run is a real change.
    at_bookmark = {r["id"] for r in first.records if r["updated_at"] == first.bookmark}
    assert set(second.ids) - at_bookmark == {in_progress["id"], received["id"]}
    assert accepted["status"] == "accepted"
    assert {r["id"]: r["status"] for r in second.records}[in_progress["id"]] == "accepted"
    assert second.bookmark is not None
    assert first.bookmark is not None
    assert second.bookmark > first.bookmark


def test_lookback_rereads_a_window_before_the_bookmark(sandbox: ReveniSandbox, tmp_path: Path, capfd: Capture) -> None:
    sandbox.admin(
        "POST",
        "returns",
        _returns_at(["2026-11-01T10:00:00Z", "2026-11-01T11:50:00Z", "2026-11-01T11:58:00Z", "2026-11-01T12:00:00Z"]),
    )
    first = run_tap_here(capfd, tmp_path, sandbox.tap_config(lookback_minutes=5))
    second = run_tap_here(capfd, tmp_path, sandbox.tap_config(lookback_minutes=5), state=first.state)

    assert first.bookmark == "2026-11-01T12:00:00Z"
    assert second.ids == ["ret-002", "ret-003"]


def test_ties_across_page_boundaries_lose_nothing(sandbox: ReveniSandbox, tmp_path: Path, capfd: Capture) -> None:
    # Twelve returns share one timestamp: more than two whole pages of five.
    timestamps = [f"2026-11-01T10:00:0{n}Z" for n in range(4)]
    timestamps += ["2026-11-01T11:00:00Z"] * 12 + [f"2026-11-01T12:00:0{n}Z" for n in range(4)]
    sandbox.admin("POST", "returns", _returns_at(timestamps))

    run = run_tap_here(capfd, tmp_path, sandbox.tap_config(page_size=5))

    assert run.returncode == 0, run.stderr
    assert run.ids == sorted(run.ids) == [f"ret-{n:03d}" for n in range(20)]


def test_a_return_changing_mid_run_does_not_hide_another(
    sandbox: ReveniSandbox, tmp_path: Path, capfd: Capture
) -> None:
    # Paging by number alone would skip one return when an earlier one moves to the end.
    # The change lands between the tap's fourth and fifth list requests, every time.
    before = sandbox.all_returns()
    mover = before[1]["id"]
    sandbox.admin("POST", f"returns/{mover}/schedule", {"after_list_requests": 4, "fields": {"status": "shipped"}})
    run = run_tap_here(capfd, tmp_path, sandbox.tap_config(page_size=10))

    assert run.returncode == 0, run.stderr
    assert set(run.ids) == {r["id"] for r in before}
    assert [r["status"] for r in run.records if r["id"] == mover][-1] == "shipped", "the change landed mid-run"


def test_a_tied_return_changing_between_pages_hides_no_other(
    sandbox: ReveniSandbox, tmp_path: Path, capfd: Capture
) -> None:
    # Twelve returns share one timestamp, more than two pages of five: the tap must page
    # through the tie by number. A tied return it already read changes just before each
    # later page, so every later return slides back one place.
    timestamps = [f"2026-11-01T10:00:0{n}Z" for n in range(4)]
    timestamps += ["2026-11-01T11:00:00Z"] * 12 + [f"2026-11-01T12:00:0{n}Z" for n in range(4)]
    sandbox.admin("POST", "returns", _returns_at(timestamps))
    for after, moved in ((2, "ret-005"), (4, "ret-004"), (7, "ret-006")):
        sandbox.admin("POST", f"returns/{moved}/schedule", {"after_list_requests": after, "fields": {}})

    run = run_tap_here(capfd, tmp_path, sandbox.tap_config(page_size=5))

    assert run.returncode == 0, run.stderr
    assert set(run.ids) == {f"ret-{n:03d}" for n in range(20)}, "no return skipped"
    assert run.stderr.count("moved while the tap paged through them") >= 2, "the changes did land inside the tie"
    assert run.bookmark == max(r["updated_at"] for r in sandbox.all_returns())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_return_is_skipped_whatever_changes_land_between_pages(
    seed: int, sandbox: ReveniSandbox, tmp_path: Path, capfd: Capture
) -> None:
    # Two ties of 13 (page size 4), and eight changes landing between random requests.
    draw = random.Random(seed)
    timestamps = ["2026-11-01T09:00:00Z"] * 13 + ["2026-11-01T10:00:00Z"] * 13 + ["2026-11-01T11:00:00Z"] * 4
    sandbox.admin("POST", "returns", _returns_at(timestamps))
    for _ in range(8):
        moved = f"ret-{draw.randrange(30):03d}"
        sandbox.admin("POST", f"returns/{moved}/schedule", {"after_list_requests": draw.randrange(1, 16), "fields": {}})

    run = run_tap_here(capfd, tmp_path, sandbox.tap_config(page_size=4))

    assert run.returncode == 0, run.stderr
    assert set(run.ids) == {f"ret-{n:03d}" for n in range(30)}


def test_each_page_request_is_prepared_once_though_it_is_prefetched(
    sandbox: ReveniSandbox, tmp_path: Path, capfd: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given 200 returns in pages of 20, each fetched ahead while the last is emitted, expect
    one prepared request per request Reveni served (not one for the prefetch and another
    when singer-sdk asks for the same page) and every return still sent once."""
    prepared: list[str | None] = []
    prepare = requests.Session.prepare_request

    def counted(session: requests.Session, request: requests.Request) -> requests.PreparedRequest:
        made = prepare(session, request)
        if "/merchants/" in str(made.url):  # the tap's, not the test's own calls to the sandbox
            prepared.append(made.url)
        return made

    monkeypatch.setattr(requests.Session, "prepare_request", counted)
    sandbox.admin("POST", "faults/reset")

    run = run_tap_here(capfd, tmp_path, sandbox.tap_config(page_size=20))

    assert run.returncode == 0, run.stderr
    assert sorted(run.ids) == sorted(r["id"] for r in sandbox.all_returns())
    served = sandbox.admin("GET", "stats")["requests"]
    assert served >= 10
    assert len(prepared) == served


@pytest.mark.parametrize(
    ("settings", "expect_keys"),
    [
        ({"stream_maps": {"returns": {"refunds": None}}}, lambda keys: "refunds" not in keys and "id" in keys),
        ({"flattening_enabled": True, "flattening_max_depth": 1}, lambda keys: "customer__email" in keys),
    ],
    ids=["a stream map dropping refunds", "flattening"],
)
def test_stream_maps_and_flattening_set_in_the_config_still_apply(
    sandbox: ReveniSandbox, tmp_path: Path, capfd: Capture, settings: dict[str, Any], expect_keys: Any
) -> None:
    """Given singer-sdk's record settings in the config, expect every record sent changed as
    they say (records pass on untouched only when nothing is set)."""
    run = run_tap_here(capfd, tmp_path, sandbox.tap_config(**settings))

    assert run.returncode == 0, run.stderr
    assert len(run.records) == 200
    assert all(expect_keys(set(record)) for record in run.records)


def test_429_waits_as_long_as_retry_after_says(
    sandbox: ReveniSandbox, tmp_path: Path, capfd: Capture, retry_waits: Waits
) -> None:
    sandbox.faults(rate_limit_every=2, retry_after_seconds=1)
    run = run_tap_here(capfd, tmp_path, sandbox.tap_config(page_size=50))

    assert run.returncode == 0, run.stderr
    assert len(set(run.ids)) == 200
    throttled = sandbox.admin("GET", "stats")["rate_limited"]
    assert throttled >= 4
    # Retry-After says 1 s; the tap's own first wait would be backoff_seconds (0.2 s).
    assert retry_waits.seconds == [1.0] * throttled, "each 429 waited its Retry-After"
    assert "HTTP 429" in run.stderr


def test_server_errors_broken_connections_and_timeouts_are_retried(
    sandbox: ReveniSandbox, tmp_path: Path, capfd: Capture, retry_waits: Waits
) -> None:
    expected = sorted(r["id"] for r in sandbox.all_returns())
    sandbox.faults(error_every=3, drop_rate=0.2, stall_rate=0.1, stall_seconds=3, fault_seed=11)
    run = run_tap_here(capfd, tmp_path, sandbox.tap_config(page_size=20, request_timeout=1, max_retries=8))

    assert run.returncode == 0, run.stderr
    assert sorted(run.ids) == expected
    stats = sandbox.admin("GET", "stats")
    assert stats["server_error"] >= 3
    assert stats.get("dropped", 0) >= 1
    assert stats.get("stalled", 0) >= 1
    failures = stats["server_error"] + stats["dropped"] + stats["stalled"]
    assert len(retry_waits.seconds) == failures, "each failed request was retried after a wait"
    # No Retry-After here: 0.2 s, doubling with each failure in a row.
    assert set(retry_waits.seconds) <= {0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6}


def test_persistent_5xx_fails_clearly_and_keeps_the_bookmark_before_unread_data(
    sandbox: ReveniSandbox, tmp_path: Path, capfd: Capture
) -> None:
    everything = sandbox.all_returns()
    sandbox.admin("POST", "faults/reset")  # so the outage counts the tap's requests only
    sandbox.faults(outage_after_requests=5)
    failed = run_tap_here(capfd, tmp_path, sandbox.tap_config(page_size=30, max_retries=2))

    assert failed.returncode != 0
    assert "Reveni still failing after 3 attempts" in failed.stderr
    assert "HTTP 503" in failed.stderr
    assert 100 <= len(failed.ids) < 200
    first_unread = everything[len(failed.ids)]
    assert failed.bookmark is not None
    assert failed.bookmark <= first_unread["updated_at"]

    sandbox.admin("POST", "faults/reset")
    resumed = run_tap_here(capfd, tmp_path, sandbox.tap_config(page_size=50), state=failed.state)
    assert resumed.returncode == 0, resumed.stderr
    assert set(failed.ids) | set(resumed.ids) == {r["id"] for r in everything}


def test_every_state_holds_a_bookmark_at_or_before_the_next_return_it_sends(
    sandbox: ReveniSandbox, tmp_path: Path, capfd: Capture
) -> None:
    """Given pages of 30 and a STATE every 100 returns (so mid-page), expect each STATE's
    bookmark never past the return sent after it, progress mid-run, and the last one exact."""
    run = run_tap_here(capfd, tmp_path, sandbox.tap_config(page_size=30, lookback_minutes=0))
    assert run.returncode == 0, run.stderr

    bookmark: str | None = None
    pairs = []  # (the bookmark of the last STATE, the updated_at of the next return sent)
    for message in run.messages:
        if message["type"] == "STATE":
            bookmark = message["value"]["bookmarks"]["returns"].get("replication_key_value")
        elif message["type"] == "RECORD":
            pairs.append((bookmark, message["record"]["updated_at"]))
    mid_run = [(mark, after) for mark, after in pairs if mark is not None]
    assert len(mid_run) >= 100, "the bookmark moves during the run, not only at its end"
    assert all(mark <= after for mark, after in mid_run)
    assert run.bookmark == max(r["updated_at"] for r in sandbox.all_returns())


def test_wrong_key_fails_at_once_naming_the_setting(
    demo_sandbox: ReveniSandbox, tmp_path: Path, capfd: Capture, retry_waits: Waits
) -> None:
    run = run_tap_here(capfd, tmp_path, demo_sandbox.tap_config(api_key="wrong-key-5e1"))

    assert run.returncode != 0
    assert "Reveni rejected the API key. Check the `api_key` setting" in run.stderr
    assert "wrong-key-5e1" not in run.stderr
    assert retry_waits.seconds == [], "no retries on 401"


def test_unknown_store_names_store_id(demo_sandbox: ReveniSandbox, tmp_path: Path, capfd: Capture) -> None:
    run = run_tap_here(capfd, tmp_path, demo_sandbox.tap_config(store_id="elsewhere"))

    assert run.returncode != 0
    assert "`store_id`" in run.stderr
    assert "Store not found." in run.stderr


def test_start_date_skips_older_returns(demo_sandbox: ReveniSandbox, tmp_path: Path, capfd: Capture) -> None:
    everything = demo_sandbox.all_returns()
    start = everything[150]["updated_at"]
    run = run_tap_here(capfd, tmp_path, demo_sandbox.tap_config(start_date=start, lookback_minutes=0))

    assert run.returncode == 0, run.stderr
    assert set(run.ids) == {r["id"] for r in everything if r["updated_at"] >= start}


def test_a_secret_of_the_wrong_type_is_named_but_never_printed(
    demo_sandbox: ReveniSandbox, tmp_path: Path, capfd: Capture
) -> None:
    run = run_tap_here(capfd, tmp_path, demo_sandbox.tap_config(api_key=98765432101234))

    assert run.returncode != 0
    assert "98765432101234" not in run.stderr
    assert "api_key" in run.stderr


def test_the_command_runs_the_tap_with_the_garbage_collector_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given the `tap-reveni` command, expect the tap run with garbage collection on: it is
    paused only while singer-sdk and the tap load (tap_reveni.cli)."""
    seen: list[bool] = []
    monkeypatch.setattr(tap_reveni.tap, "main", lambda: seen.append(gc.isenabled()))

    tap_reveni.cli.main()

    assert seen == [True]
