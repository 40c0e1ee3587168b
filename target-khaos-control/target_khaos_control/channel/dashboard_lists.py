"""The dashboard's lists as people work them: search, sort, pages, and a CSV of any list.

A list is read whole from the store (the open exceptions of one client are hundreds, not
millions), then searched, sorted and cut into pages here, so the figures computed per
row (money at stake, age, the graded severity) sort like any stored column. A CSV holds
every row the list matches, not only the page shown.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.responses import Response

from target_khaos_control.channel.pages import page, refused
from target_khaos_control.exception_grade import age_days, grade, money_at_stake
from target_khaos_control.exception_log import ExceptionRecord, as_record

Row = TypeVar("Row", bound=Mapping[str, object])


class WorkedException(ExceptionRecord):
    """An exception as a list shows it: its record, the money at stake, its age, its grade."""

    amount: Decimal | None
    age_days: int | None
    stored_severity: str


class ResolvedException(WorkedException):
    """A resolved exception as its list shows it: who resolved it, when and why."""

    resolved_at: str
    resolved_by: str
    why: str


PER_PAGE = 50
SEVERITY_RANK = {"high": 2, "medium": 1, "low": 0}
# What a spreadsheet would run as a formula (OWASP's list): such a cell gets a leading `'`.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


class ListRefused(ValueError):
    """A search, sort or page a list cannot give, with the values it can."""


@dataclass(frozen=True)
class ListView:
    """What a person asked of a list: a search, a sort and a page (from the URL)."""

    search: str = ""
    sort: str = ""
    descending: bool = True
    page: int = 1

    @classmethod
    def from_query(cls, query: Mapping[str, str], sorts: Sequence[str]) -> ListView:
        """Read `q`, `sort`, `dir` and `page`, refusing what the list cannot do."""
        sort = query.get("sort", sorts[0])
        if sort not in sorts:
            raise ListRefused(f"No sort {sort[:40]!r}: sort by {', '.join(sorts)}.")
        direction = query.get("dir", "desc")
        if direction not in ("asc", "desc"):
            raise ListRefused(f"No direction {direction[:40]!r}: asc or desc.")
        page = query.get("page", "1")
        if not page.isascii() or not page.isdigit() or len(page) > 6 or int(page) < 1:
            raise ListRefused(f"No page {page[:40]!r}: pages are numbered from 1.")
        return cls(" ".join(query.get("q", "").split())[:200], sort, direction == "desc", int(page))

    def apply(self, rows: Sequence[Row], searched: Sequence[str]) -> list[Row]:
        """The rows the search matches (any of the `searched` fields, any case), sorted."""
        words = self.search.casefold().split()
        if words:
            rows = [
                row for row in rows if all(any(w in str(row.get(f) or "").casefold() for f in searched) for w in words)
            ]
        # Empty values last whichever way: a row with no amount is no cheaper than one with.
        present = [row for row in rows if row.get(self.sort) not in (None, "")]
        absent = [row for row in rows if row.get(self.sort) in (None, "")]
        key = _urgency if self.sort == "severity" else lambda row: _sortable(row[self.sort])
        return sorted(present, key=key, reverse=self.descending) + absent

    def paged(self, rows: Sequence[Row]) -> tuple[Sequence[Row], int]:
        """This view's page of `rows`, and how many pages there are."""
        pages = max(1, -(-len(rows) // PER_PAGE))
        if self.page > pages:
            raise ListRefused(f"No page {self.page}: this list has {pages}.")
        return rows[(self.page - 1) * PER_PAGE : self.page * PER_PAGE], pages

    def link(self, filters: Mapping[str, str], **changes: Any) -> str:
        """The query string of this view with `changes` (a page, a sort), filters kept."""
        values: dict[str, object] = {
            **{name: value for name, value in filters.items() if value},
            "q": self.search,
            "sort": self.sort,
            "dir": "desc" if self.descending else "asc",
            "page": self.page,
            **changes,
        }
        return urlencode({name: value for name, value in values.items() if value not in ("", None)})


def _urgency(row: Mapping[str, object]) -> tuple[int, Decimal, int]:
    """By severity (one no one knows ranks lowest), then the money at stake, then the age."""
    amount, age = row.get("amount"), row.get("age_days")
    return (
        SEVERITY_RANK.get(str(row["severity"]), -1),
        amount if isinstance(amount, Decimal) else Decimal(0),
        age if isinstance(age, int) else 0,
    )


def _sortable(value: object) -> str | Decimal | int:
    """A list's column as it sorts: text, money and counts as they are, anything else as text."""
    return value if isinstance(value, str | Decimal | int) else str(value)


def worked(row: Any, moment: datetime) -> WorkedException:
    """One `exceptions` row as a list shows it: its record, plus the money at stake, its
    currency, its age in days and the severity graded by them."""
    record = as_record(row)
    try:
        details = json.loads(row.details or "{}")
    except ValueError:
        details = {}
    at_stake = money_at_stake(details) if isinstance(details, dict) else None
    age = age_days(row.first_seen, moment)
    return {
        **record,
        "amount": at_stake,
        "age_days": age,
        "severity": grade(row.kind, row.severity, at_stake, age),
        "stored_severity": row.severity,
    }


def list_page(
    view: ListView,
    matching: Sequence[Mapping[str, object]],
    *,
    as_csv: bool,
    export: tuple[str, Sequence[tuple[str, str]]],
    template: str,
    title: str,
    **values: Any,
) -> Response:
    """Every row `matching` as a CSV (`export`: its file name and columns) when `as_csv`,
    else this view's page of them."""
    if as_csv:
        return csv_response(*export, matching)
    try:
        shown, pages = view.paged(matching)
    except ListRefused as error:
        return refused(str(error))
    return page(template, title, records=shown, matching=len(matching), view=view, pages=pages, **values)


def csv_response(name: str, columns: Sequence[tuple[str, str]], rows: Iterable[Mapping[str, object]]) -> Response:
    """`rows` as a CSV file to download, one column per (heading, field)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([heading for heading, _ in columns])
    for row in rows:
        writer.writerow([inert(row.get(field)) for _, field in columns])
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def inert(value: Any) -> str:
    """A cell a spreadsheet shows as text: what would start a formula is quoted with `'`;
    a number (a negative amount, say) stays a number."""
    if value is None:
        return ""
    text = str(value)
    if (isinstance(value, int | Decimal) and not isinstance(value, bool)) or NUMBER.fullmatch(text):
        return text
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text
