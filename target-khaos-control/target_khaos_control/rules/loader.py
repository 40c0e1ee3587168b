"""Read a rule set and refuse it, with every reason at once, before it touches a ledger.

First YAML (`yaml.safe_load`: no `!!python/...` tags), then the JSON Schema shipped
beside this module, then the meaning: every code a rule names exists in its table, every
template compiles and names only fields a return has, no rule is hidden behind an
earlier one, and every Reveni status, warehouse verdict and reason reaches a decision.
Each error reads `file:line:column: message`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from target_khaos_control.exception_kinds import KINDS, Routing
from target_khaos_control.rules import templates
from target_khaos_control.rules.engine import ReasonRule, RuleSet, TaxRule

SCHEMA = json.loads((Path(__file__).parent / "ruleset.schema.json").read_text())
STATUSES = ("in_progress", "shipped", "received", "for_review", "accepted", "partly_accepted", "rejected", "cancelled")
VERDICTS = ("pending", "accepted", "rejected")
PROCESSING = {
    "restock": "return_to_stock",
    "quarantine": "quarantine",
    "write_off": "write_off",
    "return_to_supplier": "return_to_supplier",
}
Path_ = tuple[str | int, ...]


class RuleSetError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def rules_file(path: str | Path) -> Path:
    """A client folder (its `rules.yml`) or the file itself."""
    path = Path(path)
    return path / "rules.yml" if path.is_dir() else path


@dataclass
class _Reader:
    file: Path
    positions: dict[Path_, tuple[int, int]]
    errors: list[str]

    def error(self, where: Path_, message: str, line_offset: int = 0) -> None:
        probe = where
        while probe and probe not in self.positions:
            probe = probe[:-1]
        line, column = self.positions.get(probe, (1, 1))
        self.errors.append(f"{self.file}:{line + line_offset}:{column}: {message}")


def load_ruleset(path: str | Path) -> RuleSet:
    file = rules_file(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise RuleSetError([f"{file}:1:1: cannot read the rule set ({error.strerror})"]) from None
    try:
        data = yaml.safe_load(text)
        positions = _positions(yaml.compose(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise RuleSetError([f"{file}:{line}:{column}: not valid rule-set YAML: {error.problem}"]) from None
    except yaml.YAMLError as error:
        raise RuleSetError([f"{file}:1:1: not valid YAML: {error}"]) from None
    reader = _Reader(file, positions, [])
    for problem in sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data), key=lambda e: list(e.path)):
        reader.error(tuple(problem.absolute_path), problem.message)
    if reader.errors:
        raise RuleSetError(reader.errors)
    ruleset = _build(reader, data)
    if reader.errors:
        raise RuleSetError(reader.errors)
    return ruleset


def _build(reader: _Reader, data: dict[str, Any]) -> RuleSet:
    khaos, env = data["khaos"], templates.environment()
    tables = {name: {str(k): str(v) for k, v in table.items()} for name, table in (data.get("tables") or {}).items()}

    def compiled(where: Path_, source: str, fields: dict[str, Any], condition: bool = False) -> Any:
        try:
            templates.check(env, source, fields, set(tables))
            return (templates.compile_condition if condition else templates.compile_text)(env, source)
        except templates.TemplateProblem as problem:
            reader.error(where, str(problem), problem.line - 1)
            return None

    reasons = [_reason_rule(reader, khaos, n, rule, compiled) for n, rule in enumerate(data["reasons"])]
    _check_shadowing(reader, data["reasons"])
    _check_reason_coverage(reader, data)
    tax_rules = _tax_rules(reader, data["tax"], khaos["tax_codes"])
    _check_sequencing(reader, data["sequencing"])
    overrides = data.get("exceptions") or {}
    for kind in overrides:
        if kind not in KINDS:
            reader.error(("exceptions", kind), f"unknown exception kind {kind!r}; known: {', '.join(KINDS)}")
    skus = data["skus"]
    if skus.get("discontinued") == "replace" and not skus.get("replacements"):
        reader.error(("skus", "discontinued"), "`discontinued: replace` needs `replacements`")
    refs = data["references"]
    return RuleSet(
        client=data["client"],
        content_hash=hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest(),
        reasons=reasons,
        tax_rules=tax_rules,
        gross_prices=data["tax"]["prices"] == "gross",
        rounding=data["tax"].get("rounding", "half_up"),
        tax_tolerance=Decimal(data["tax"].get("tolerance", "0.01")),
        sku_mapping=tuple(skus["mapping"]),
        aliases=dict(skus.get("aliases") or {}),
        apply_learned_renames=skus.get("learned_renames", "review") == "apply",
        replacements=dict(skus.get("replacements") or {}) if skus.get("discontinued") == "replace" else {},
        urn=compiled(("references", "urn"), refs["urn"], templates.RETURN),
        source_order_key=refs["source_order_key"],
        source_order=compiled(("references", "source_order"), refs["source_order"], templates.RETURN),
        notes=compiled(("references", "notes"), refs["notes"], templates.RETURN) if refs.get("notes") else None,
        sales_source=compiled(("references", "sales_source"), refs["sales_source"], templates.RETURN)
        if refs.get("sales_source")
        else None,
        brand=compiled(("references", "brand"), refs["brand"], templates.RETURN) if refs.get("brand") else None,
        publish_when=compiled(
            ("sequencing", "publish_when"), data["sequencing"]["publish_when"], templates.RETURN, condition=True
        )
        if data["sequencing"].get("publish_when")
        else None,
        tables=tables,
        statuses=data["sequencing"]["statuses"],
        verdicts=data["sequencing"]["verdicts"],
        process_when=compiled(
            ("sequencing", "process_when"), data["sequencing"]["process_when"], templates.RETURN, condition=True
        ),
        value_tolerance=Decimal(data["sequencing"].get("value_tolerance", "0.00")),
        hold_alert_days=int(data["sequencing"].get("hold_alert_days", 14)),
        routing=Routing({kind: route for kind, route in overrides.items() if kind in KINDS}),
        names_by=refs.get("names_by", "Name"),
        field_lengths=refs.get("field_lengths", "cut"),
    )


def _reason_rule(reader: _Reader, khaos: dict[str, Any], n: int, rule: dict[str, Any], compiled: Any) -> ReasonRule:
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
    site = rule.get("site") or (khaos_reason or {}).get("site")
    if site is not None and site not in khaos["sites"]:
        reader.error((*where, "site"), f"site {site!r} is not under khaos.sites")
    when = compiled((*where, "when"), rule["when"], templates.WITH_ITEM, condition=True) if "when" in rule else None
    return ReasonRule(
        _many(rule["reason"]),
        _many(rule.get("verdict")),
        _many(rule.get("reject_reason")),
        when,
        rule["khaos_reason"],
        rule["disposition"],
        site or "",
    )


def _many(value: str | list[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset([value] if isinstance(value, str) else value)


def _covers(earlier: frozenset[str] | None, later: frozenset[str] | None) -> bool:
    return earlier is None or (later is not None and later <= earlier)


def _check_shadowing(reader: _Reader, rules: list[dict[str, Any]]) -> None:
    for j, later in enumerate(rules):
        for i, earlier in enumerate(rules[:j]):
            if "when" in earlier:
                continue
            if all(_covers(_many(earlier.get(k)), _many(later.get(k))) for k in ("reason", "verdict", "reject_reason")):
                reader.error(
                    ("reasons", j),
                    f"this rule can never match: rule {i + 1} (line "
                    f"{reader.positions.get(('reasons', i), (0, 0))[0]}) matches everything it does",
                )
                break


def _check_reason_coverage(reader: _Reader, data: dict[str, Any]) -> None:
    credited = [v for v in VERDICTS if data["sequencing"]["verdicts"].get(v, "skip") != "skip"]
    codes = sorted({code for rule in data["reasons"] for code in _many(rule["reason"]) or ()})
    for code in codes:
        for verdict in credited:
            if not any(
                code in (_many(r["reason"]) or ())
                and _covers(_many(r.get("verdict")), frozenset([verdict]))
                and "when" not in r
                and "reject_reason" not in r
                for r in data["reasons"]
            ):
                reader.error(
                    ("reasons",),
                    f"reason {code!r} with verdict {verdict!r} reaches no decision: add a "
                    "rule for it without `when` or `reject_reason`",
                )


def _tax_rules(reader: _Reader, tax: dict[str, Any], tax_codes: dict[str, Any]) -> list[TaxRule]:
    rules: list[TaxRule] = []
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
        for m, earlier in enumerate(rules):
            if (
                earlier.rate == rule.rate
                and _covers(earlier.countries, rule.countries)
                and _covers(earlier.currencies, rule.currencies)
            ):
                reader.error(("tax", "rates", n), f"this rate can never match: tax.rates entry {m + 1} matches first")
        rules.append(rule)
    return rules


def _check_sequencing(reader: _Reader, sequencing: dict[str, Any]) -> None:
    for status in STATUSES:
        if status not in sequencing["statuses"]:
            reader.error(("sequencing", "statuses"), f"Reveni status {status!r} reaches no decision")
    for status in sequencing["statuses"]:
        if status not in STATUSES:
            reader.error(("sequencing", "statuses", status), f"{status!r} is not a Reveni status")
    for verdict in VERDICTS:
        if verdict not in sequencing["verdicts"]:
            reader.error(("sequencing", "verdicts"), f"warehouse verdict {verdict!r} reaches no decision")
    for verdict in sequencing["verdicts"]:
        if verdict not in VERDICTS:
            reader.error(("sequencing", "verdicts", verdict), f"{verdict!r} is not a warehouse verdict")
    if sequencing["verdicts"].get("rejected", "skip") != "skip":
        reader.error(("sequencing", "verdicts", "rejected"), "a rejected item is never credited: use `skip`")


def _positions(node: yaml.Node | None, path: Path_ = ()) -> dict[Path_, tuple[int, int]]:
    if node is None:
        return {}
    found = {path: (node.start_mark.line + 1, node.start_mark.column + 1)}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            found.update(_positions(value, (*path, str(key.value))))
    elif isinstance(node, yaml.SequenceNode):
        for index, value in enumerate(node.value):
            found.update(_positions(value, (*path, index)))
    return found
