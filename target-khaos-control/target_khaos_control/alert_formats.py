"""An owner's alert event in each destination's own form: Slack, Microsoft Teams, PagerDuty
Events v2, or the event itself as JSON. `docs/alerts/` holds a sample of each
(tests/test_alert_formats.py checks the payloads against them).

Order numbers, SKUs, reason codes and messages come from Reveni: each destination's markup
is escaped in them (Slack's `<!channel>` and `<url|text>`, Teams' Markdown), newlines are
folded and long values cut, so a return can never ping a channel or hide a link.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NotRequired, TypeAlias, TypedDict

import msgspec

if TYPE_CHECKING:
    from target_khaos_control.alerts import Destination, OwnerEvent

# PagerDuty's severities; `critical` is left for what pages at night, which no exception is.
PAGERDUTY_SEVERITY = {"high": "error", "medium": "warning", "low": "info"}
SUMMARY_MOST = 1024  # PagerDuty cuts a longer summary
VALUE_MOST = 200  # characters of one value from Reveni shown in a message


class SlackText(TypedDict):
    """A Block Kit text object."""

    type: str
    text: str


class SlackBlock(TypedDict, total=False):
    """A Block Kit block: a section (text or fields) or a context (elements)."""

    type: str
    text: SlackText
    fields: list[SlackText]
    elements: list[SlackText]


class SlackMessage(TypedDict):
    """A Slack incoming-webhook message."""

    text: str
    blocks: list[SlackBlock]


class TeamsFact(TypedDict):
    """One title and value of a FactSet."""

    title: str
    value: str


class TeamsElement(TypedDict, total=False):
    """An Adaptive Card element: a TextBlock or a FactSet."""

    type: str
    text: str
    weight: str
    size: str
    wrap: bool
    color: str
    isSubtle: bool
    facts: list[TeamsFact]


class TeamsAction(TypedDict):
    """An Adaptive Card's Action.OpenUrl."""

    type: str
    title: str
    url: str


# Functional form: the card's `$schema` is no Python name.
AdaptiveCard = TypedDict(
    "AdaptiveCard",
    {
        "$schema": str,
        "type": str,
        "version": str,
        "body": list[TeamsElement],
        "actions": NotRequired[list[TeamsAction]],
    },
)


class TeamsAttachment(TypedDict):
    """The attachment that carries the card."""

    contentType: str
    contentUrl: None
    content: AdaptiveCard


class TeamsMessage(TypedDict):
    """A Teams Workflows webhook message."""

    type: str
    attachments: list[TeamsAttachment]


# Functional form: `class` is a Python keyword.
PagerDutyPayload = TypedDict(
    "PagerDutyPayload",
    {
        "summary": str,
        "source": str,
        "severity": str,
        "component": str,
        "group": str,
        "class": str,
        "custom_details": dict[str, object],
    },
)


class PagerDutyLink(TypedDict):
    """A link PagerDuty shows on the incident."""

    href: str
    text: str


class PagerDutyEvent(TypedDict):
    """An Events API v2 event: a resolve carries only the first three."""

    routing_key: str
    event_action: str
    dedup_key: str
    payload: NotRequired[PagerDutyPayload]
    client: NotRequired[str]
    client_url: NotRequired[str]
    links: NotRequired[list[PagerDutyLink]]


EventJSON: TypeAlias = dict[str, object]  # the OwnerEvent itself, as msgspec writes it
Message: TypeAlias = SlackMessage | TeamsMessage | PagerDutyEvent | EventJSON


def render(event: OwnerEvent, destination: Destination) -> Message:
    """The body to post for `event` to a destination of `destination.format`."""
    if destination.format == "slack":
        return slack(event)
    if destination.format == "teams":
        return teams(event)
    if destination.format == "pagerduty":
        return pagerduty(event, destination.routing_key)
    return as_json(event)


def as_json(event: OwnerEvent) -> EventJSON:
    """The event itself (amounts as strings), for any tool that reads JSON."""
    built: EventJSON = msgspec.to_builtins(event)
    return built


def headline(event: OwnerEvent) -> str:
    """One line saying whose, where and how many; plain text."""
    where = f"{event.client} ({event.environment})" if event.environment else event.client
    if event.action == "resolve":
        return f"reveni-khaos {where}: no open exceptions left for {event.owner}"
    return f"reveni-khaos {where}: {event.new} new exception(s) for {event.owner}, {event.open} open"


def _money(event: OwnerEvent) -> str:
    return ", ".join(f"{amount} {currency}" for currency, amount in event.at_stake.items()) or "none"


def _oldest(event: OwnerEvent) -> str:
    if event.oldest_age_hours is None:
        return "-"
    hours = event.oldest_age_hours
    return f"{hours // 24} days" if hours >= 48 else f"{hours} hours"


def _severities(event: OwnerEvent) -> str:
    return ", ".join(f"{count} {name}" for name, count in event.by_severity.items() if count) or "none"


def _folded(value: str) -> str:
    """One line, at most VALUE_MOST characters: a value never adds lines to a message."""
    value = " ".join(value.split())
    return value if len(value) <= VALUE_MOST else value[: VALUE_MOST - 1] + "…"


# --- Slack -------------------------------------------------------------------------------


def slack_escaped(value: str) -> str:
    """Slack's three control characters as its entities: `<!channel>` and `<url|text>` show as typed."""
    return _folded(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(event: OwnerEvent) -> SlackMessage:
    """Slack incoming-webhook JSON: `text` for notifications, Block Kit for the message."""
    text = slack_escaped(headline(event))
    blocks: list[SlackBlock] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}}]
    if event.action == "trigger":
        facts = {
            "Severity": _severities(event),
            "Oldest open": _oldest(event),
            "Money at stake": _money(event),
        }
        blocks.append(
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in facts.items()]}
        )
        kinds = [
            f"*{k.new} new, {k.open} open: {slack_escaped(k.title)}* (`{k.kind}`, {k.severity})\n{slack_escaped(k.fix)}"
            for k in event.by_kind
        ]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(kinds)}})
        if event.examples:
            lines = [
                f"• order {slack_escaped(e.order_number or '?')} {slack_escaped(e.sku)}: {slack_escaped(e.message)}"
                for e in event.examples
            ]
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    if event.dashboard_url:
        link = f"<{slack_escaped(event.dashboard_url)}|Open {event.owner}'s exceptions on the dashboard>"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": link}]})
    return {"text": text, "blocks": blocks}


# --- Microsoft Teams ---------------------------------------------------------------------

# Markdown's emphasis, code, links and HTML; a list only where one can start (at the start, before a space).
_MARKDOWN = re.compile(r"([\\`*_\[\]<>])")
_LIST_START = re.compile(r"^(\d+)\.(?=\s)|^([-+])(?=\s)")


def teams_escaped(value: str) -> str:
    """Markdown's characters escaped: a value shows as typed in an Adaptive Card TextBlock."""
    escaped = _MARKDOWN.sub(r"\\\1", _folded(value))
    return _LIST_START.sub(lambda m: f"{m[1]}\\." if m[1] else f"\\{m[2]}", escaped)


def teams(event: OwnerEvent) -> TeamsMessage:
    """A Teams Workflows webhook message holding one Adaptive Card."""
    body: list[TeamsElement] = [
        {
            "type": "TextBlock",
            "text": teams_escaped(headline(event)),
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
            "color": "Good" if event.action == "resolve" else "Attention",
        }
    ]
    facts = {"Client": event.client, "Environment": event.environment, "Owner": event.owner}
    if event.action == "trigger":
        facts |= {
            "Severity": _severities(event),
            "Oldest open": _oldest(event),
            "Money at stake": _money(event),
        }
    body.append({"type": "FactSet", "facts": [{"title": k, "value": teams_escaped(v)} for k, v in facts.items()]})
    for k in event.by_kind:
        body.append(
            {
                "type": "TextBlock",
                "text": f"**{k.new} new, {k.open} open: {teams_escaped(k.title)}** ({teams_escaped(k.kind)}, "
                f"{k.severity})\n\n{teams_escaped(k.fix)}",
                "wrap": True,
            }
        )
    for e in event.examples:
        line = f"order {e.order_number or '?'} {e.sku}: {e.message}"
        body.append({"type": "TextBlock", "text": teams_escaped(line), "wrap": True, "isSubtle": True})
    card: AdaptiveCard = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    if event.dashboard_url:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": f"Open {event.owner}'s exceptions", "url": event.dashboard_url}
        ]
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


# --- PagerDuty Events v2 -----------------------------------------------------------------


def dedup_key(event: OwnerEvent) -> str:
    """One incident per client, environment and owner: later triggers add to it, a resolve closes it."""
    return f"reveni-khaos/{event.client}/{event.environment}/{event.owner}"


def pagerduty(event: OwnerEvent, routing_key: str) -> PagerDutyEvent:
    """An Events API v2 `trigger` or `resolve` for https://events.pagerduty.com/v2/enqueue."""
    if event.action == "resolve":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key(event)}
    summary = " ".join(f"{headline(event)}; at stake {_money(event)}".split())
    details = as_json(event)
    details.pop("schema")
    built: PagerDutyEvent = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(event),
        "payload": {
            "summary": summary[:SUMMARY_MOST],
            "source": f"reveni-khaos/{event.client}/{event.environment}",
            "severity": PAGERDUTY_SEVERITY.get(event.severity, "error"),
            "component": event.owner,
            "group": event.client,
            "class": "exceptions",
            "custom_details": details,
        },
        "client": "reveni-khaos",
    }
    if event.dashboard_url:
        built["client_url"] = event.dashboard_url
        built["links"] = [{"href": event.dashboard_url, "text": f"{event.owner}'s open exceptions"}]
    return built
