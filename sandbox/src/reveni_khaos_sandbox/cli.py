"""`reveni-sandbox`: run the Reveni API sandbox on this machine."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from reveni_khaos_sandbox.faults import FaultInjector, Faults
from reveni_khaos_sandbox.reveni_app import ReveniSandbox
from reveni_khaos_sandbox.reveni_data import ReturnGenerator
from reveni_khaos_sandbox.reveni_store import ReturnStore


def reveni_main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="reveni-sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8801)
    parser.add_argument("--seed", type=int, default=7, help="same seed, same returns")
    parser.add_argument("--returns", type=int, default=200, help="how many returns to serve")
    parser.add_argument("--api-key", default="sandbox-key")
    parser.add_argument("--store-id", default="demo-store")
    parser.add_argument("--access-log", action="store_true")
    faults = parser.add_argument_group("fault injection (also settable by POST /_sandbox/faults)")
    defaults = Faults()
    for name, value in vars(defaults).items():
        faults.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)

    injector = FaultInjector(Faults(**{name: getattr(args, name) for name in vars(defaults)}))
    store = ReturnStore(ReturnGenerator(args.seed, args.returns))
    sandbox = ReveniSandbox(store, api_key=args.api_key, store_id=args.store_id, injector=injector)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("reveni_sandbox").info(
        "Reveni sandbox: %d returns at http://%s:%d/merchants/v0/stores/%s/ (seed %d)",
        len(store),
        args.host,
        args.port,
        args.store_id,
        args.seed,
    )
    uvicorn.run(sandbox.app(), host=args.host, port=args.port, log_level="warning", access_log=args.access_log)
