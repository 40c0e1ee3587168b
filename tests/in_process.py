"""The Reveni sandbox and tap-reveni run inside the test's own process, for speed.

The sandbox is the same Starlette app `reveni-sandbox` serves, fault injection included,
served by uvicorn over real HTTP on 127.0.0.1 from a thread: the tap meets the same
pages, 429s, broken connections and stalls as from the process, without the seconds a
process takes to start. The tap runs through its own command's entry point
(`tap_reveni.tap.main`), so its settings file, messages and one-line errors are the
command's; only `run_tap` in `servers.py` starts it as a process, for the end-to-end tests.
The channel's app is built from a config as `reveni-khaos serve` builds it and called
through Starlette's TestClient (`InProcessChannel`); `ChannelServer` serves it over HTTP
from a process, for the tests of Khaos's side and of HTTP itself.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import pytest
import tap_reveni.tap as tap
import target_khaos_control.operations.cli as operator_cli
import uvicorn
from httpx2 import Response
from reveni_khaos_sandbox.faults import FaultInjector
from reveni_khaos_sandbox.reveni_app import ReveniSandbox as ReveniApp
from reveni_khaos_sandbox.reveni_data import ReturnGenerator
from reveni_khaos_sandbox.reveni_store import ReturnStore
from starlette.testclient import TestClient
from target_khaos_control.channel.app import Channel
from target_khaos_control.client_store import claim_store, client_name
from target_khaos_control.settings import ChannelSettings
from target_khaos_control.store import open_store
from target_khaos_control.target import TargetKhaosControl

from tests.servers import SANDBOX_KEY, ReveniSandbox, TapRun, TargetRun


@dataclass
class InProcessReveniSandbox(ReveniSandbox):
    """`reveni-sandbox`'s app with its demo data from a seed, served from a thread of this process."""

    server: uvicorn.Server | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> Self:
        app = ReveniApp(
            ReturnStore(ReturnGenerator(self.seed, self.returns)),
            api_key=SANDBOX_KEY,
            store_id=self.store_id,
            injector=FaultInjector(),
        ).app()
        # A stalled request must not hold the test up at shutdown.
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"reveni-sandbox-{self.port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                msg = f"the in-process Reveni sandbox did not come up on port {self.port}"
                raise RuntimeError(msg)
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=10)


@dataclass
class InProcessChannel:
    """The channel's app for a target config, as `reveni-khaos serve` builds it (the settings
    checked, the store opened and claimed for its client), called in this process.

    It answers as `ChannelServer` does (`get`, `post`, `url`, `auth`), without a process or
    a port: for what the channel answers, not for HTTP on the wire."""

    config: dict[str, Any]
    workdir: Path
    url: str = "http://testserver"
    client: TestClient | None = field(default=None, repr=False)

    @property
    def auth(self) -> tuple[str, str]:
        return self.config["channel_username"], self.config["channel_password"]

    def start(self) -> Self:
        settings = ChannelSettings.from_config({**self.config, "public_url": self.url}, "channel-config.json")
        self.engine = open_store(settings.database_url)
        claim_store(self.engine, settings.client or client_name({"rules_path": settings.rules_path}), "the store")
        self.client = TestClient(Channel(self.engine, settings).app(), base_url=self.url).__enter__()
        return self

    def stop(self) -> None:
        if self.client is not None:
            self.client.__exit__(None, None, None)
            self.client = None
            self.engine.dispose()

    def get(self, path: str, headers: dict[str, str] | None = None, auth: tuple[str, str] | None = None) -> Response:
        assert self.client is not None, "start() the channel first"
        return self.client.get(path, headers=headers or {}, auth=auth or self.auth)

    def post(
        self, path: str, body: bytes, content_type: str = "application/json", auth: tuple[str, str] | None = None
    ) -> Response:
        assert self.client is not None, "start() the channel first"
        return self.client.post(path, content=body, headers={"Content-Type": content_type}, auth=auth or self.auth)


class Waits:
    """The waits the tap asked for between retries, recorded instead of slept.

    Each retry still happens, in order; only the clock does not run. A test asserts the
    waits themselves (a 429's Retry-After, say) rather than timing the run."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.seconds.append(seconds)


def run_tap_here(
    capfd: pytest.CaptureFixture[str], workdir: Path, config: dict[str, Any], state: dict[str, Any] | None = None
) -> TapRun:
    """Run `tap-reveni`'s entry point in this process, as `run_tap` runs the command."""
    config_file = workdir / "tap-config.json"
    config_file.write_text(json.dumps(config))
    argv = ["tap-reveni", "--config", str(config_file)]
    if state is not None:
        state_file = workdir / "tap-state.json"
        state_file.write_text(json.dumps(state))
        argv += ["--state", str(state_file)]
    returncode, err_text = _command(capfd, tap.main, argv)
    out, err = capfd.readouterr()
    messages = [json.loads(line) for line in out.splitlines() if line.strip()]
    return TapRun(returncode, messages, err + err_text)


def tap_command_here(capfd: pytest.CaptureFixture[str], argv: list[str]) -> subprocess.CompletedProcess[str]:
    """Run `tap-reveni ARGV` through its entry point in this process, as the command would run."""
    returncode, err_text = _command(capfd, tap.main, argv)
    out, err = capfd.readouterr()
    return subprocess.CompletedProcess(argv, returncode, out, err + err_text)


def _command(
    capfd: pytest.CaptureFixture[str], command: Callable[[], object], argv: list[str] | None = None
) -> tuple[int, str]:
    """Call a command's entry point as its process would run it: its exit code, and what
    Python would print to stderr on its way out (a message, a traceback)."""
    capfd.readouterr()  # what came before is not this run's
    root = logging.getLogger()
    # singer-sdk's command adds a handler on the stderr of the moment to the root logger
    # each time it runs: removed after, so no later run writes to this one's stderr.
    saved, handlers, level = sys.argv, list(root.handlers), root.level
    sys.argv = argv or saved
    try:
        command()
        return 0, ""
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            return stop.code or 0, ""
        return 1, f"{stop.code}\n"
    except Exception:
        return 1, traceback.format_exc()
    finally:
        sys.argv = saved
        for handler in set(root.handlers) - set(handlers):
            root.removeHandler(handler)
        root.setLevel(level)


def run_target_here(
    capfd: pytest.CaptureFixture[str], workdir: Path, config: dict[str, Any], singer_lines: list[str]
) -> TargetRun:
    """Run `target-khaos-control`'s command in this process, as `run_target` runs it, the
    Singer lines given as its `--input` file rather than on stdin."""
    config_file = workdir / "target-config.json"
    config_file.write_text(json.dumps(config))
    input_file = workdir / "target-input.jsonl"
    input_file.write_text("\n".join(singer_lines) + "\n")
    returncode, err_text = _command(
        capfd, lambda: TargetKhaosControl.cli(["--config", str(config_file), "--input", str(input_file)])
    )
    out, err = capfd.readouterr()
    states = [json.loads(line) for line in out.splitlines() if line.strip()]
    return TargetRun(returncode, states, err + err_text)


def reveni_khaos_here(capfd: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run the `reveni-khaos` command's entry point in this process, as `reveni_khaos` runs it
    (its report is written to the `sys.stdout` of the moment, which `capfd` holds).
    `serve` runs until stopped: `InProcessChannel` builds its app, `ChannelServer` runs it."""
    returncode, err_text = _command(capfd, lambda: operator_cli.main(list(args)))
    out, err = capfd.readouterr()
    return subprocess.CompletedProcess(["reveni-khaos", *args], returncode, out, err + err_text)


TargetCommand = Callable[[Path, dict[str, Any], list[str]], TargetRun]
CliCommand = Callable[..., subprocess.CompletedProcess[str]]
TapCommand = Callable[..., TapRun]
