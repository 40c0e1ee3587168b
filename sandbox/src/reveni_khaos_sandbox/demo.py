"""`reveni-khaos-demo`: run the pipeline end to end against the sandboxes, then say
what happened in plain words. Everything it starts, it stops."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
SANDBOX_KEY, STORE_ID = "sandbox-key", "demo-store"  # as meltano.yml's dev environment says


class DemoError(Exception):
    pass


@contextmanager
def reveni_sandbox(port: int, logs: Path) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    if _answers(f"{url}/_sandbox/health"):
        raise DemoError(
            f"Port {port} is already in use. Stop what runs there, or pick another: make demo DEMO_PORT=..."
        )
    log = (logs / "reveni-sandbox.log").open("w")
    process = subprocess.Popen([str(BIN / "reveni-sandbox"), "--port", str(port)], stdout=log, stderr=log)
    try:
        for _ in range(100):
            if _answers(f"{url}/_sandbox/health"):
                break
            if process.poll() is not None:
                raise DemoError(f"The Reveni sandbox exited; see {logs / 'reveni-sandbox.log'}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def meltano(*args: str, logs: Path, log_name: str, env: dict[str, str]) -> None:
    log_file = logs / log_name
    with log_file.open("w") as log:
        done = subprocess.run(
            [str(BIN / "meltano"), *args], stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **env}, check=False
        )
    if done.returncode != 0:
        tail = "\n".join(log_file.read_text().splitlines()[-15:])
        raise DemoError(f"`meltano {' '.join(args)}` failed (exit {done.returncode}); end of {log_file}:\n{tail}")


def change_two_returns(url: str) -> list[str]:
    """Act as the warehouse (validate a received return) and as Reveni (a parcel ships)."""
    api = f"{url}/merchants/v0/stores/{STORE_ID}"
    returns = _call("GET", f"{api}/returns?page_size=200")["results"]
    received = next(r for r in returns if r["status"] == "received")
    in_progress = next(r for r in returns if r["status"] == "in_progress")
    verdicts = [{"item_id": i["id"], "quantity": i["quantity"], "status": "accepted"} for i in received["return_items"]]
    _call("POST", f"{api}/returns/{received['id']}/partial_validate", {"items": verdicts})
    _call("PATCH", f"{url}/_sandbox/returns/{in_progress['id']}", {"status": "shipped"})
    return [received["id"], in_progress["id"]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="reveni-khaos-demo", description=__doc__)
    parser.add_argument("--port", type=int, default=8801, help="port for the Reveni sandbox")
    parser.add_argument("--workdir", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    logs = workdir / ".demo"
    logs.mkdir(exist_ok=True)
    output = workdir / "output" / "returns.jsonl"
    try:
        with reveni_sandbox(args.port, logs) as url:
            env = {"TAP_REVENI_API_URL": url}
            print(f"1. Reveni sandbox serving 200 demo returns at {url}")
            meltano("install", logs=logs, log_name="meltano-install.log", env=env)
            print("2. Meltano plugins installed (tap-reveni, target-jsonl)")
            output.unlink(missing_ok=True)
            meltano(
                "--environment",
                "dev",
                "run",
                "--full-refresh",
                "tap-reveni",
                "target-jsonl",
                logs=logs,
                log_name="meltano-run-1.log",
                env=env,
            )
            first = _count(output)
            print(f"3. First run: {first} returns arrived in {output.relative_to(workdir)}")
            changed = change_two_returns(url)
            meltano(
                "--environment",
                "dev",
                "run",
                "tap-reveni",
                "target-jsonl",
                logs=logs,
                log_name="meltano-run-2.log",
                env=env,
            )
            second = _count(output) - first
            again = {json.loads(line)["id"] for line in output.read_text().splitlines()[first:]}
            reread = len(again - set(changed))
            print(
                f"4. Two returns changed in Reveni; the incremental run brought {second}: "
                f"{len(again & set(changed))} changed, {reread} re-read from the look-back window before "
                "the bookmark (harmless: the loader keeps one copy per version)"
            )
    except DemoError as error:
        print(f"Demo failed: {error}", file=sys.stderr)
        sys.exit(1)
    print(
        f"\nWhere to look:\n  {output.relative_to(workdir)}: one Reveni return per line, as the tap emitted it"
        f"\n  .venv/bin/meltano --environment dev state get dev:tap-reveni-to-target-jsonl: the bookmark"
        f"\n  {logs.relative_to(workdir)}/: the sandbox and Meltano logs\nNothing is left running."
    )


def _count(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (loopback only)
            return True
    except (urllib.error.URLError, OSError):
        return False


def _call(method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {SANDBOX_KEY}", "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 (loopback)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (loopback only)
        return json.loads(response.read())
