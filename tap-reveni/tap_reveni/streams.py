"""The `returns` stream: every Reveni return, incrementally by `updated_at`."""

from __future__ import annotations

import copy
import typing as t
from datetime import UTC, timedelta
from weakref import WeakKeyDictionary

from singer_sdk.exceptions import FatalAPIError
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform

from tap_reveni.client import ReveniStream
from tap_reveni.pagination import Cursor, Emitted, Step, UpdatedAfterPaginator, next_step, page_body
from tap_reveni.records import timestamp_of, unreadable
from tap_reveni.schemas import RETURN
from tap_reveni.writer import Writer

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context
    from singer_sdk.mapper import StreamMap


class ReturnsStream(ReveniStream):
    """Returns sorted by `(updated_at, id)`, so the bookmark can resume mid-stream.

    The bookmark is inclusive (`updated_after` means >=) and a run starts
    `lookback_minutes` before it, so returns that share the bookmark's timestamp, or
    were written late, are read again rather than skipped. Re-reads are harmless: the
    target keeps one document per return version.
    """

    name = "returns"
    primary_keys = ("id",)
    replication_key = "updated_at"
    is_sorted = True
    schema = copy.deepcopy(RETURN)  # singer-sdk may annotate its copy
    # A STATE every 100 returns, its bookmark as of the last page read: a run that dies
    # loses at most a page and a hundred returns of progress.
    STATE_MSG_FREQUENCY = 100
    # Reveni already sends proper JSON types, which the target's rules check: conforming
    # them to the schema again cost a third of the tap's CPU per record (bench/).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def _write_record_message(self, record: dict[str, t.Any]) -> None:
        """singer-sdk's, with each record that goes out as read (every field selected, Meltano's
        default; no stream map changing it; no types conformed) written straight onto the
        writer's block: singer-sdk walks every nested field of every record to drop deselected
        ones (a third of the tap's CPU per record) and builds a message object for each (a tenth).
        Stays private: singer-sdk has no public hook that writes the RECORD message."""
        alias = self._as_read_alias
        writer = self._tap.message_writer
        if alias is None or not self._everything_selected or not isinstance(writer, Writer):
            super()._write_record_message(record)
            return
        writer.write_record(alias, record, self._stream_version, utc_now())
        self.state_manager.is_flushed = False

    _maps_of: tuple[list[StreamMap], str | None] | None = None  # the maps last asked about, and their answer

    @property
    def _as_read_alias(self) -> str | None:
        """The stream a record goes out as when it goes out as read, or None when a stream map
        or conforming types may change it. Asked of every record, so worked out once a list of
        maps: singer-sdk makes a new list when the maps change; the conformance level is the class's."""
        maps = self.stream_maps
        if self._maps_of is None or self._maps_of[0] is not maps:
            unchanged = (
                len(maps) == 1
                and type(maps[0]) is SameRecordTransform  # singer-sdk's default map, without flattening
                and not maps[0].flattening_enabled
                and self.TYPE_CONFORMANCE_LEVEL is TypeConformanceLevel.NONE
            )
            self._maps_of = (maps, maps[0].stream_alias if unchanged else None)
        return self._maps_of[1]

    _selection: tuple[t.Any, bool] | None = None  # the mask last asked about, and its answer

    @property
    def _everything_selected(self) -> bool:
        """Whether every field is selected: asked of every record, so worked out once a mask
        (it has ~100 entries; singer-sdk makes a new one when the selection changes)."""
        mask = self.mask
        if self._selection is None or self._selection[0] is not mask:
            self._selection = (mask, all(mask.values()))
        return self._selection[1]

    def generate_child_contexts(self, record: dict[str, t.Any], context: Context | None) -> t.Iterable[Context | None]:
        """None: the stream has no child streams (singer-sdk would ask the stream maps of
        every record whether to sync children it does not have)."""
        return ()

    def _increment_stream_state(self, latest_record: dict[str, t.Any], *, context: Context | None = None) -> None:
        # Stays private: singer-sdk offers no public way to keep a record from the bookmark.
        # The bookmark moves once a page, to the page's last return the tap can read: a
        # return it cannot read never moves it (parse_response has said so), and moving it
        # for every record was a tenth of the tap's CPU (issue 22). A STATE written mid-page
        # holds the last page's bookmark: behind, never past an unread return.
        if latest_record is self._bookmark_at:
            super()._increment_stream_state(latest_record, context=context)

    @property
    def path(self) -> str:  # type: ignore[override]
        """The returns list's path under the store (`returns_path`)."""
        return str(self.config["returns_path"])

    @property
    def check_sorted(self) -> bool:
        """Off: the look-back window re-reads older returns on purpose."""
        # The look-back window re-reads returns older than the saved bookmark on purpose.
        return False

    # Re-reads of a tie after the list shifted under it, in one run, before giving up:
    # each needs a return in the tie to change while the tap pages through it.
    MAX_REREADS = 100

    def get_new_paginator(self) -> UpdatedAfterPaginator:
        """A fresh walk of the list from the bookmark less the look-back window."""
        self._emitted = Emitted()
        self._steps: WeakKeyDictionary[requests.Response, Step] = WeakKeyDictionary()
        self._rereads = 0
        self._bookmark_at: dict[str, t.Any] | None = None  # the return the bookmark moves to, once a page
        return UpdatedAfterPaginator(Cursor(self._first_updated_after()), self.step)

    def _first_updated_after(self) -> str | None:
        start = self.get_starting_timestamp(None)
        if start is None:
            return None
        start = start.astimezone(UTC) - timedelta(minutes=int(self.config["lookback_minutes"]))
        return start.strftime("%Y-%m-%dT%H:%M:%SZ")

    def get_url_params(self, context: Context | None, next_page_token: Cursor | None) -> dict[str, t.Any]:
        """The query for the page asked for (page 1 from the start when there is none yet)."""
        self.requested = next_page_token or Cursor(None)
        return self._params(self.requested)

    def _params(self, cursor: Cursor) -> dict[str, t.Any]:
        params: dict[str, t.Any] = {
            self.config["page_param"]: cursor.page,
            self.config["page_size_param"]: self.config["page_size"],
        }
        if cursor.updated_after:
            params[self.config["updated_after_param"]] = cursor.updated_after
        return params

    def step(self, response: requests.Response, cursor: Cursor) -> Step:
        """Decided once per page: the SDK's paginator and `parse_response` both ask."""
        step = self._steps.get(response)
        if step is None:
            step = next_step(page_body(response), cursor, shifted=cursor.page > 1 and self._shifted(cursor))
            self._steps[response] = step
        return step

    def _shifted(self, cursor: Cursor) -> bool:
        """Whether the return just before this page is no longer the one the last page ended with."""
        params = self._params(Cursor(cursor.updated_after, cursor.check_position)) | {self.config["page_size_param"]: 1}
        response = self.fetch(params)
        there = (page_body(response).get("results") or [{}])[0].get("id") if response.ok else None
        shifted = there != cursor.follows
        if shifted:
            self._rereads += 1
            if self._rereads > self.MAX_REREADS:
                msg = (
                    f"Reveni's list kept changing under the returns updated at {cursor.updated_after}; try again later"
                )
                raise FatalAPIError(msg)
            self.logger.warning(
                "Returns updated at %s moved while the tap paged through them; reading them again from the first page",
                cursor.updated_after,
            )
        return shifted

    def parse_response(self, response: requests.Response) -> t.Iterable[dict[str, t.Any]]:
        """The page's returns not yet emitted this run, once the page is proven to skip nothing."""
        requested = self.requested
        step = self.step(response, requested)
        if step.upcoming is not None:
            self.prefetch(self._params(step.upcoming))
        if not step.emit:
            return
        if requested.page == 1:
            self._emitted.forget_before(requested.updated_after)
        fresh = []
        for record in page_body(response).get("results", []):
            stamp = timestamp_of(record)
            if self._emitted.is_new(record, stamp):
                why = unreadable(record, stamp)
                if why is None:
                    self._bookmark_at = record
                else:
                    self._warn_unreadable(record, why)
                fresh.append(record)
        yield from fresh

    def _warn_unreadable(self, record: dict[str, t.Any], why: str) -> None:
        self.logger.warning(
            "Reveni return %r cannot be read (%s): passed on for the target to hold as an invalid_record; "
            "the bookmark does not move for it",
            record.get("id"),
            why,
        )
