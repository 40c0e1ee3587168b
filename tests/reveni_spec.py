"""What Reveni's API publishes (shared/spec/reveni-api.md), written here by hand once, for
tests to hold the typed return, the tap's schema and the sandbox to it."""

from __future__ import annotations

# A return's statuses, in the order a return moves through them.
STATUSES = (
    "in_progress",
    "shipped",
    "received",
    "for_review",
    "accepted",
    "partly_accepted",
    "rejected",
    "cancelled",
)
