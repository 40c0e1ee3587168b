"""The Reveni sandbox and tap-reveni run inside the test's own process, for speed.

The sandbox is the same Starlette app `reveni-sandbox` serves, fault injection included,
served by uvicorn over real HTTP on 127.0.0.1 from a thread: the tap meets the same
pages, 429s, broken connections and stalls as from the process, without the seconds a
process takes to start. The tap runs through its own command's entry point
(`tap_reveni.tap.main`), so its settings file, messages and one-line errors are the
command's; only `run_tap` in `servers.py` starts it as a process, for the end-to-end tests.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import pytest
import uvicorn
from reveni_khaos_sandbox.faults import FaultInjector
from reveni_khaos_sandbox.reveni_app import ReveniSandbox as ReveniApp
from reveni_khaos_sandbox.reveni_data import ReturnGenerator
from reveni_khaos_sandbox.reveni_store import ReturnStore
from tap_reveni import tap

from tests.servers import SANDBOX_KEY, ReveniSandbox, TapRun


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
    capfd.readouterr()  # what came before is not this run's
    root = logging.getLogger()
    # singer-sdk's command adds a handler on the stderr of the moment to the root logger
    # each time it runs: removed after, so no later run writes to this one's stderr.
    saved, sys.argv, handlers, level = sys.argv, argv, list(root.handlers), root.level
    try:
        tap.main()
        returncode = 0
    except SystemExit as stop:
        returncode = stop.code if isinstance(stop.code, int) else 1
    finally:
        sys.argv = saved
        for handler in set(root.handlers) - set(handlers):
            root.removeHandler(handler)
        root.setLevel(level)
    out, err = capfd.readouterr()
    messages = [json.loads(line) for line in out.splitlines() if line.strip()]
    return TapRun(returncode, messages, err)
