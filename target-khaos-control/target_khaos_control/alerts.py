"""Alerts: new or worsened exceptions, posted to a webhook (Slack-compatible JSON).

One message per owner per run, grouped by type with counts and the first few records.
An exception already alerted is not sent again unless it worsened (it reopened, or its
severity rose). The post is retried with backoff; a webhook that keeps failing is
logged and never blocks or fails the load.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime
from typing import Any

import requests
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from target_khaos_control.exception_log import as_record
from target_khaos_control.states import ExceptionStatus
from target_khaos_control.store import exceptions

log = logging.getLogger("reveni_khaos.alerts")
SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}


def due(engine: Engine) -> list[Any]:
    """Open exceptions never alerted, reopened since, or now more severe."""
    table = exceptions.c
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(exceptions).where(table.status == ExceptionStatus.OPEN).order_by(table.trace_key)
        ).all()
    return [
        row
        for row in rows
        if row.alerted_status != ExceptionStatus.OPEN
        or SEVERITY_RANK.get(row.severity, 2) > SEVERITY_RANK.get(row.alerted_severity or "", -1)
    ]


def messages(rows: list[Any], first_few: int = 3) -> dict[str, dict[str, Any]]:
    by_owner: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        record = as_record(row)
        by_owner[record["owner"]][record["type"]].append(record)
    built = {}
    for owner, kinds in sorted(by_owner.items()):
        total = sum(len(records) for records in kinds.values())
        lines = []
        for kind, records in sorted(kinds.items()):
            lines.append(f"*{len(records)} x {kind}*: {records[0]['suggested_fix']}")
            lines += [f"  - order {r['order_number'] or '?'} {r['sku']}: {r['message']}" for r in records[:first_few]]
        text = f"reveni-khaos: {total} new exception(s) for {owner}"
        built[owner] = {
            "text": text,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": text}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}},
            ],
        }
    return built


def send(engine: Engine, url: str, *, attempts: int = 3, backoff_seconds: float = 1.0, timeout: float = 10) -> int:
    """Post what is due; mark what was delivered. Returns the number of messages sent."""
    rows = due(engine)
    sent = 0
    for owner, message in messages(rows).items():
        if _post(url, message, attempts, backoff_seconds, timeout):
            delivered = [row for row in rows if row.owner == owner]
            with engine.begin() as conn:
                for row in delivered:
                    conn.execute(
                        exceptions.update()
                        .where(exceptions.c.trace_key == row.trace_key)
                        .values(
                            alerted_status=ExceptionStatus.OPEN,
                            alerted_severity=row.severity,
                            alerted_at=datetime.now().astimezone(),
                        )
                    )
            sent += 1
    return sent


def _post(url: str, message: dict[str, Any], attempts: int, backoff_seconds: float, timeout: float) -> bool:
    for attempt in range(1, attempts + 1):
        try:
            response = requests.post(url, json=message, timeout=timeout)
            if response.status_code < 300:
                return True
            problem = f"HTTP {response.status_code}"
        except requests.RequestException as error:
            problem = type(error).__name__
        if attempt < attempts:
            time.sleep(backoff_seconds * 2 ** (attempt - 1))
    log.warning(
        "alert webhook failed after %d attempts (%s); the exceptions stay due for the next run", attempts, problem
    )
    return False
