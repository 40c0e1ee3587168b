"""HTTP at the channel's edges, on a real `reveni-khaos serve` (issue 18, items 17 and 19):
the header cap however the headers arrive, a long request line never logged whole, one
Authorization header only, redirects that name no host, answers Khaos understands, and a
health check that proves the store takes writes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from target_khaos_control.channel.app import Channel
from target_khaos_control.operations import cli
from target_khaos_control.settings import ChannelSettings

from tests.khaos_docs import Client, store
from tests.servers import ChannelServer, raw_request, target_config

DASHBOARD = ("finance", "dash-pw-edges")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChannelServer]:
    workdir = tmp_path_factory.mktemp("edges")
    store(workdir)  # the empty store the channel serves
    config = target_config(
        workdir, max_header_bytes=16_384, dashboard_username=DASHBOARD[0], dashboard_password=DASHBOARD[1]
    )
    server = ChannelServer(config, workdir).start()
    yield server
    server.stop()


def _basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_headers_over_the_limit_in_one_write_are_refused(served: ChannelServer) -> None:
    login = _basic(*served.auth)
    request = b"GET /khaos/config.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: " + login
    request += b"\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n"  # over 16 KiB, under one read of 64 KiB

    answer = raw_request(served, request)

    assert _status(answer) == 400, answer[:200]


def test_a_long_request_line_is_never_logged_whole(served: ChannelServer) -> None:
    path = "/khaos/" + "a" * 12_000  # under the header limit, so it reaches the app

    answer = served.get(path)

    cut = "GET /khaos/" + "a" * 73 + "... (12007 characters) 400"
    log = served.log_once_it_holds(cut)
    assert answer.status_code == 400
    assert cut in log, "the call is logged, cut"
    assert "a" * 2_000 not in log, "but never whole"


@pytest.mark.parametrize("wrong_first", [True, False])
def test_two_authorization_headers_are_refused(served: ChannelServer, wrong_first: bool) -> None:
    logins = [_basic("khaos", "wrong"), _basic(*served.auth)]
    if not wrong_first:
        logins.reverse()
    headers = b"".join(b"Authorization: " + login + b"\r\n" for login in logins)

    answer = raw_request(
        served, b"GET /khaos/config.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers + b"\r\n"
    )

    assert _status(answer) == 400, answer[:200]
    assert served.get("/khaos/config.json").status_code == 200, "one right header still opens it"


def test_a_redirect_names_no_host_the_client_claimed(served: ChannelServer) -> None:
    request = b"GET /dashboard HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\nAuthorization: "
    answer = raw_request(served, request + _basic(*DASHBOARD) + b"\r\n\r\n")

    location = next(line for line in answer.split(b"\r\n") if line.lower().startswith(b"location:"))
    assert 300 <= _status(answer) < 400
    assert location.split(b":", 1)[1].strip() == b"/dashboard/"


@pytest.mark.parametrize("path", ["/khaos/config.json", "/khaos/returns.json", "/khaos/stock"])
def test_a_wrong_login_on_khaos_paths_is_a_400_khaos_understands(served: ChannelServer, path: str) -> None:
    wrong = ("khaos", "not-the-password")
    answers = [
        requests.get(f"{served.url}{path}", auth=wrong, timeout=10),
        requests.get(f"{served.url}{path}", timeout=10),  # no login at all
        requests.post(f"{served.url}{path}", data=b'{"Items": []}', auth=wrong, timeout=10),
    ]

    assert [answer.status_code for answer in answers] == [400, 400, 400]
    assert all("username and password" in answer.text for answer in answers)


def test_the_dashboard_asks_a_browser_for_its_login(served: ChannelServer) -> None:
    answer = requests.get(f"{served.url}/dashboard/", timeout=10)

    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Basic")


def test_healthz_is_not_ok_on_a_store_that_takes_no_writes(tmp_path: Path) -> None:
    store(tmp_path)  # migrated, then opened read-only as a standby or a full disk would be
    read_only = sa.create_engine(f"sqlite:///file:{tmp_path / 'store.db'}?mode=ro&uri=true")
    settings = {"database_url": "sqlite://", "channel_username": "khaos", "channel_password": "pw", "public_url": "x"}
    client = Client(Channel(read_only, ChannelSettings.from_config(settings)).app())
    writable = Client(Channel(store(tmp_path), ChannelSettings.from_config(settings)).app())

    assert client.get("/healthz").status_code == 503
    assert writable.get("/healthz").status_code == 200
    with store(tmp_path).connect() as conn:
        assert conn.execute(sa.text("select count(*) from runs")).scalar() == 0, "the check leaves nothing behind"


@pytest.mark.parametrize(
    ("setting", "says"),
    [
        ({"batch_size": "abc"}, "`batch_size` must be a whole number"),
        ({"batch_size": 0}, "`batch_size` must be at least 1"),  # every pull would be empty for ever
        ({"max_header_bytes": 10}, "`max_header_bytes` must be at least 1024"),
        ({"channel_password": 12345}, "`channel_password` must be text"),
    ],
)
def test_serve_refuses_a_bad_setting_at_its_start(tmp_path: Path, setting: dict[str, object], says: str) -> None:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({**target_config(tmp_path), **setting}))

    with pytest.raises(SystemExit) as stopped:  # before it listens: in process, no port is taken
        cli.main(["serve", "--config", str(config_file), "--port", "1"])

    assert says in str(stopped.value.code)
    assert "12345" not in str(stopped.value.code), "a value, maybe a secret, is never shown"
