"""The reconciliation's gaps are a typed `Gap`, written exactly as finance reads them.

Given the gap names finance knows from the reports and docs/finance.md (written here by
hand), expect `Gap` to hold exactly those, each to raise its exception, each to have its
row in finance's page, and the reports to print the plain name, never `Gap.X`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal
from pathlib import Path

from target_khaos_control.exception_kinds import Kind
from target_khaos_control.operations.reconciliation import GAP_EXCEPTIONS, Gap, Report, ReturnLine, gap_problems

ROOT = Path(__file__).resolve().parent.parent
FINANCE_GAP_NAMES = {
    "refunded_not_sent",
    "not_pulled",
    "not_confirmed",
    "import_failed",
    "refund_without_credit_note",
    "credit_note_without_refund",
    "amount_difference",
    "currency_mismatch",
    "duplicate_credit_note",
    "credit_note_vat_split",
}


def a_line(*gaps: Gap) -> ReturnLine:
    """A GBP return refunded 52.50 and credited 50.00 (credit note CN-1), with these gaps."""
    return ReturnLine(
        "ret-1",
        "#1001",
        "GBP",
        Decimal("52.50"),
        "2026-11-02T10:00:00+00:00",
        ["sent"],
        "2026-11-02T11:00:00+00:00",
        ["CN-1"],
        Decimal("50.00"),
        gaps=list(gaps),
        age_days=3,
    )


def test_the_gaps_are_the_names_finance_reads() -> None:
    assert {gap.value for gap in Gap} == FINANCE_GAP_NAMES


def test_every_gap_raises_an_exception() -> None:
    assert set(GAP_EXCEPTIONS) == set(Gap)


def test_every_gap_has_its_row_in_finance_md() -> None:
    page = (ROOT / "docs" / "finance.md").read_text()
    section = page.split("## What each gap means, and what to do", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE))
    assert {gap.value for gap in Gap} <= rows


def test_a_gap_is_printed_and_stored_as_its_plain_name() -> None:
    # Given one return with two gaps
    report = Report("2026-11-05T09:00:00+00:00", [a_line(Gap.AMOUNT_DIFFERENCE, Gap.CURRENCY_MISMATCH)], [])
    # expect the JSON report to hold the names as text, as the summary's keys and in the line
    found = json.loads(report.as_json())
    assert found["summary"]["gaps"] == {"amount_difference": 1, "currency_mismatch": 1}
    assert found["gaps"][0]["gaps"] == ["amount_difference", "currency_mismatch"]
    # the CSV's gaps cell to be the names, space-separated
    [row] = list(csv.DictReader(io.StringIO(report.as_csv())))
    assert row["gaps"] == "amount_difference currency_mismatch"
    # and the table to list each by name
    assert "      1  amount_difference\n      1  currency_mismatch\n" in report.as_table()
    assert "Gap." not in report.as_table() + report.as_json() + report.as_csv()


def test_a_gap_still_matches_its_name_as_text() -> None:
    # A reader that holds a name as text (a dashboard path, a stored report) finds the gap.
    line = a_line(Gap.AMOUNT_DIFFERENCE)
    assert "amount_difference" in line.gaps
    assert GAP_EXCEPTIONS[Gap("amount_difference")][0] is Kind.AMOUNT_DIFFERENCE
    assert gap_problems(line) == [
        (
            Kind.AMOUNT_DIFFERENCE,
            "Reveni refunded 52.50 GBP; Khaos credited 50.00 GBP (CN-1): a difference of 2.50 GBP",
        )
    ]
