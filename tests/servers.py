"""Start the project's real servers and plugins as processes, for tests and the bench."""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import requests
import sqlalchemy as sa

BIN = Path(sys.executable).parent
# Postgres's settings as compose.yaml runs it in production (tests/test_orchestration.py holds them equal)
PRODUCTION_SETTINGS = ("-c", "wal_compression=lz4")
SANDBOX_KEY = "sandbox-key-3f9c2d"  # distinctive, so a test can prove it never reaches a log
STORE_ID = "demo-store"


def free_port() -> int:
    """A port of 127.0.0.1 free now, below the kernel's range for outgoing connections:
    a port the kernel hands out (bind to 0) can be taken by any client connection of the
    suite before the server binds it, and a server of a parallel test then answers instead."""
    lowest_outgoing = _outgoing_ports()[0]
    if lowest_outgoing < 4_096:  # no room below it: the kernel's choice, as before
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])
    for _ in range(200):
        port = random.randrange(max(1024, lowest_outgoing - 12_000), lowest_outgoing)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # held by another server: try another
            return port
    msg = f"no free port of 127.0.0.1 below {lowest_outgoing} after 200 tries"
    raise RuntimeError(msg)


def _outgoing_ports() -> tuple[int, int]:
    """The kernel's range for outgoing connections' ports (Linux's default where it is not said)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32_768, 60_999


@dataclass
class Sandbox:
    """A sandbox server process on a free port of 127.0.0.1, with demo data from a seed."""

    returns: int = 200
    seed: int = 7
    extra_args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    command = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        command = [str(BIN / self.command), "--port", str(self.port), "--seed", str(self.seed)]
        command += ["--returns", str(self.returns), *self.options(), *self.extra_args]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_until_up(self.process, f"{self.url}/_sandbox/health", self.command)
        return self

    def options(self) -> list[str]:
        return []

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@dataclass
class ReveniSandbox(Sandbox):
    """`reveni-sandbox`, speaking the Reveni API."""

    store_id: str = STORE_ID
    command = "reveni-sandbox"

    @property
    def api(self) -> str:
        return f"{self.url}/merchants/v0/stores/{self.store_id}"

    def options(self) -> list[str]:
        return ["--api-key", SANDBOX_KEY, "--store-id", self.store_id]

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
        return {
            "api_url": self.url,
            "api_key": SANDBOX_KEY,
            "store_id": self.store_id,
            "backoff_seconds": 0.2,
            **settings,
        }


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
        value = state.get("bookmarks", {}).get("returns", {}).get("replication_key_value")
        return None if value is None else str(value)


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


CHANNEL_USER, CHANNEL_PASSWORD = "khaos", "channel-pw-81d"
DEMO_RULES = Path(__file__).resolve().parent.parent / "rules" / "demo"


def target_config(workdir: Path, **settings: Any) -> dict[str, Any]:
    return {
        "database_url": f"sqlite:///{workdir / 'store.db'}",
        "rules_path": str(DEMO_RULES),
        "channel_username": CHANNEL_USER,
        "channel_password": CHANNEL_PASSWORD,
        "public_url": "http://127.0.0.1:8803",
        **settings,
    }


@dataclass
class TargetRun:
    returncode: int
    states: list[dict[str, Any]]
    stderr: str


def run_target(workdir: Path, config: dict[str, Any], singer_lines: list[str], timeout: float = 240) -> TargetRun:
    """Feed Singer messages to the real `target-khaos-control` command."""
    config_file = workdir / "target-config.json"
    config_file.write_text(json.dumps(config))
    done = subprocess.run(
        [str(BIN / "target-khaos-control"), "--config", str(config_file)],
        input="\n".join(singer_lines) + "\n",
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    states = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return TargetRun(done.returncode, states, done.stderr)


def tap_output(run: TapRun) -> list[str]:
    return [json.dumps(message) for message in run.messages]


@dataclass
class ChannelServer:
    """A `reveni-khaos serve` process on a free port, reading the target's config file."""

    config: dict[str, Any]
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth(self) -> tuple[str, str]:
        return self.config["channel_username"], self.config["channel_password"]

    def start(self) -> ChannelServer:
        config_file = self.workdir / "channel-config.json"
        config_file.write_text(json.dumps({**self.config, "public_url": self.url}))
        self.log = (self.workdir / f"channel-{self.port}.log").open("wb")
        self.process = subprocess.Popen(
            [str(BIN / "reveni-khaos"), "serve", "--config", str(config_file), "--port", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        _wait_until_up(self.process, f"{self.url}/khaos/config.json", "reveni-khaos serve", auth=self.auth)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.log.close()

    def log_once_it_holds(self, line: str, timeout: float = 10) -> str:
        """The server's log once it holds `line`: the access line is written after the answer is sent."""
        log_file = self.workdir / f"channel-{self.port}.log"
        deadline = time.monotonic() + timeout
        while line not in (log := log_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return log

    def get(
        self, path: str, headers: dict[str, str] | None = None, auth: tuple[str, str] | None = None
    ) -> requests.Response:
        return requests.get(f"{self.url}{path}", headers=headers or {}, timeout=30, auth=auth or self.auth)

    def post(
        self, path: str, body: bytes, content_type: str = "application/json", auth: tuple[str, str] | None = None
    ) -> requests.Response:
        return requests.post(
            f"{self.url}{path}",
            data=body,
            headers={"Content-Type": content_type},
            timeout=30,
            auth=auth or self.auth,
        )


def _wait_until_up(process: subprocess.Popen[bytes], url: str, name: str, auth: tuple[str, str] | None = None) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = f"{name} exited with {process.returncode}"
            raise RuntimeError(msg)
        try:
            requests.get(url, timeout=1, auth=auth).raise_for_status()
            return
        except requests.RequestException:
            time.sleep(0.1)
    msg = f"{name} did not come up within 60 s"
    raise RuntimeError(msg)


@dataclass
class KhaosSandbox(Sandbox):
    """`khaos-sandbox`, acting as Khaos Control Cloud; it polls only when asked."""

    command = "khaos-sandbox"

    def options(self) -> list[str]:
        return ["--no-auto-poll"]

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        return requests.request(method, f"{self.url}/_sandbox/{path}", json=body, timeout=60)

    def get(self, path: str) -> Any:
        response = self.call("GET", path)
        response.raise_for_status()
        return response.json()

    def act(self, path: str, body: Any = None) -> Any:
        response = self.call("POST", path, body)
        assert response.status_code == 200, response.text
        return response.json()

    def link_to(self, channel: ChannelServer, fmt: str = "json") -> Any:
        self.act(
            "channel",
            {"config_url": f"{channel.url}/khaos/config.{fmt}", "username": CHANNEL_USER, "password": CHANNEL_PASSWORD},
        )
        return self.act("link")


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster in a temporary folder, on a free port.

    PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres`
    system user that Debian's package creates. A throwaway cluster is not flushed to disk
    as it is made; with `durable=False` (the tests') nor are its writes: nothing of it has
    to outlive a crash of the machine, and each flush costs time on a busy one."""

    # Not under pytest's tmp folders: the `postgres` user could not reach into those.
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="reveni-khaos-pg-")))
    port: int = field(default_factory=free_port)
    durable: bool = True  # the bench measures Postgres as compose.yaml runs it in production

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresServer:
        self.data = self.workdir / "pgdata"
        self.data.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
            shutil.chown(self.data, "postgres")
        self._run(str(PG_BIN / "initdb"), "--no-sync", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        settings = (
            " ".join(PRODUCTION_SETTINGS)
            if self.durable
            else "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-w",
            "-l",
            str(self.data / "server.log"),
            "-o",
            f"-p {self.port} -h 127.0.0.1 -k {self.data} {settings}",
            "start",
        )
        return self

    def new_database(self, prefix: str = "t") -> str:
        """The URL of a new, empty database on this cluster, for one test alone."""
        name = f"{prefix}{uuid.uuid4().hex[:12]}"
        with sa.create_engine(self.url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self) -> None:
        # Thrown away next: no shutdown checkpoint to wait for.
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.workdir, ignore_errors=True)


PG_BIN = next((p for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), Path("/usr/local/bin"))


def reveni_khaos(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real `reveni-khaos` command."""
    return subprocess.run([str(BIN / "reveni-khaos"), *args], capture_output=True, text=True, timeout=120, check=False)


def raw_request(server: ChannelServer, request: bytes) -> bytes:
    """One request sent to the channel in one write, as bytes; the answer's status line and headers."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65_536):
            answer += chunk
            if b"\r\n\r\n" in answer:
                break
    return answer


def first_bookmark_then_sigkill(
    workdir: Path, config: dict[str, Any], singer_lines: list[str], timeout: float = 120
) -> dict[str, Any] | None:
    """Feed `singer_lines` to a real `target-khaos-control`, wait for the first bookmark
    (STATE) it passes on, then SIGKILL it; that bookmark, or None if none came in time."""
    config_file = workdir / "target-config.json"
    config_file.write_text(json.dumps(config))
    process = subprocess.Popen(
        [str(BIN / "target-khaos-control"), "--config", str(config_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write("\n".join(singer_lines).encode() + b"\n")
    process.stdin.flush()
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    emitted = process.stdout.readline() if ready else b""
    process.send_signal(signal.SIGKILL)
    process.wait()
    return json.loads(emitted) if emitted else None
