"""What the rules did with each item of a return (`Draft.outcomes`): a line for Khaos, an
exception a person must fix first, or skipped (its warehouse verdict credits nothing, yet).

Stored as text (`line`, `exception:<kind>`, `skip:<verdict>`) because golden cases and
`rules test` show it; it is made and read only here, so a misspelt word is a mypy error.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from functools import cache

from target_khaos_control.exception_kinds import Kind


class ItemOutcome(StrEnum):
    """The first word of an item's outcome."""

    LINE = "line"  # a line of the document: Khaos credits it
    EXCEPTION = "exception"  # `exception:<kind>`: it waits on that exception
    SKIP = "skip"  # `skip:<verdict>`: the rules credit nothing for that verdict

    @classmethod
    def of(cls, outcome: str) -> ItemOutcome:
        """The word an item's outcome starts with."""
        word = outcome.partition(":")[0]
        return _BY_WORD.get(word) or cls(word)  # looked up without the enum's call; an unknown word raises


_BY_WORD = {member.value: member for member in ItemOutcome}


@cache  # one text per kind: an enum member is formatted slowly, and there are few kinds
def waits_on(kind: Kind) -> str:
    """The outcome of an item kept from Khaos by an exception of this kind."""
    return f"{ItemOutcome.EXCEPTION}:{kind}"


_SKIP = f"{ItemOutcome.SKIP}:"  # the enum member formatted once, not for each skipped item


@cache  # one text per warehouse verdict: there are three
def skipped(verdict: str) -> str:
    """The outcome of an item whose warehouse verdict the rules do not credit."""
    return f"{_SKIP}{verdict}"


UNGRADED = skipped("pending")  # the warehouse has not graded the item yet


def waiting_items(outcomes: Iterable[str]) -> int:
    """How many items wait on an exception."""
    return sum(1 for outcome in outcomes if ItemOutcome.of(outcome) is ItemOutcome.EXCEPTION)


def ungraded_items(outcomes: Iterable[str]) -> int:
    """How many items the warehouse has not graded yet."""
    return sum(1 for outcome in outcomes if outcome == UNGRADED)
