"""Walk the returns list by `updated_after`, and prove each page-number step skipped nothing.

Reveni's list has only `updated_after` (inclusive), `page` and `page_size`. Each request
asks again from the newest `updated_at` seen (page 1), so a change elsewhere cannot move
the start of the next page. Only when a whole page shares that one timestamp (a tie as
large as a page) must the walk step by page number, and page numbers shift: a tied
return already read that changes moves to the end of the list, every later one slides
back a place, and the next page starts one return late.

So every page reached by a page-number step is checked before any of it is emitted: the
return just before it (one request of page size 1) must still be the one the previous
page ended with. Changes only ever move a return to the end (Reveni stamps them now),
so if anything before the page moved, that place now holds a later return and the check
fails; the page is then dropped and the tie read again from its first page. A return is
therefore emitted from a page only when nothing before that page moved, and no return
can be skipped, however many share a timestamp and however often they change. Re-reads
repeat returns already emitted; `Emitted` drops those.
"""

from __future__ import annotations

import typing as t
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from weakref import WeakKeyDictionary

import msgspec
from singer_sdk.pagination import BaseAPIPaginator

from tap_reveni.records import moment, timestamp_of

if t.TYPE_CHECKING:
    import requests

_bodies: WeakKeyDictionary[requests.Response, dict[str, t.Any]] = WeakKeyDictionary()
# msgspec decodes a page in a fraction of simplejson's time (issue 22): the same values, numbers
# with a fraction as Decimal; what it refuses (a lone surrogate, text not UTF-8) is decoded as before.
_decoder = msgspec.json.Decoder(float_hook=Decimal)


def page_body(response: requests.Response) -> dict[str, t.Any]:
    """The decoded page, decoded once however many times it is asked for."""
    body = _bodies.get(response)
    if body is None:
        body = _decode(response)
        _bodies[response] = body
    return body


def _decode(response: requests.Response) -> t.Any:
    if (response.encoding or "utf-8").lower() in {"utf-8", "utf8"}:
        try:
            return _decoder.decode(response.content)
        except msgspec.DecodeError:
            pass
    return response.json(parse_float=Decimal)


@dataclass(frozen=True)
class Cursor:
    """Where the walk asks next: from `updated_after`, and on a tie the page and what must come before it."""

    updated_after: str | None  # None: from the beginning
    page: int = 1
    follows: str | None = None  # page >= 2: the id the previous page ended with
    page_size: int = 0  # page >= 2: how many returns the previous (full) page held

    @property
    def check_position(self) -> int:
        """The 1-based place in the list of the return that must be `follows`."""
        return (self.page - 1) * self.page_size


@dataclass(frozen=True)
class Step:
    """What one page answer means: whether it may be emitted, and where to go next."""

    emit: bool
    upcoming: Cursor | None


def next_step(body: dict[str, t.Any], current: Cursor, *, shifted: bool = False) -> Step:
    """Where to go after this page, and whether its returns may be emitted."""
    if shifted:  # something before this page moved: read the tie again from its first page
        return Step(emit=False, upcoming=Cursor(current.updated_after))
    results = body.get("results") or []
    if not body.get("next") or not results:
        return Step(emit=True, upcoming=None)
    # The newest timestamp the page holds that can be read: a garbled one says nothing of
    # where the list is (records.py). A page with none is stepped through by number, as a tie.
    newest = next((r["updated_at"] for r in reversed(results) if timestamp_of(r) is not None), None)
    if newest is None or (current.updated_after and moment(newest) == moment(current.updated_after)):
        return Step(
            emit=True,
            upcoming=Cursor(current.updated_after, current.page + 1, results[-1].get("id"), len(results)),
        )
    return Step(emit=True, upcoming=Cursor(newest))


class UpdatedAfterPaginator(BaseAPIPaginator[Cursor]):
    """The SDK's paginator, stepping by `updated_after` as `next_step` decides."""

    def __init__(self, start: Cursor, step: Callable[[requests.Response, Cursor], Step]) -> None:
        """Start at `start`; `step` tells, once per page, where to go next."""
        super().__init__(start)
        self._step = step

    def get_next(self, response: requests.Response) -> Cursor | None:
        """The next place to ask, or None at the end of the list."""
        return self._step(response, self.current_value).upcoming

    def continue_if_empty(self, response: requests.Response) -> bool:
        """Go on after a page with returns on it even when none of them were new."""
        # A dropped or re-read page yields nothing new; that is no sign of the end.
        return bool(page_body(response).get("results"))


class Emitted:
    """Passes each version of a return once a run. Only the versions at or after the
    walk's current `updated_after` are remembered: nothing older can be read again."""

    def __init__(self) -> None:
        """Nothing seen yet this run."""
        self._seen: set[tuple[datetime, str]] = set()
        self._unreadable: set[str] = set()  # returns whose updated_at cannot be read: kept all run
        self._floor: datetime | None = None

    def is_new(self, record: dict[str, t.Any], stamp: datetime | None) -> bool:
        """Whether this version of the return (`stamp`: its `timestamp_of`) has not been emitted
        yet this run (and remember it)."""
        if stamp is None:
            garbled = repr((record.get("id"), record.get("updated_at")))
            new = garbled not in self._unreadable
            self._unreadable.add(garbled)
            return new
        key = (stamp, str(record.get("id")))
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def forget_before(self, updated_after: str | None) -> None:
        """Drop what was seen before the walk's new `updated_after`: it cannot be read again."""
        floor = moment(updated_after) if updated_after else None
        if floor is not None and floor != self._floor:
            self._floor = floor
            self._seen = {key for key in self._seen if key[0] >= floor}
