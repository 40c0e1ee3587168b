"""One Reveni return the tap cannot read never stops a sync nor hides the others.

Reveni's list is played by a tiny HTTP server in the test (the sandbox refuses such
returns), serving the page text exactly as written; the tap runs its command's entry point
in the test's process, the target is the real command.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.in_process import run_tap_here
from tests.servers import run_target, target_config
from tests.test_target_khaos_control import _a_return, _exceptions


class _Reveni:
    """Answers every list request with one page of the given returns, written as given."""

    def __init__(self, results: str) -> None:
        body = ('{"count": 3, "next": null, "previous": null, "results": [' + results + "]}").encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def tap_config(self) -> dict[str, object]:
        return {"api_url": f"http://127.0.0.1:{self.server.server_port}", "api_key": "k", "store_id": "s"}


def _return(return_id: str, updated: str) -> str:
    return json.dumps({**_a_return("accepted", updated=updated), "id": return_id})


BAD: dict[str, tuple[str, str]] = {
    # what is wrong -> (the text replaced in the middle return, what replaces it)
    "updated_at garbage": ('"updated_at": "2026-11-20T11:00:00Z"', '"updated_at": "soon"'),
    "updated_at null": ('"updated_at": "2026-11-20T11:00:00Z"', '"updated_at": null'),
    "updated_at a number": ('"updated_at": "2026-11-20T11:00:00Z"', '"updated_at": 1763636400'),
    "updated_at missing": (', "updated_at": "2026-11-20T11:00:00Z"', ""),
    "id missing": ('"id": "ret-bad", ', ""),
    "a lone surrogate in a name": ('"first_name": "Ana"', '"first_name": "An\\ud800a"'),
}


def test_unreadable_returns_flow_on_for_the_target_and_the_rest_is_read(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    page = [_return("ret-before", "2026-11-20T10:00:00Z")]
    for n, (was, now) in enumerate(BAD.values()):
        bad = _return("ret-bad", "2026-11-20T11:00:00Z")
        assert was in bad
        page.append(bad.replace(was, now).replace('"ret-bad"', f'"ret-bad-{n}"'))
    page.append(_return("ret-after", "2026-11-20T12:00:00Z"))
    reveni = _Reveni(", ".join(page))
    try:
        tap = run_tap_here(capfd, tmp_path, reveni.tap_config())
    finally:
        reveni.server.shutdown()

    assert tap.returncode == 0, tap.stderr[-2000:]
    assert len(tap.records) == 2 + len(BAD), "every return is passed on, the unreadable ones too"
    assert [tap.records[0]["id"], tap.records[-1]["id"]] == ["ret-before", "ret-after"]
    assert tap.bookmark == "2026-11-20T12:00:00Z", "the bookmark is the last return it could read"
    named = [line for line in tap.stderr.splitlines() if "cannot be read" in line]
    assert len(named) == len(BAD) - 1, "each return the tap cannot bookmark by is named (the surrogate is the target's)"
    assert "'ret-bad-0' cannot be read (its updated_at is 'soon')" in named[0]

    run = run_target(tmp_path, target_config(tmp_path), [json.dumps(m) for m in tap.messages])

    assert run.returncode == 0, run.stderr[-2000:]
    invalid = [e for e in _exceptions(tmp_path) if e["kind"] == "invalid_record"]
    assert len(invalid) == len(BAD), "each unreadable return is held as an invalid_record"
