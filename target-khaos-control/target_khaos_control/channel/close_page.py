"""The dashboard's month-end close: `/dashboard/close?period=2026-11`, the same figures as
`reveni-khaos close` (as of the period's end, from the credit notes the store keeps from
the last reconciliation or close), and a list of returns per gap type.

Served inside the dashboard's login and security headers (dashboard.py mounts it).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import Response

from target_khaos_control.channel.pages import client_rules
from target_khaos_control.channel.pages import page as _page
from target_khaos_control.channel.pages import refused as _refused
from target_khaos_control.channel.reader_process import page_apart
from target_khaos_control.operations.month_end import AWAITING, Close, Period, close_period
from target_khaos_control.operations.month_end_export import total_rows
from target_khaos_control.served_marks import settled_first

GAP_NAMES = {AWAITING: "paid, within Khaos's time (no credit note yet)"}


class ClosePages:
    """The close of a period, and its returns per gap type."""

    def __init__(self, engine: Engine, rules_path: str = "") -> None:
        """Close periods of this store; the client's rules give the VAT rates of its Khaos tax codes."""
        self.engine, self.rules_path = engine, rules_path

    async def period(self, request: Request) -> Response:
        """The month-end close page for the period asked for (last month by default)."""
        try:
            period = Period.parse(request.query_params.get("period") or _last_month())
        except ValueError as error:
            return _refused(str(error).replace("--period", "period"))
        return await page_apart(self.engine, _period_page, period, self.rules_path)

    async def gap(self, request: Request) -> Response:
        """The returns of one gap type in a period's close."""
        try:
            period = Period.parse(request.path_params["period"])
        except ValueError as error:
            return _refused(str(error).replace("--period", "period"))
        return await page_apart(self.engine, _gap_page, period, self.rules_path, request.path_params["gap"])


# Made apart from the channel (reader_process): a close reads every return of its period.
def _period_page(engine: Engine, period: Period, rules_path: str) -> Response:
    close = _close(engine, period, rules_path)
    rows = [
        {"currency": c, "method": m, "figure": f, "count": n, "amount": a, "oldest": o, "gap": f[5:]}
        for c, m, f, n, a, o in total_rows(close)
    ]
    return _page(
        "close.html",
        f"Month-end close {period.name}",
        close=close,
        rows=rows,
        previous=_shifted(period, -1),
        following=_shifted(period, 1),
    )


def _gap_page(engine: Engine, period: Period, rules_path: str, gap: str) -> Response:
    return _page(
        "close_gap.html",
        f"{gap} at the end of {period.name}",
        period=period,
        gap=gap,
        meaning=GAP_NAMES.get(gap, ""),
        entries=_close(engine, period, rules_path).returns_with(gap),
    )


def _close(engine: Engine, period: Period, rules_path: str) -> Close:
    """The period's close; the client's rules give the VAT rates of its Khaos tax codes."""
    rules = client_rules(rules_path)
    settled_first(engine)  # what Khaos was served by the period's end
    with engine.connect() as conn:
        return close_period(conn, period, tax_rates=rules.tax_code_rates if rules else {})


def _last_month() -> str:
    today = datetime.now(UTC)
    return f"{today.year - (today.month == 1)}-{(today.month - 2) % 12 + 1:02d}"


def _shifted(period: Period, months: int) -> str:
    index = period.start.year * 12 + period.start.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"
