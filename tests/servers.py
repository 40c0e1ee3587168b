"""Start the project's real servers and plugins as processes, for tests and the bench."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

BIN = Path(sys.executable).parent
SANDBOX_KEY = "sandbox-key-3f9c2d"  # distinctive, so a test can prove it never reaches a log
STORE_ID = "demo-store"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ReveniSandbox:
    """A `reveni-sandbox` process on a free port of 127.0.0.1."""

    returns: int = 200
    seed: int = 7
    extra_args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return f"{self.url}/merchants/v0/stores/{STORE_ID}"

    def start(self) -> ReveniSandbox:
        self.process = subprocess.Popen(
            [
                str(BIN / "reveni-sandbox"),
                "--port",
                str(self.port),
                "--seed",
                str(self.seed),
                "--returns",
                str(self.returns),
                "--api-key",
                SANDBOX_KEY,
                "--store-id",
                STORE_ID,
                *self.extra_args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"reveni-sandbox exited with {self.process.returncode}"
                raise RuntimeError(msg)
            try:
                requests.get(f"{self.url}/_sandbox/health", timeout=1).raise_for_status()
                return self
            except requests.RequestException:
                time.sleep(0.1)
        msg = "reveni-sandbox did not come up within 60 s"
        raise RuntimeError(msg)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(
            f"{self.api}/{path}", params=params, timeout=10, headers={"Authorization": f"Bearer {SANDBOX_KEY}"}
        )

    def post(self, path: str, body: Any) -> requests.Response:
        return requests.post(
            f"{self.api}/{path}", json=body, timeout=10, headers={"Authorization": f"Bearer {SANDBOX_KEY}"}
        )

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(method, f"{self.url}/_sandbox/{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def faults(self, **settings: Any) -> None:
        self.admin("POST", "faults", settings)

    def all_returns(self) -> list[dict[str, Any]]:
        found, page = [], 1
        while True:
            body = self.get("returns", page=page, page_size=200).json()
            found += body["results"]
            if not body["next"]:
                return found
            page += 1

    def tap_config(self, **settings: Any) -> dict[str, Any]:
        return {"api_url": self.url, "api_key": SANDBOX_KEY, "store_id": STORE_ID, "backoff_seconds": 0.2, **settings}


@dataclass
class TapRun:
    returncode: int
    messages: list[dict[str, Any]]
    stderr: str

    @property
    def records(self) -> list[dict[str, Any]]:
        return [m["record"] for m in self.messages if m["type"] == "RECORD"]

    @property
    def ids(self) -> list[str]:
        return [r["id"] for r in self.records]

    @property
    def state(self) -> dict[str, Any] | None:
        states = [m["value"] for m in self.messages if m["type"] == "STATE"]
        return states[-1] if states else None

    @property
    def bookmark(self) -> str | None:
        state = self.state or {}
        return state.get("bookmarks", {}).get("returns", {}).get("replication_key_value")


def run_tap(workdir: Path, config: dict[str, Any], state: dict[str, Any] | None = None, timeout: float = 240) -> TapRun:
    """Run the real `tap-reveni` command and collect what it writes."""
    config_file = workdir / "tap-config.json"
    config_file.write_text(json.dumps(config))
    command = [str(BIN / "tap-reveni"), "--config", str(config_file)]
    if state is not None:
        state_file = workdir / "tap-state.json"
        state_file.write_text(json.dumps(state))
        command += ["--state", str(state_file)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return TapRun(done.returncode, messages, done.stderr)
