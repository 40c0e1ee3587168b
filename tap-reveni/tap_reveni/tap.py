"""tap-reveni: the Singer tap and its settings."""

from __future__ import annotations

import gc
import os
import sys
import typing as t

import requests
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError

from tap_reveni.config_errors import refusal
from tap_reveni.streams import ReturnsStream
from tap_reveni.writer import Writer, flush


class TapReveni(Tap):
    """Extracts returns from one Reveni store."""

    name = "tap-reveni"
    # msgspec writes each message in a fraction of simplejson's time: the tap's main cost per record.
    message_writer_class = Writer

    config_jsonschema = th.PropertiesList(
        th.Property(
            "api_url",
            th.StringType,
            default="https://api.reveni.io",
            description="Reveni host; the store path /merchants/v0/stores/{store_id}/ is added to it. "
            "https://api.sandbox.reveni.io for Reveni's sandbox.",
        ),
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            description="The store's Reveni API key, sent as a Bearer token (set TAP_REVENI_API_KEY; never commit it)",
        ),
        th.Property("store_id", th.StringType, required=True, description="The Reveni Store ID"),
        th.Property(
            "start_date", th.DateTimeType, description="Returns updated before this are not read on the first run"
        ),
        th.Property("page_size", th.IntegerType, default=200, description="Returns per request (Reveni allows 200)"),
        th.Property(
            "lookback_minutes",
            th.IntegerType,
            default=5,
            description="Each run re-reads this many minutes before the bookmark, for late writes",
        ),
        th.Property(
            "returns_path", th.StringType, default="returns", description="List endpoint, relative to the store path"
        ),
        th.Property(
            "updated_after_param",
            th.StringType,
            default="updated_after",
            description="Query parameter filtering by last update (inclusive)",
        ),
        th.Property("page_param", th.StringType, default="page", description="Query parameter for the page number"),
        th.Property(
            "page_size_param", th.StringType, default="page_size", description="Query parameter for the page size"
        ),
        th.Property("request_timeout", th.IntegerType, default=60, description="Seconds to wait for one response"),
        th.Property(
            "max_retries",
            th.IntegerType,
            default=6,
            description="Retries of one request after a 429, a 5xx, a timeout or a broken connection",
        ),
        th.Property(
            "backoff_seconds",
            th.NumberType,
            default=2,
            description="First wait before a retry when Reveni gives no Retry-After; doubles each time",
        ),
        th.Property(
            "max_wait_seconds",
            th.NumberType,
            default=120,
            description="Longest single wait before a retry, Retry-After included",
        ),
    ).to_dict()

    def __init__(self, **kwargs: t.Any) -> None:
        """singer-sdk's tap, whose refusal of the settings names each one and never a secret.

        singer-sdk's own messages would print a secret given with the wrong type, and name
        neither the environment variable to set nor every problem in one place."""
        try:
            super().__init__(**kwargs)
        except ConfigValidationError as error:
            if error.schema is None:  # not the settings' schema refusing (stream maps, say)
                raise
            raise refusal("tap-reveni", "extractor", self.config_jsonschema, dict(self.config)) from None

    def discover_streams(self) -> list[ReturnsStream]:
        """The one stream: Reveni's returns."""
        return [ReturnsStream(self)]


def main() -> None:
    """`tap-reveni`: singer-sdk's command, where an expected failure (Reveni refusing, a
    target that stopped reading, a config refused) is one ERROR line naming what to check,
    never a traceback; logged, not printed, so Meltano shows it as an error."""
    # What start-up loaded lives until the process ends: the garbage collector is told to
    # leave it alone, which saves a fifth of the tap's start-up CPU, mostly at exit (issue 22).
    gc.freeze()
    try:
        try:
            TapReveni.cli()
        finally:
            flush()  # the returns read before a stop still reach the target
    except (FatalAPIError, RetriableAPIError, requests.RequestException) as error:
        _stop(f"tap-reveni: {error}")
    except FileNotFoundError as error:  # a --config, --state or --catalog file that is not there
        _stop(
            f"tap-reveni: {error} Write the tap's settings to a file first, e.g. "
            "`.venv/bin/meltano invoke --dump=config tap-reveni > tap-config.json`, "
            "or run the tap through Meltano: `.venv/bin/meltano invoke tap-reveni`"
        )
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to write
        _stop("tap-reveni: the target stopped reading the returns; its own error says why")
    except SystemExit as stop:
        if not isinstance(stop.code, str):
            raise
        _stop(stop.code)


def _stop(message: str) -> None:
    TapReveni.logger.error("%s", message)
    sys.exit(1)


if __name__ == "__main__":
    main()
