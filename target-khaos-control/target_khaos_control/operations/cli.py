"""`reveni-khaos`: the commands people run around the pipeline.

reveni-khaos serve --config FILE [--host H] [--port P]      the channel Khaos Control pulls from
reveni-khaos rules validate PATH                            check a rule set, every problem at once
reveni-khaos rules test PATH                                run its golden cases
reveni-khaos rules preview PATH --input FILE [--against OTHER_PATH]
reveni-khaos replay | reconcile | exceptions --config FILE ...    the daily work on the store
reveni-khaos close --period YYYY-MM --config FILE --credit-notes FILE [--payout-total AMOUNT CURRENCY ...]
reveni-khaos clients add NAME | list | check                 one command per new client; none may share
reveni-khaos fix list | accept ID | reject ID --config FILE        exceptions that come with their fix

Every value an option takes is checked against what exists (owners, exception types), and a
refusal lists the valid ones; every expected error is one line and an exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from decimal import Decimal, InvalidOperation
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from target_khaos_control.exception_kinds import KINDS, Owner
from target_khaos_control.operations import rules_commands as rules

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

OWNERS = [str(owner) for owner in Owner]


def parser() -> argparse.ArgumentParser:
    """The `reveni-khaos` command line: every command, its options and their help."""
    main = argparse.ArgumentParser(prog="reveni-khaos", description="Reveni to Khaos Control returns integration")
    main.add_argument("--version", action="version", version=f"%(prog)s {version('target-khaos-control')}")
    commands = main.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the channel Khaos Control pulls returns from")
    serve.add_argument("--config", required=True, help="the target's config file (JSON)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, help="default: the config's channel_port (8803 unless set)")

    ruleset = commands.add_parser("rules", help="check, test and preview a client's rule set")
    actions = ruleset.add_subparsers(dest="action", required=True)
    actions.add_parser("validate", help="check a rule set").add_argument("path")
    actions.add_parser("test", help="run a rule set's golden cases").add_argument("path")
    preview = actions.add_parser("preview", help="dry run: the documents and exceptions a rule set would make")
    preview.add_argument("path")
    preview.add_argument(
        "--input",
        required=True,
        help="Reveni returns as JSON lines, or tap-reveni's output (`-`: standard input), e.g. "
        "`meltano invoke tap-reveni > returns.jsonl`: the tap's own paging, so nothing is missed",
    )
    preview.add_argument("--against", help="another rule set: show only what would change")

    replay = commands.add_parser("replay", help="run open exceptions' returns through the current rules")
    replay.add_argument("--config", required=True, help="the target's config file (JSON)")
    replay.add_argument("--id", action="append", default=[], help="a Reveni return id (repeatable)")
    replay.add_argument(
        "--type",
        action="append",
        default=[],
        choices=sorted(KINDS),
        metavar="TYPE",
        help="an exception type (repeatable)",
    )
    replay.add_argument(
        "--owner",
        action="append",
        default=[],
        choices=OWNERS,
        metavar="OWNER",
        help=f"{', '.join(OWNERS)} (repeatable)",
    )

    reconcile = commands.add_parser("reconcile", help="Reveni refunds against Khaos credit notes")
    reconcile.add_argument("--config", required=True, help="the target's config file (JSON)")
    reconcile.add_argument("--credit-notes", required=True, help="Khaos Control's credit-note export (CSV)")
    reconcile.add_argument("--format", choices=("table", "csv", "json"), default="table")
    reconcile.add_argument("--output", help="write the report to this file instead of the terminal")

    close = commands.add_parser("close", help="the month-end close of a period, and the accountant's export")
    close.add_argument("--period", required=True, help="the month to close, YYYY-MM (e.g. 2026-11)")
    close.add_argument("--config", required=True, help="the target's config file (JSON)")
    close.add_argument("--credit-notes", required=True, help="Khaos Control's credit-note export (CSV)")
    close.add_argument(
        "--payout-total",
        nargs=2,
        action="append",
        default=[],
        metavar=("AMOUNT", "CURRENCY"),
        help="what Reveni's payout report says it paid out in the period (repeatable, one per currency)",
    )
    close.add_argument(
        "--output", help="where the export goes, without its suffix (default: close-PERIOD, as .csv and .xlsx)"
    )
    clients = commands.add_parser("clients", help="add a client, list them, check none share a store or port")
    client_actions = clients.add_subparsers(dest="action", required=True)
    adding = client_actions.add_parser("add", help="add a client: rules, plugins, settings, job and schedule")
    adding.add_argument("name", help="the client's name, e.g. acme (lower-case letters, digits, dashes)")
    adding.add_argument("--template", help="the rule folder to start from (default rules/demo)")
    for action in (adding, client_actions.add_parser("list", help="the clients and where each keeps its data")):
        action.add_argument("--project", default=".", help="the Meltano project's folder (default: this one)")
    client_actions.choices["list"].add_argument("--format", choices=("table", "json"), default="table")
    client_actions.add_parser(
        "check", help="refuse two clients sharing a store, state id, exceptions path or channel port"
    ).add_argument("--project", default=".", help="the Meltano project's folder (default: this one)")

    listing = commands.add_parser("exceptions", help="list open exceptions")
    listing.add_argument("--config", required=True, help="the target's config file (JSON)")
    listing.add_argument("--owner", choices=OWNERS, metavar="OWNER", help=f"only this owner's: {', '.join(OWNERS)}")
    listing.add_argument("--format", choices=("table", "json"), default="table")

    fix = commands.add_parser("fix", help="proposed rule changes for open exceptions: list, accept, reject")
    fixes = fix.add_subparsers(dest="action", required=True)
    fix_list = fixes.add_parser("list", help="the open exceptions' proposals, with their evidence")
    fix_list.add_argument("--config", required=True, help="the target's config file (JSON)")
    fix_list.add_argument("--owner", choices=OWNERS, metavar="OWNER", help=f"only this owner's: {', '.join(OWNERS)}")
    fix_list.add_argument("--format", choices=("table", "json"), default="table")
    for name, words in (("accept", "write it into the rules, check them, replay"), ("reject", "never offer it again")):
        decide = fixes.add_parser(name, help=f"{name} a proposal: {words}")
        decide.add_argument("id", help="the proposal's id, from `fix list`")
        decide.add_argument("--config", required=True, help="the target's config file (JSON)")
        decide.add_argument("--by", default="", help="who decides (default: your login name)")
        if name == "accept":
            decide.add_argument("--dry-run", action="store_true", help="show the change to rules.yml only")
    return main


def main(argv: list[str] | None = None) -> None:
    """Run `reveni-khaos`; a reader that went away (`| head`) or Ctrl-C ends it quietly."""
    try:
        _run(argv)
    except BrokenPipeError:
        # The reader went away (`| head`): what it wanted was written; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except KeyboardInterrupt:
        sys.exit(130)


def _run(argv: list[str] | None) -> None:
    # Each command is handed `sys.stdout` as it is when it runs, not as it was when its
    # module was imported: a caller running `main` in its own process may have replaced it.
    args = parser().parse_args(argv)
    if args.command == "serve":
        _serve(args)
    elif args.command == "clients":
        from target_khaos_control.operations.client_commands import run

        sys.exit(run(args))
    elif args.command in ("replay", "reconcile", "exceptions", "close", "fix"):
        sys.exit(_operate(args))
    elif args.action == "validate":
        sys.exit(rules.validate(args.path, out=sys.stdout))
    elif args.action == "test":
        sys.exit(rules.run_tests(args.path, out=sys.stdout))
    else:
        try:
            returns = rules.read_returns(args.input)
        except (OSError, ValueError) as error:
            sys.exit(f"reveni-khaos rules preview: {error}")
        sys.exit(rules.preview(args.path, returns, args.against, out=sys.stdout))


def _serve(args: argparse.Namespace) -> None:
    try:
        import uvicorn

        from target_khaos_control.channel.app import Channel
        from target_khaos_control.channel.checkpoints import WalCheckpoints
    except ImportError as missing:
        sys.exit(
            f"reveni-khaos serve: the channel needs the `channel` extra ({missing.name} is missing): "
            "pip install 'target-khaos-control[channel]'"
        )
    from target_khaos_control.client_store import claim_store, client_name, masked
    from target_khaos_control.clients import clash_for
    from target_khaos_control.config_errors import without_passwords
    from target_khaos_control.settings import ChannelSettings, read_config_file
    from target_khaos_control.store import open_store

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = ChannelSettings.from_config(read_config_file(args.config), args.config)
    except ValueError as error:
        sys.exit(without_passwords(f"reveni-khaos serve: {error}"))
    client = settings.client or client_name({"rules_path": settings.rules_path})
    clash = clash_for(client, os.environ.get("MELTANO_ENVIRONMENT"))
    if clash:  # before the store is opened: another client's is never touched
        sys.exit(f"reveni-khaos serve: {clash}")
    try:
        engine = open_store(settings.database_url)
    except ValueError as error:
        sys.exit(without_passwords(f"reveni-khaos serve: {error}"))
    claim_store(engine, client, masked(settings.database_url))
    WalCheckpoints.off_the_answers(engine)  # SQLite: no pull waits for a checkpoint
    logging.getLogger("reveni_khaos.channel").info(
        "Channel for Khaos Control: config file at %s/khaos/config.json (or .xml)",
        without_passwords(settings.public_url.rstrip("/")),
    )
    # The channel logs each call itself (method, a path never whole, status; never the
    # credentials): uvicorn's access log would print a 100 KB request line whole.
    # h11, not httptools: h11 refuses a request line and headers over the limit before
    # reading them all (httptools reads a 100 MB header before auth).
    uvicorn.run(
        Channel(engine, settings).app(),
        host=args.host,
        port=args.port or settings.channel_port,
        log_level="info",
        access_log=False,
        http="h11",
        h11_max_incomplete_event_size=settings.max_header_bytes,
    )


def _fix(engine: Engine, rules_path: str, args: argparse.Namespace) -> int:
    from target_khaos_control.operations import fix_commands

    if args.action == "list":
        return fix_commands.list_fixes(engine, rules_path, args.owner, args.format, out=sys.stdout)
    if args.action == "accept":
        return fix_commands.accept(engine, rules_path, args.id, dry_run=args.dry_run, by=args.by, out=sys.stdout)
    return fix_commands.reject(engine, rules_path, args.id, by=args.by, out=sys.stdout)


def _operate(args: argparse.Namespace) -> int:
    from target_khaos_control.client_store import claim_store, client_name, masked
    from target_khaos_control.config_errors import without_passwords
    from target_khaos_control.operations import commands
    from target_khaos_control.operations.reconciliation import CreditNoteFileError
    from target_khaos_control.rules import RuleSetError, load_ruleset
    from target_khaos_control.settings import read_config_file
    from target_khaos_control.store import open_store

    try:
        config = read_config_file(args.config)
        missing = [name for name in ("database_url", "rules_path") if not config.get(name)]
        if missing:
            raise ValueError(
                f"{args.config}: no {' and no '.join(f'`{name}`' for name in missing)} (see docs/README.md)"
            )
        engine = open_store(config["database_url"])
        claim_store(engine, client_name(config), masked(config["database_url"]))
        if args.command == "replay":
            return commands.replay(
                engine, config["rules_path"], ids=args.id, kinds=args.type, owners=args.owner, out=sys.stdout
            )
        if args.command == "exceptions":
            return commands.list_exceptions(engine, args.owner, args.format, out=sys.stdout)
        if args.command == "fix":
            return _fix(engine, config["rules_path"], args)
        ruleset = load_ruleset(config["rules_path"])
        if args.command == "close":
            return _close(args, engine, config, ruleset)
        return commands.run_reconciliation(
            engine,
            Path(args.credit_notes),
            columns=config.get("credit_note_columns"),
            hold_days=ruleset.hold_alert_days,
            routing=ruleset.routing,
            unconfirmed_hours=float(config.get("unconfirmed_after_hours", 24)),
            fmt=args.format,
            output=Path(args.output) if args.output else None,
            tax_rates=ruleset.tax_code_rates,
            out=sys.stdout,
        )
    except (ValueError, CreditNoteFileError) as error:
        detail = "\n".join(error.errors) if isinstance(error, RuleSetError) else str(error)
        print(without_passwords(f"reveni-khaos {args.command}: {detail}"), file=sys.stderr)
        return 1


def _close(args: argparse.Namespace, engine: Any, config: dict[str, Any], ruleset: Any) -> int:
    from target_khaos_control.operations.month_end import Period
    from target_khaos_control.operations.month_end_export import run_close

    period = Period.parse(args.period)
    payouts = []
    for amount, currency in args.payout_total:
        try:
            total = Decimal(amount)
        except InvalidOperation:
            total = Decimal("NaN")
        if not total.is_finite() or len(currency) != 3 or not currency.isalpha():
            raise ValueError(f"--payout-total {amount} {currency}: write an amount and a currency, e.g. 1234.56 GBP")
        payouts.append((total, currency.upper()))
    return run_close(
        engine,
        period,
        Path(args.credit_notes),
        columns=config.get("credit_note_columns"),
        tax_rates=ruleset.tax_code_rates,
        unconfirmed_hours=float(config.get("unconfirmed_after_hours", 24)),
        payouts=payouts,
        output=Path(args.output) if args.output else Path(f"close-{period.name}"),
        out=sys.stdout,
    )
