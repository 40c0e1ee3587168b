"""`reveni-khaos-demo`: the whole pipeline on this machine, then what happened in plain words.

Starts the Reveni sandbox, the Khaos Control sandbox and the channel; runs the Meltano
job (tap-reveni into target-khaos-control); lets Khaos link (it pushes its stock) and
pull the returns; has the warehouse accept one more return and runs the job again.
Everything it starts, it stops.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent
SANDBOX_KEY, STORE_ID = "sandbox-key", "demo-store"
PID_FILE = "running.json"  # as meltano.yml's dev environment says
# The channel's config file, in the project folder: where docs/README.md says it lives, and
# what every `reveni-khaos` command in the docs and meltano.yml names.
CHANNEL_CONFIG = "channel-config.json"


class DemoError(Exception):
    pass


def server(running: ExitStack, name: str, command: list[str], health: str, logs: Path) -> None:
    """Start a server and wait until it answers; `running` stops it at the end (unless
    the demo was asked to leave it up)."""
    if _answers(health):
        raise DemoError(f"Something already answers at {health}: stop it (or `make demo-stop`) and try again")
    log = (logs / f"{name}.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    running.callback(_stop, name, process, logs)
    (logs / PID_FILE).write_text(json.dumps({**_pids(logs), name: process.pid}))
    for _ in range(200):
        if _answers(health):
            return
        if process.poll() is not None:
            raise DemoError(f"{name} exited; see {logs / (name + '.log')}")
        time.sleep(0.1)
    raise DemoError(f"{name} did not answer at {health} within 20 s")


def _stop(name: str, process: subprocess.Popen[bytes], logs: Path) -> None:
    process.terminate()
    process.wait(timeout=10)
    (logs / PID_FILE).write_text(json.dumps({k: v for k, v in _pids(logs).items() if k != name}))


def _pids(logs: Path) -> dict[str, int]:
    file = logs / PID_FILE
    return dict(json.loads(file.read_text())) if file.exists() else {}


def stop(logs: Path) -> None:
    """What a demo left running (`--keep-running`), stopped."""
    for name, pid in _pids(logs).items():
        try:
            os.kill(pid, signal.SIGTERM)
            print(f"stopped {name} (pid {pid})")
        except ProcessLookupError:
            pass
    (logs / PID_FILE).unlink(missing_ok=True)


def meltano(*args: str, logs: Path, log_name: str) -> str:
    log_file = logs / log_name
    done = subprocess.run([str(BIN / "meltano"), *args], capture_output=True, text=True, check=False)
    log_file.write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = "\n".join(log_file.read_text().splitlines()[-15:])
        raise DemoError(f"`meltano {' '.join(args)}` failed (exit {done.returncode}); end of {log_file}:\n{tail}")
    return done.stdout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="reveni-khaos-demo", description=__doc__)
    parser.add_argument("--workdir", type=Path, default=Path.cwd())
    parser.add_argument("--keep-running", action="store_true", help="leave the servers (and the dashboard) up")
    parser.add_argument("--stop", action="store_true", help="stop what a --keep-running demo left up")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    os.chdir(workdir)
    logs = workdir / ".demo"
    logs.mkdir(exist_ok=True)
    if args.stop:
        stop(logs)
        return
    try:
        run_demo(workdir, logs, keep_running=args.keep_running)
    except DemoError as error:
        print(f"\nDemo failed: {error}", file=sys.stderr)
        sys.exit(1)


def run_demo(workdir: Path, logs: Path, *, keep_running: bool = False) -> None:
    meltano("install", logs=logs, log_name="meltano-install.log")
    config = json.loads(
        meltano(
            "--environment",
            "dev",
            "invoke",
            "--dump=config",
            "target-khaos-control",
            logs=logs,
            log_name="meltano-dump-config.log",
        )
    )
    reveni, khaos, channel = "http://127.0.0.1:8801", "http://127.0.0.1:8802", config["public_url"].rstrip("/")
    port = channel.rsplit(":", 1)[-1]
    # Nothing is written over or deleted before every port is known to be free.
    for health in (f"{reveni}/_sandbox/health", f"{khaos}/_sandbox/health", f"{channel}/healthz"):
        if _answers(health):
            raise DemoError(f"Something already answers at {health}: stop it (or `make demo-stop`) and try again")
    config_file = workdir / CHANNEL_CONFIG
    config_file.write_text(json.dumps(config, indent=2))
    store = workdir / config["database_url"].removeprefix("sqlite:///")
    store.unlink(missing_ok=True)  # a fresh demo every time
    with ExitStack() as running:
        server(
            running,
            "reveni-sandbox",
            [str(BIN / "reveni-sandbox"), "--port", "8801"],
            f"{reveni}/_sandbox/health",
            logs,
        )
        server(
            running,
            "khaos-sandbox",
            [str(BIN / "khaos-sandbox"), "--port", "8802", "--no-auto-poll"],
            f"{khaos}/_sandbox/health",
            logs,
        )
        # The channel answers 401 without credentials: enough to know it is up.
        server(
            running,
            "channel",
            [str(BIN / "reveni-khaos"), "serve", "--config", str(config_file), "--port", port],
            f"{channel}/khaos/config.json",
            logs,
        )
        print(f"1. Running: Reveni sandbox {reveni}, Khaos Control sandbox {khaos}, channel {channel}")

        # Khaos links first, as in production: its stock push tells the rules which
        # stock codes were renamed or discontinued before any return is mapped.
        credentials = {"username": config["channel_username"], "password": config["channel_password"]}
        _call("POST", f"{khaos}/_sandbox/channel", {"config_url": f"{channel}/khaos/config.json", **credentials})
        linked = _call("POST", f"{khaos}/_sandbox/link")
        print(
            f"2. Khaos linked the channel and pushed {linked['stock_upload'].get('count', 'its')} stock items "
            "and their levels"
        )

        # The scheduled job itself, once (the schedule runs it every 15 minutes).
        meltano("--environment", "dev", "run", "--full-refresh", "sync", logs=logs, log_name="meltano-run-1.log")
        documents = _states(store)
        with sqlite3.connect(store) as db:
            read = db.execute("select count(*) from reveni_returns").fetchone()[0]
        print(
            f"3. Sync (the scheduled job, meltano run sync): {read} Reveni returns read, "
            f"{documents['published']} Khaos returns published"
        )

        polled = _call("POST", f"{khaos}/_sandbox/poll")
        print(
            f"4. Khaos pulled {polled['returns']} returns in {polled['pulls']} pulls: "
            f"{len(polled['imported'])} imported ({len(polled.get('processed', []))} processed at once, the "
            f"rest await approval), {len(polled['failed'])} refused"
        )

        accepted = _warehouse_accepts_one(reveni)
        meltano("--environment", "dev", "run", "sync", logs=logs, log_name="meltano-run-2.log")
        again = _call("POST", f"{khaos}/_sandbox/poll")
        print(
            f"5. The warehouse accepted the return on order {accepted}; the next sync and pull brought "
            f"{again['returns']} more ({len(again.get('processed', []))} processed)"
        )

        approved, approved_return = _approved_without_checking(khaos, store)
        if approved:
            print(
                f"6. A Khaos user processed {approved} as it arrived, without matching the credit to "
                "Reveni's refund (the integration had sent it to await approval)"
            )

        report(workdir, store, khaos, polled, again, keep_running=keep_running, gap_of=approved_return)
        if keep_running:
            running.pop_all()  # leave them up; `make demo-stop` stops them


def report(
    workdir: Path, store: Path, khaos: str, *polls: dict[str, Any], keep_running: bool = False, gap_of: str = ""
) -> None:
    failed = Counter(reason for poll in polls for reasons in poll["failed"].values() for reason in reasons)
    credit_csv = _get_text(f"{khaos}/_sandbox/credit-notes.csv")
    out = workdir / "output" / "credit-notes.csv"
    out.write_text(credit_csv)
    reconciliation = workdir / "output" / "reconciliation.json"
    done = subprocess.run(
        [
            str(BIN / "reveni-khaos"),
            "reconcile",
            "--config",
            str(workdir / CHANNEL_CONFIG),
            "--credit-notes",
            str(out),
            "--format",
            "json",
            "--output",
            str(reconciliation),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise DemoError(f"reconciliation failed: {done.stderr.strip()}")
    found = json.loads(reconciliation.read_text())
    summary = found["summary"]
    with sqlite3.connect(store) as db:
        exceptions = db.execute(
            "select owner, kind, count(*) from exceptions where status = 'open' "
            "group by owner, kind order by owner, kind"
        ).fetchall()
    print("\nWhat happened")
    print(
        f"  Credit notes posted in Khaos: {len(credit_csv.splitlines()) - 1} (exported to {out.relative_to(workdir)})"
    )
    print(
        f"  Reconciliation: {summary['matched']} of {summary['returns_compared']} refunded returns match a credit "
        f"note ({summary['match_rate']}), {summary['awaiting_khaos']} await Khaos; gaps: "
        + (", ".join(f"{n} {gap}" for gap, n in summary["gaps"].items()) or "none")
        + f" (report in {reconciliation.relative_to(workdir)})"
    )
    _show_one_gap(store, found["gaps"], gap_of)
    print("  Imports Khaos refused:" + ("" if failed else " none"))
    for reason, count in failed.most_common():
        print(f"    {count} x {reason}")
    print("  Open exceptions, by owner (items held back, or figures to check):" + ("" if exceptions else " none"))
    if exceptions:
        print(f"    (reveni-khaos exceptions --config {CHANNEL_CONFIG} --owner OWNER lists them)")
    for owner, kind, count in exceptions:
        print(f"    {owner:<12} {count:>3} x {kind}")
    print(
        f"\nWhere to look\n  {store.relative_to(workdir)}: the store (documents, pulls, exceptions, Khaos's pushes)"
        f"\n  output/credit-notes.csv: what finance would export from Khaos"
        f"\n  output/exceptions/: the exceptions stream (Singer messages, one file per run)"
        f"\n  {CHANNEL_CONFIG}: the channel's config file, which every reveni-khaos command reads"
        f"\n  .demo/: the servers' and Meltano's logs"
        + (
            "\n  The dashboard: http://127.0.0.1:8803/dashboard/ (log in as demo / demo-dashboard)"
            "\nThe sandboxes and the channel are still running: make demo-stop stops them."
            if keep_running
            else "\n  The dashboard: make demo KEEP=1 leaves it running at http://127.0.0.1:8803/dashboard/"
            "\n  (log in as demo / demo-dashboard; make demo-stop stops it)\nNothing is left running."
        )
    )


def _approved_without_checking(khaos: str, store: Path) -> tuple[str, str]:
    """A person in Khaos processes a return whose credit the integration flagged as more
    than Reveni refunded: the mistake the reconciliation exists to catch."""
    with sqlite3.connect(store) as db:
        flagged = db.execute(
            "select d.associated_ref, d.return_id from documents d join exceptions e on e.return_id = d.return_id "
            "where e.kind = 'refund_credit_difference' and e.status = 'open' and d.state = 'served' "
            "and e.message like '%kept%back%' order by d.associated_ref"
        ).fetchall()
    for ref, return_id in flagged:
        try:
            _call("POST", f"{khaos}/_sandbox/returns/{ref}/process")
        except DemoError:
            continue  # not imported in Khaos: try the next
        return str(ref), str(return_id)
    return "", ""


def _show_one_gap(store: Path, gaps: list[dict[str, Any]], return_id: str) -> None:
    """One real gap, as finance meets it, and the exception that explains it."""
    line = next((g for g in gaps if g["return_id"] == return_id), None) or next(iter(gaps), None)
    if line is None:
        return
    with sqlite3.connect(store) as db:
        explained = db.execute(
            "select kind, owner, message from exceptions where return_id = ? and status = 'open' "
            "order by owner != 'finance', item_id = '(reconciliation)', kind limit 1",
            (line["return_id"],),
        ).fetchone()
    print(
        f"  One gap for finance: order {line['order_number']} (Reveni return {line['return_id']}): Reveni refunded "
        f"{line['refunded']} {line['currency']}, Khaos credited {line['credited']} {line['currency']}: "
        + ", ".join(line["gaps"])
    )
    if explained:
        print(f"    the exception that explains it ({explained[0]}, for {explained[1]}): {explained[2]}")


def _states(store: Path) -> Counter[str]:
    with sqlite3.connect(store) as db:
        return Counter(dict(db.execute("select state, count(*) from documents group by state").fetchall()))


def _warehouse_accepts_one(reveni: str) -> str:
    api = f"{reveni}/merchants/v0/stores/{STORE_ID}"
    returns = _call("GET", f"{api}/returns?page_size=200")["results"]
    received = next(
        r
        for r in returns
        if r["status"] == "received" and not r["instant"] and all("tax_rate" in i for i in r["return_items"])
    )
    verdicts = [{"item_id": i["id"], "quantity": i["quantity"], "status": "accepted"} for i in received["return_items"]]
    _call("POST", f"{api}/returns/{received['id']}/partial_validate", {"items": verdicts})
    return str(received["order"]["number"])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (loopback only)
            return True
    except urllib.error.HTTPError:
        return True  # something is there, even if it wants credentials
    except (urllib.error.URLError, OSError):
        return False


def _call(method: str, url: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Authorization": f"Bearer {SANDBOX_KEY}", "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise DemoError(f"{method} {url} answered {error.code}: {error.read().decode()[:300]}") from None


def _get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (loopback only)
        return str(response.read().decode())
