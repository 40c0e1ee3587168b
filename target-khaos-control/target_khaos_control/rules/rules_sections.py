"""The meaning of each section of a rule set, checked and built into the engine's rules."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from target_khaos_control.exception_kinds import KINDS
from target_khaos_control.reveni import STATUSES, VERDICTS
from target_khaos_control.rules import templates
from target_khaos_control.rules.engine import Deduction, TaxRule
from target_khaos_control.rules.reason_rules import ReasonRule
from target_khaos_control.rules.rules_document import (
    Deductions,
    Khaos,
    ReasonEntry,
    RulesDocument,
    Sequencing,
    Skus,
    Tax,
    TaxCode,
)
from target_khaos_control.rules.rules_file import Path_, _Reader
from target_khaos_control.rules.template_context import Variables

# Compiles the template at a place in the file, for the fields it may read: a condition
# (`condition=True`) or a text; None where it failed to (the reader has the error).
Compile = Callable[..., Callable[[Variables], Any] | None]

PROCESSING = {
    "restock": "return_to_stock",
    "quarantine": "quarantine",
    "write_off": "write_off",
    "return_to_supplier": "return_to_supplier",
}


def _tables(data: RulesDocument) -> dict[str, dict[str, str]]:
    return {name: {str(k): str(v) for k, v in table.items()} for name, table in (data.get("tables") or {}).items()}


def _check_exceptions(reader: _Reader, data: RulesDocument) -> None:
    for kind in data.get("exceptions") or {}:
        if kind not in KINDS:
            reader.error(("exceptions", kind), f"unknown exception kind {kind!r}; known: {', '.join(KINDS)}")


def _check_skus(reader: _Reader, skus: Skus) -> None:
    if skus.get("discontinued") == "replace" and not skus.get("replacements"):
        reader.error(("skus", "discontinued"), "`discontinued: replace` needs `replacements`")


def _reason_rule(reader: _Reader, khaos: Khaos, n: int, rule: ReasonEntry, compiled: Compile) -> ReasonRule:
    where: Path_ = ("reasons", n)
    khaos_reason = khaos["return_reasons"].get(rule["khaos_reason"])
    if khaos_reason is None:
        reader.error(
            (*where, "khaos_reason"), f"Khaos return reason {rule['khaos_reason']!r} is not under khaos.return_reasons"
        )
    elif khaos_reason["processing"] != PROCESSING[rule["disposition"]]:
        reader.error(
            (*where, "disposition"),
            f"disposition {rule['disposition']!r} contradicts Khaos reason "
            f"{rule['khaos_reason']!r}, which Khaos processes as {khaos_reason['processing']!r}",
        )
    site = rule.get("site") or (khaos_reason.get("site") if khaos_reason else None)
    if site is not None and site not in khaos["sites"]:
        reader.error((*where, "site"), f"site {site!r} is not under khaos.sites")
    when = compiled((*where, "when"), templates.WITH_ITEM, condition=True) if "when" in rule else None
    return ReasonRule(
        _many(rule["reason"]),
        _many(rule.get("verdict")),
        _many(rule.get("reject_reason")),
        when,
        rule["khaos_reason"],
        rule["disposition"],
        site or "",
    )


def _deduction(reader: _Reader, fields: Deductions | None, khaos: Khaos) -> Deduction | None:
    if fields is None:
        return None
    if fields["khaos_reason"] not in khaos["return_reasons"]:
        reader.error(
            ("deductions", "khaos_reason"),
            f"Khaos return reason {fields['khaos_reason']!r} is not under khaos.return_reasons",
        )
    if fields["tax_code"] not in khaos["tax_codes"]:
        reader.error(("deductions", "tax_code"), f"tax code {fields['tax_code']!r} is not under khaos.tax_codes")
    return Deduction(fields["stock_code"], fields["khaos_reason"], fields["tax_code"])


def _many(value: str | list[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset([value] if isinstance(value, str) else value)


def _covers(earlier: frozenset[str] | None, later: frozenset[str] | None) -> bool:
    return earlier is None or (later is not None and later <= earlier)


def _check_shadowing(reader: _Reader, rules: list[ReasonEntry]) -> None:
    """A rule an earlier one without `when` matches whole can never match. Earlier rules are
    looked up by each reason they name, so this stays near linear in the number of rules."""
    catch_all: list[int] = []  # earlier rules without `when` matching any reason
    by_reason: dict[str, list[int]] = {}  # earlier rules without `when`, by each reason they name
    sets = [(_many(rule["reason"]), _many(rule.get("verdict")), _many(rule.get("reject_reason"))) for rule in rules]
    for j, rule in enumerate(rules):
        reasons = sets[j][0]
        candidates = catch_all + (by_reason.get(min(reasons), []) if reasons else [])
        earlier = min(
            (i for i in candidates if all(_covers(a, b) for a, b in zip(sets[i], sets[j], strict=True))), default=None
        )
        if earlier is not None:
            reader.error(
                ("reasons", j),
                f"this rule can never match: rule {earlier + 1} (line "
                f"{reader.positions.get(('reasons', earlier), (0, 0))[0]}) matches everything it does",
            )
        if "when" not in rule:
            if reasons is None:
                catch_all.append(j)
            else:
                for code in reasons:
                    by_reason.setdefault(code, []).append(j)


def _check_reason_coverage(reader: _Reader, data: RulesDocument) -> None:
    credited = [v for v in VERDICTS if data["sequencing"]["verdicts"].get(v, "skip") != "skip"]
    decided: dict[str, set[str]] = {}  # reason -> the verdicts a rule without conditions decides
    for rule in data["reasons"]:
        if "when" in rule or "reject_reason" in rule:
            continue
        verdicts = _many(rule.get("verdict"))
        for code in _many(rule["reason"]) or ():
            decided.setdefault(code, set()).update(VERDICTS if verdicts is None else verdicts)
    codes = sorted({code for rule in data["reasons"] for code in _many(rule["reason"]) or ()})
    for code in codes:
        for verdict in credited:
            if verdict not in decided.get(code, set()):
                reader.error(
                    ("reasons",),
                    f"reason {code!r} with verdict {verdict!r} reaches no decision: add a "
                    "rule for it without `when` or `reject_reason`",
                )


def _tax_rules(reader: _Reader, tax: Tax, tax_codes: dict[str, TaxCode]) -> list[TaxRule]:
    rules: list[TaxRule] = []
    same_rate: dict[Decimal, list[int]] = {}
    for n, rate in enumerate(tax["rates"]):
        code = tax_codes.get(rate["code"])
        if code is None:
            reader.error(("tax", "rates", n, "code"), f"tax code {rate['code']!r} is not under khaos.tax_codes")
        elif Decimal(code["rate"]) != Decimal(rate["rate"]):
            reader.error(
                ("tax", "rates", n, "rate"),
                f"rate {rate['rate']}% maps to Khaos tax code {rate['code']!r}, which is {code['rate']}%",
            )
        rule = TaxRule(Decimal(rate["rate"]), _many(rate.get("country")), _many(rate.get("currency")), rate["code"])
        for m in same_rate.get(rule.rate, []):  # only entries of the same rate can hide this one
            earlier = rules[m]
            if _covers(earlier.countries, rule.countries) and _covers(earlier.currencies, rule.currencies):
                reader.error(("tax", "rates", n), f"this rate can never match: tax.rates entry {m + 1} matches first")
        same_rate.setdefault(rule.rate, []).append(len(rules))
        rules.append(rule)
    return rules


def _check_sequencing(reader: _Reader, sequencing: Sequencing) -> None:
    for section, decided, known, what in (
        ("statuses", sequencing["statuses"], STATUSES, "Reveni status"),
        ("verdicts", sequencing["verdicts"], VERDICTS, "warehouse verdict"),
    ):
        for name in known:
            if name not in decided:
                reader.error(("sequencing", section), f"{what} {name!r} reaches no decision")
        for name in decided:
            if name not in known:
                reader.error(("sequencing", section, name), f"{name!r} is not a {what}")
    if sequencing["verdicts"].get("rejected", "skip") != "skip":
        reader.error(("sequencing", "verdicts", "rejected"), "a rejected item is never credited: use `skip`")
