"""A channel's config file, as Khaos Control Cloud reads it: where each endpoint is, in
which format (JSON or XML), and for CReturnDownload how many minutes between pulls.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from defusedxml import ElementTree as SafeXML


class ChannelError(Exception):
    """The channel could not be used; the message says what to fix."""


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    format: str  # JSON or XML
    frequency_minutes: float | None = None

    def json(self) -> dict[str, Any]:
        found: dict[str, Any] = {"URL": self.url, "Format": self.format}
        if self.frequency_minutes is not None:
            found["Frequency"] = self.frequency_minutes
        return found


def parse_config(text: str, config_url: str) -> dict[str, Endpoint]:
    """`{"EndpointConfig": {name: {URL, Format, Frequency}}}` or the same as XML; relative
    URLs are taken from the config file's own URL."""
    where = f"Channel config {config_url}"
    try:
        if text.lstrip().startswith("<"):
            root = SafeXML.fromstring(text)
            if root.tag != "EndpointConfig":
                raise ChannelError(f"{where}: the XML root must be EndpointConfig, not {root.tag}")
            raw: Any = {child.tag: {part.tag: (part.text or "").strip() for part in child} for child in root}
        else:
            document = json.loads(text)
            raw = document.get("EndpointConfig") if isinstance(document, dict) else None
            if not isinstance(raw, dict):
                raise ChannelError(f"{where}: the JSON needs an EndpointConfig object")
    except (ValueError, SafeXML.ParseError) as error:
        raise ChannelError(f"{where} is neither JSON nor XML: {error}") from None
    endpoints = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or not entry.get("URL"):
            raise ChannelError(f"{where}: {name}.URL is required")
        kind = str(entry.get("Format", "")).upper()
        if kind not in ("JSON", "XML"):
            raise ChannelError(f"{where}: {name}.Format must be JSON or XML, got {entry.get('Format')!r}")
        frequency = entry.get("Frequency")
        try:
            minutes = float(frequency) if frequency not in (None, "") else None
        except (TypeError, ValueError):
            raise ChannelError(f"{where}: {name}.Frequency must be a number of minutes") from None
        endpoints[name] = Endpoint(name, urljoin(config_url, str(entry["URL"])), kind, minutes)
    return endpoints
