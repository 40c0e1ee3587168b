"""The states a Khaos document and an exception go through, and which may follow which.

The rule that keeps money right is written here once: a document Khaos has pulled
(`SENT`) never becomes open again, so it never changes; what Khaos has not pulled may be
updated, held back or withdrawn. `publishing` checks every change it makes against
`NEXT`; the channel's feed only ever moves a document along `may_become`.
"""

from __future__ import annotations

from enum import StrEnum


class DocumentState(StrEnum):
    """Where a Khaos document is on its way to Khaos."""

    HELD = "held"  # made, but held back by its exceptions or by the rules
    PUBLISHED = "published"  # in the feed, waiting for Khaos to pull it
    SERVED = "served"  # Khaos pulled it: it never changes again
    RE_REQUESTED = "re_requested"  # Khaos asked for it by SpecificIDs: its import failed there
    SUPERSEDED = "superseded"  # withdrawn before Khaos pulled it (cancelled, or nothing left to send)


HELD, PUBLISHED, SERVED, RE_REQUESTED, SUPERSEDED = DocumentState

UNSENT = frozenset({HELD, PUBLISHED})  # not pulled yet: may still change (an open exception is ExceptionStatus.OPEN)
SENT = frozenset({SERVED, RE_REQUESTED})  # Khaos has it: it must not change
SERVABLE = frozenset({PUBLISHED, SERVED, RE_REQUESTED})  # what a pull may hand Khaos

NEXT: dict[DocumentState, frozenset[DocumentState]] = {
    HELD: frozenset({HELD, PUBLISHED, SUPERSEDED}),
    PUBLISHED: frozenset({HELD, PUBLISHED, SUPERSEDED, SERVED, RE_REQUESTED}),
    SERVED: frozenset({SERVED, RE_REQUESTED}),
    RE_REQUESTED: frozenset({RE_REQUESTED}),  # a later plain pull leaves Khaos's failure on record
    SUPERSEDED: frozenset({SUPERSEDED}),  # what follows goes in a new document
}


class StateError(RuntimeError):
    """A change the rules above forbid: a bug, never something a client can cause."""


def check(old: str, new: DocumentState) -> DocumentState:
    """`new`, if a document that is `old` may become it; otherwise a StateError."""
    if new not in NEXT[DocumentState(old)]:
        raise StateError(f"a document that is {old} never becomes {new}")
    return new


def may_become(new: DocumentState) -> frozenset[DocumentState]:
    """Every state a document may be in for a change to `new` to apply."""
    return frozenset(old for old, allowed in NEXT.items() if new in allowed)


class ExceptionStatus(StrEnum):
    """Whether an exception is still to be fixed."""

    OPEN = "open"  # found, and not fixed yet
    RESOLVED = "resolved"  # the problem has gone (its item went through, the gap closed), or a person resolved it
