"""`reveni-khaos`: the commands people run around the pipeline.

reveni-khaos serve --config FILE [--host H] [--port P]   the channel Khaos Control pulls from
"""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn

from target_khaos_control.channel import Channel
from target_khaos_control.settings import ChannelSettings, read_config_file
from target_khaos_control.store import open_store


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="reveni-khaos", description="Reveni to Khaos Control returns integration")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the channel Khaos Control pulls returns from")
    serve.add_argument("--config", required=True, help="the target's config file (JSON)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8803)
    args = parser.parse_args(argv)
    if args.command == "serve":
        _serve(args)


def _serve(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = ChannelSettings.from_config(read_config_file(args.config), args.config)
    except ValueError as error:
        sys.exit(f"reveni-khaos serve: {error}")
    engine = open_store(settings.database_url)
    logging.getLogger("reveni_khaos.channel").info(
        "Channel for Khaos Control: config file at %s/khaos/config.json (or .xml)", settings.public_url.rstrip("/")
    )
    # uvicorn's access log shows method, path and status only: never the credentials.
    uvicorn.run(Channel(engine, settings).app(), host=args.host, port=args.port, log_level="info")
