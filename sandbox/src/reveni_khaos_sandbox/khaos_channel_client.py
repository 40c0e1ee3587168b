"""How Khaos Control Cloud talks to a channel: it reads the channel's config file, pushes
stock items and stock levels to it, and pulls customer returns from it.

Every call carries HTTP Basic auth with the channel's username and password. An answer
other than 200 is retried a few times with a doubling backoff; Khaos retries for ever
(README L136), so a push still refused is kept and sent again before the next pull, and
a failed pull is made again with the same continuation. The sandbox never crashes on a
channel's error. The first continuation is a datetime (README L230): the moment of first
contact, unless set; after that it is the one the channel last returned; a retry of
failed imports (`SpecificIDs`) leaves it where it was. As a fault, the sandbox can lose
the channel's 200 after the channel committed, and pull the same continuation again.
The config file is read in `khaos_channel_config`, the documents written and read in
`khaos_channel_documents`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

from reveni_khaos_sandbox.khaos_channel_config import ChannelError, Endpoint, parse_config
from reveni_khaos_sandbox.khaos_channel_documents import (
    encode,
    parse_returns,
    stock_item_document,
    stock_status_documents,
)
from reveni_khaos_sandbox.khaos_model import Khaos
from reveni_khaos_sandbox.khaos_records import StockItem

FIRST_CONTINUATION = "now"  # the moment of first contact, as `2019-12-31 12:00:00Z`
log = logging.getLogger("khaos_sandbox")


@dataclass
class Pull:
    """One GET of CReturnDownload, as the pull log shows it."""

    url: str
    continuation_sent: str
    specific_ids_sent: str | None
    format: str = "JSON"
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: int | None = None
    attempts: int = 0
    continuation_received: str | None = None
    api_version: Any = None
    returns: list[Any] = field(default_factory=list)
    error: str | None = None
    imported: list[str] = field(default_factory=list)
    failed: dict[str, list[str]] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "url": self.url,
            "continuation_sent": self.continuation_sent,
            "continuation_received": self.continuation_received,
            "specific_ids_sent": self.specific_ids_sent,
            "status": self.status,
            "attempts": self.attempts,
            "api_version": self.api_version,
            "count": len(self.returns),
            "imported": self.imported,
            "failed": self.failed,
            "error": self.error,
        }


class ChannelClient:
    def __init__(
        self,
        config_url: str | None = None,
        username: str = "",
        password: str = "",
        *,
        first_continuation: str = FIRST_CONTINUATION,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
        timeout_seconds: float = 10,
        session: requests.Session | None = None,
    ) -> None:
        self.config_url, self.username, self.password = config_url, username, password
        self.first_continuation = first_continuation
        self.attempts, self.backoff_seconds, self.timeout_seconds = attempts, backoff_seconds, timeout_seconds
        self.session = session or requests.Session()
        self.continuation: str | None = None  # what the channel last returned
        self.endpoints: dict[str, Endpoint] = {}
        self.config_read_at: datetime | None = None
        self.pulls: list[Pull] = []
        self.pushes: list[dict[str, Any]] = []
        self.unsent: list[tuple[str, str, dict[str, Any], int]] = []  # pushes the channel refused, to send again
        self.lose_answers = 0  # a fault: drop this many of the channel's 200s after it committed

    def first_contact(self) -> str:
        if self.first_continuation.lower() == "now":
            return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        return self.first_continuation

    def set_channel(self, config_url: str, username: str, password: str) -> None:
        """A new channel: its config must be read again, and its data continues afresh."""
        if config_url != self.config_url:
            self.continuation, self.endpoints, self.config_read_at = None, {}, None
        self.config_url, self.username, self.password = config_url, username, password

    # --- the config file -------------------------------------------------------------

    def read_config(self) -> dict[str, Endpoint]:
        if not self.config_url:
            raise ChannelError(
                "No channel config URL is set: start with --channel-config-url or POST /_sandbox/channel"
            )
        response, _, failure = self._send("GET", self.config_url)
        if response is None or failure:
            raise ChannelError(f"Channel config {self.config_url}: {failure}")
        self.endpoints = parse_config(response.text, self.config_url)
        self.config_read_at = datetime.now(UTC)
        return self.endpoints

    def endpoint(self, name: str) -> Endpoint | None:
        """KCC caches the config for a day."""
        stale = self.config_read_at is None or (datetime.now(UTC) - self.config_read_at).days >= 1
        if stale:
            self.read_config()
        return self.endpoints.get(name)

    # --- pushes ----------------------------------------------------------------------

    def push_stock(self, khaos: Khaos, items: Iterable[StockItem]) -> dict[str, Any]:
        documents = [stock_item_document(khaos, item) for item in items]
        return self._push("StockUpload", "StockItems", {"Items": documents, "Deleted": []}, len(documents))

    def push_levels(self, khaos: Khaos, items: Iterable[StockItem]) -> dict[str, Any]:
        statuses = [status for item in items for status in stock_status_documents(khaos, item)]
        return self._push("StockStatusUpload", "StockStatuses", {"Statuses": statuses}, len(statuses))

    def send_unsent(self) -> list[dict[str, Any]]:
        """Khaos retries a refused push until the channel takes it."""
        waiting, self.unsent = self.unsent, []
        return [self._push(*push) for push in waiting]

    def _push(self, name: str, xml_root: str, document: dict[str, Any], count: int) -> dict[str, Any]:
        endpoint = self.endpoint(name)
        result: dict[str, Any] = {"endpoint": name, "at": datetime.now(UTC).isoformat(), "count": count}
        if endpoint is None:
            result.update(ok=False, error=f"{name} is not in the channel config; nothing was sent")
        else:
            body, content_type = encode(document, endpoint.format, xml_root)
            response, attempts, failure = self._send("POST", endpoint.url, body, {"Content-Type": content_type})
            status = response.status_code if response is not None else None
            result.update(url=endpoint.url, format=endpoint.format, status=status, attempts=attempts, ok=not failure)
            if failure:
                result["error"] = failure
                self.unsent.append((name, xml_root, document, count))
        self.pushes.append(result)
        return result

    # --- pulls -----------------------------------------------------------------------

    def pull_returns(self, specific_ids: list[str] | None = None) -> Pull:
        """One GET of CReturnDownload. A normal pull moves the continuation to what the
        channel answers; a SpecificIDs pull (a retry of failed imports) does not."""
        endpoint = self.endpoint("CReturnDownload")
        if endpoint is None:
            raise ChannelError("The channel config has no CReturnDownload endpoint")
        if self.continuation is None:
            self.continuation = self.first_contact()  # kept until the channel answers another
        headers = {"Sirion-Continuation": self.continuation}
        if specific_ids is not None:
            headers["SpecificIDs"] = '"' + ",".join(specific_ids) + '"'
        pull = Pull(endpoint.url, headers["Sirion-Continuation"], headers.get("SpecificIDs"), endpoint.format)
        self.pulls.append(pull)
        response, pull.attempts, failure = self._send("GET", endpoint.url, headers=headers)
        pull.status = response.status_code if response is not None else None
        if response is None or failure:
            pull.error = failure
            return pull
        if self.lose_answers > 0:
            self.lose_answers -= 1
            pull.error = "the channel's answer was lost on the way (a sandbox fault): Khaos pulls again"
            return pull
        pull.continuation_received = response.headers.get("Sirion-Continuation")
        try:
            pull.api_version, pull.returns = parse_returns(response.content, endpoint.format)
        except ValueError as error:
            pull.error = f"CReturnDownload answered with {endpoint.format} Khaos cannot read: {error}"
            return pull
        if specific_ids is None and pull.continuation_received is not None:
            self.continuation = pull.continuation_received
        return pull

    # --- transport -------------------------------------------------------------------

    def _send(
        self, method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[requests.Response | None, int, str]:
        """Up to `attempts` tries with a doubling backoff. Answers the last response (None
        when the channel never answered), how many tries it took, and what went wrong
        in plain words ("" on a 200)."""
        response: requests.Response | None = None
        failure = ""
        auth = (self.username, self.password) if self.username or self.password else None
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.session.request(
                    method, url, data=body, headers=headers, auth=auth, timeout=self.timeout_seconds
                )
            except requests.RequestException as error:
                response, failure = None, f"the channel did not answer after {attempt} tries: {error}"
            else:
                if response.status_code == 200:
                    return response, attempt, ""
                failure = f"the channel answered {response.status_code} after {attempt} tries: {response.text[:200]!r}"
            log.warning("%s %s failed (try %d of %d): %s", method, url, attempt, self.attempts, failure)
            if attempt < self.attempts:
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        return response, self.attempts, failure
