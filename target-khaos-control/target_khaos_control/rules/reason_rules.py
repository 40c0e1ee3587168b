"""How a Reveni reason, with the warehouse's verdict, becomes a Khaos reason and disposition:
the rules of `reasons:`, indexed once as loaded, and the first one each item matches."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from msgspec import UNSET

from target_khaos_control.documents import Problem
from target_khaos_control.exception_kinds import Kind
from target_khaos_control.reveni import ReturnItem, sent
from target_khaos_control.rules.template_context import Variables
from target_khaos_control.rules.templates import TemplateFailed

if TYPE_CHECKING:
    from target_khaos_control.rules.engine import RuleSet


@dataclass(frozen=True)
class ReasonRule:
    """One entry of `reasons:`: which items it matches, and the Khaos reason and disposition they get."""

    reasons: frozenset[str] | None
    verdicts: frozenset[str] | None
    reject_reasons: frozenset[str] | None
    when: Callable[[Variables], bool] | None
    khaos_reason: str
    disposition: str
    site: str

    def matches(self, item: ReturnItem, variables: Variables) -> bool:
        """Whether this item, with the return's variables, meets every condition the rule gives."""
        return (
            (self.reasons is None or reason_code(item) in self.reasons)
            and (self.verdicts is None or item.status in self.verdicts)
            and (self.reject_reasons is None or item.reject_reason in self.reject_reasons)
            and (self.when is None or self.when({**variables, "item": item}))
        )

    def meets(self, item: ReturnItem, with_item: Variables) -> bool:
        """`matches` for an item whose reason this rule names: the verdict, the reject reason
        and `when`, given the return's variables with `item` in them."""
        return (
            (self.verdicts is None or item.status in self.verdicts)
            and (self.reject_reasons is None or item.reject_reason in self.reject_reasons)
            and (self.when is None or self.when(with_item))
        )


def by_reason(rules: list[ReasonRule]) -> dict[str, tuple[ReasonRule, ...]] | None:
    """The rules naming each reason code, in the rules' order (so the first match is the
    same); None when a rule names no reason (it would match every code) or there is none."""
    if not rules or any(rule.reasons is None for rule in rules):
        return None
    codes = {code for rule in rules for code in rule.reasons or ()}
    return {code: tuple(rule for rule in rules if rule.reasons and code in rule.reasons) for code in codes}


def reason_code(item: ReturnItem) -> str | None:
    """The item's Reveni reason code (null reads None): an item without a reason cannot be read."""
    reason = item.return_reason
    if reason:  # read for each rule an item is matched against: kept to one call
        code = reason.code
        if code is not UNSET:
            return code
    raise KeyError("code" if reason else "return_reason")


def certain(indexed: dict[str, tuple[ReasonRule, ...]] | None) -> dict[str, ReasonRule]:
    """The rule every item of a reason code matches, for each code whose first rule (of
    `by_reason`) has no verdict, reject reason or `when`: the first match, with nothing to try."""
    return {
        code: named[0]
        for code, named in (indexed or {}).items()
        if named[0].verdicts is None and named[0].reject_reasons is None and named[0].when is None
    }


class ReasonMatching:
    """The reason side of one return's evaluation: the rule each item matches, or the exception."""

    rules: RuleSet

    def _matching(self, item: ReturnItem, variables: Variables) -> tuple[ReasonRule | None, TemplateFailed | None]:
        """The first reason rule the item matches (the Khaos reason and disposition it gets), or
        None; or the rules' template that failed on the way, kept for the item's outcome."""
        try:
            return self._first_match(item, variables), None
        except TemplateFailed as failed:  # the rules' fault; the item's own outcome reports it if it matters
            return None, failed

    def _first_match(self, item: ReturnItem, variables: Variables) -> ReasonRule | None:
        indexed = self.rules.reasons_by_code
        if indexed is None:  # a rule matching any reason: each rule in turn
            return next((r for r in self.rules.reasons if r.matches(item, variables)), None)
        code = reason_code(item)
        found = self.rules.certain_reasons.get(code)  # type: ignore[arg-type]  # None names no rule
        if found is not None:  # most items: their reason's first rule has no condition to try
            return found
        with_item = variables  # the item joins them for the first `when`: made once, and never without one
        for rule in indexed.get(code, ()):  # type: ignore[arg-type]  # None names no rule
            if rule.when is not None and with_item is variables:
                with_item = {**variables, "item": item}
            if rule.meets(item, with_item):
                return rule
        return None

    def _reason(self, item: ReturnItem, rule: ReasonRule | None, failed: TemplateFailed | None) -> Problem | None:
        code = reason_code(item)  # an item without a reason is unreadable, before any template's failure
        if failed is not None:
            raise failed
        if rule is not None:
            return None
        if any(r.reasons is None or code in r.reasons for r in self.rules.reasons):
            return Problem(
                Kind.UNMAPPED_DISPOSITION,
                "",
                f"Reason {code!r} with verdict {sent(item.status)!r} "
                f"(reject reason {sent(item.reject_reason)!r}) matches no rule",
            )
        return Problem(
            Kind.UNKNOWN_REASON,
            "",
            f"Return reason {code!r} is not in the rules: decide its Khaos reason and disposition",
        )
