"""Walk the returns list by `updated_after`, not by page number alone.

Page numbers shift under us: when a return on an already-read page changes, it moves to
the end of the list and every later return slides back one place, so the next page
would start one return late and that return would be lost for good once the bookmark
passes it. So each request asks again from the newest `updated_at` seen; only when a
whole page shares that one timestamp (ties) does it step to the next page number.
The records a re-read repeats are dropped by `KeysetFilter`.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from weakref import WeakKeyDictionary

from singer_sdk.pagination import BaseAPIPaginator

if t.TYPE_CHECKING:
    import requests

_bodies: WeakKeyDictionary[requests.Response, dict[str, t.Any]] = WeakKeyDictionary()


def page_body(response: requests.Response) -> dict[str, t.Any]:
    """The decoded page, decoded once however many times it is asked for."""
    body = _bodies.get(response)
    if body is None:
        body = response.json(parse_float=Decimal)
        _bodies[response] = body
    return body


def parse_timestamp(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass(frozen=True)
class Cursor:
    updated_after: str | None  # None: from the beginning
    page: int = 1


def next_cursor(body: dict[str, t.Any], current: Cursor) -> Cursor | None:
    """Where the page after `body` starts, or None at the end of the list."""
    results = body.get("results") or []
    if not body.get("next") or not results:
        return None
    newest = results[-1]["updated_at"]
    if current.updated_after and parse_timestamp(newest) == parse_timestamp(current.updated_after):
        return Cursor(current.updated_after, current.page + 1)
    return Cursor(newest, 1)


class UpdatedAfterPaginator(BaseAPIPaginator[Cursor]):
    def get_next(self, response: requests.Response) -> Cursor | None:
        return next_cursor(page_body(response), self.current_value)

    def continue_if_empty(self, response: requests.Response) -> bool:
        # A re-read page can hold only returns already emitted; that is no sign of the end.
        return bool(page_body(response).get("results"))


class KeysetFilter:
    """Passes each return once: those at or before the last `(updated_at, id)` passed
    were already emitted by an earlier page of this run."""

    def __init__(self) -> None:
        self._last: tuple[datetime, str] | None = None

    def is_new(self, record: dict[str, t.Any]) -> bool:
        key = (parse_timestamp(record["updated_at"]), record["id"])
        if self._last is not None and key <= self._last:
            return False
        self._last = key
        return True
