"""`khaos-sandbox`: act as Khaos Control Cloud on this machine, towards a channel.

Give it the same --seed and --returns as the Reveni sandbox, so the sales orders the
Reveni returns refer to exist here.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn

from reveni_khaos_sandbox.khaos_app import KhaosSandbox
from reveni_khaos_sandbox.khaos_channel_client import FIRST_CONTINUATION, ChannelClient
from reveni_khaos_sandbox.khaos_data import demo_khaos
from reveni_khaos_sandbox.khaos_import import SOURCE_FORMS


def khaos_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="khaos-sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8802)
    parser.add_argument("--seed", type=int, default=7, help="the Reveni sandbox's --seed")
    parser.add_argument("--returns", type=int, default=200, help="the Reveni sandbox's --returns")
    channel = parser.add_argument_group("the channel (also settable by POST /_sandbox/channel)")
    channel.add_argument("--channel-config-url", help="where the channel's EndpointConfig file is")
    channel.add_argument("--channel-username", default="", help="HTTP Basic auth on every call to the channel")
    channel.add_argument("--channel-password", default="")
    channel.add_argument(
        "--first-continuation",
        default=FIRST_CONTINUATION,
        help="the Sirion-Continuation sent on first contact: a datetime, or `now` for the moment of first "
        "contact, as Khaos does (default: %(default)s)",
    )
    channel.add_argument(
        "--source-reference-form",
        choices=SOURCE_FORMS,
        default=SOURCE_FORMS[0],
        help="the one form of a return item's source order this Khaos reads (default: %(default)s, the docs' table)",
    )
    channel.add_argument("--channel-attempts", type=int, default=3, help="tries per call before it counts as failed")
    channel.add_argument("--channel-backoff-seconds", type=float, default=0.5, help="wait before the 2nd try; doubles")
    channel.add_argument("--channel-timeout-seconds", type=float, default=10)
    parser.add_argument(
        "--no-auto-poll",
        dest="auto_poll",
        action="store_false",
        help="pull returns only on POST /_sandbox/poll, not every CReturnDownload Frequency minutes",
    )
    parser.add_argument(
        "--minute-seconds",
        type=float,
        default=60.0,
        help="how many seconds one minute of Khaos's clock lasts (fast mode for tests: e.g. 0.05)",
    )
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)
    if args.returns < 0 or args.channel_attempts < 1 or args.minute_seconds <= 0:
        parser.error("--returns must be 0 or more, --channel-attempts 1 or more, --minute-seconds above 0")

    client = ChannelClient(
        args.channel_config_url,
        args.channel_username,
        args.channel_password,
        first_continuation=args.first_continuation,
        attempts=args.channel_attempts,
        backoff_seconds=args.channel_backoff_seconds,
        timeout_seconds=args.channel_timeout_seconds,
    )
    khaos = demo_khaos(args.seed, args.returns)
    khaos.source_reference_form = args.source_reference_form
    sandbox = KhaosSandbox(khaos, client, auto_poll=args.auto_poll, minute_seconds=args.minute_seconds)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("khaos_sandbox").info(
        "Khaos Control sandbox: %d stock items, %d sales orders (seed %d), admin at http://%s:%d/_sandbox/; channel %s",
        len(khaos.stock),
        len(khaos.orders),
        args.seed,
        args.host,
        args.port,
        args.channel_config_url or "not set",
    )
    uvicorn.run(sandbox.app(), host=args.host, port=args.port, log_level="warning", access_log=args.access_log)
