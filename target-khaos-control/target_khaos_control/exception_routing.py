"""Who owns each exception kind and how urgent it is, for one client: the `Kind` enum's
defaults with the overrides of the client's `rules.yml` (its `exceptions:` section) on top."""

from __future__ import annotations

from collections.abc import Mapping

from target_khaos_control.exception_kinds import Kind, kind


class Routing:
    """Who owns each kind and how urgent it is, for one client: the registry's defaults
    with the client's overrides on top."""

    def __init__(self, overrides: Mapping[str, Mapping[str, str]] | None = None) -> None:
        """The registry's routing with a client's overrides; an override of an unknown kind is refused."""
        self.overrides = {name: dict(route) for name, route in (overrides or {}).items()}
        for name in self.overrides:
            kind(name)

    def owner(self, kind: Kind) -> str:
        """Who owns this kind for the client."""
        return str(self.overrides.get(kind, {}).get("owner") or kind.owner)

    def severity(self, kind: Kind) -> str:
        """How urgent this kind is for the client."""
        return str(self.overrides.get(kind, {}).get("severity") or kind.severity)

    def route(self, kind: Kind) -> tuple[str, str]:
        """The kind's owner and severity for the client."""
        if not self.overrides.get(kind):  # most kinds: the registry's own (read per exception a draft finds)
            return str(kind.owner), str(kind.severity)
        return self.owner(kind), self.severity(kind)
