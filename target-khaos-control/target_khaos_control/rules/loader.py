"""Read a rule set and refuse it, with every reason at once, before it touches a ledger.

First YAML (libyaml's safe loader: no `!!python/...` tags), then the JSON Schema shipped
beside this module, then the meaning: every code a rule names exists in its table, every
template compiles and names only fields a return has, no rule is hidden behind an
earlier one, and every Reveni status, warehouse verdict and reason reaches a decision.
Each error reads `file:line:column: message`, in a consultant's words, at the line of
the mistake, and all of them come in one pass, sorted by line.

A rule file may be wrong or hostile, so reading one is bounded: a regular file (never a
FIFO or a device, which would block or never end), at most MAX_BYTES, at most MAX_NODES
values once YAML's aliases are expanded (an alias "bomb" of a few lines otherwise expands
to gigabytes before any check sees it), at most MAX_REASON_RULES reason rules and
MAX_TAX_RATES tax rates (docs/consultant.md), counted before any other check; every check
after that is linear in the size of the file.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from target_khaos_control.exception_kinds import KINDS
from target_khaos_control.exception_routing import Routing
from target_khaos_control.money import Pricing
from target_khaos_control.reveni import STATUSES as STATUSES
from target_khaos_control.reveni import VERDICTS as VERDICTS
from target_khaos_control.rules import templates
from target_khaos_control.rules.engine import RuleSet
from target_khaos_control.rules.reason_rules import ReasonRule
from target_khaos_control.rules.rules_document import ReasonEntry, RulesDocument
from target_khaos_control.rules.rules_file import MAX_BYTES as MAX_BYTES
from target_khaos_control.rules.rules_file import MAX_NODES as MAX_NODES
from target_khaos_control.rules.rules_file import Path_, _positions, _read_yaml, _Reader
from target_khaos_control.rules.rules_file import RuleSetError as RuleSetError
from target_khaos_control.rules.rules_file import rules_file as rules_file
from target_khaos_control.rules.rules_schema import SCHEMA as SCHEMA
from target_khaos_control.rules.rules_schema import _check_schema
from target_khaos_control.rules.rules_sections import PROCESSING as PROCESSING
from target_khaos_control.rules.rules_sections import (
    _check_exceptions,
    _check_reason_coverage,
    _check_sequencing,
    _check_shadowing,
    _check_skus,
    _deduction,
    _reason_rule,
    _tables,
    _tax_rules,
)
from target_khaos_control.rules.template_checks import Fields
from target_khaos_control.rules.template_context import read_by

MAX_REASON_RULES = 2_000  # a client has tens; checked in well under a second
MAX_TAX_RATES = 1_000


def load_ruleset(path: str | Path) -> RuleSet:
    """Load a client's rule set (its folder or `rules.yml`), or refuse it with every error at file:line:column."""
    file = rules_file(path)
    data, node = _read_yaml(file)
    _check_size(file, data)
    reader = _Reader(file, *_positions(node))
    _check_schema(reader, data)
    if not isinstance(data, dict):
        raise RuleSetError(reader.errors)
    ruleset = _build(reader, cast(RulesDocument, data))  # as the schema lets it be; _build checks what it reads
    if reader.found or ruleset is None:
        raise RuleSetError(reader.errors)
    return ruleset


def _check_size(file: Path, data: Any) -> None:
    """Refuse a rule set past the documented size before any check that grows with it."""
    if not isinstance(data, dict):
        return
    tax = data.get("tax")
    for count, most, what in (
        (data.get("reasons"), MAX_REASON_RULES, "reason rules"),
        (tax.get("rates") if isinstance(tax, dict) else None, MAX_TAX_RATES, "tax rates"),
    ):
        if isinstance(count, list) and len(count) > most:
            raise RuleSetError(
                [f"{file}:1:1: the rule set has {len(count)} {what}; at most {most} are allowed (docs/consultant.md)"]
            )


def _build(reader: _Reader, data: RulesDocument) -> RuleSet | None:
    """Check the meaning of every part and compile its templates; the rule set itself only
    if the schema found nothing (a malformed part is checked as far as it can be read)."""
    env, attempt = templates.environment(), reader.attempt
    # What this client's Khaos has; a file without it fails the schema, and every use below is attempted.
    khaos = data.get("khaos")
    tables = attempt(lambda: _tables(data)) or {}
    named: set[str] = set()  # every name a template reads: each return's variables hold those fields

    def compiled(where: Path_, fields: Fields, condition: bool = False) -> Any:
        source: Any = data
        for part in where[:-1]:
            source = source[part]
        source = source.get(where[-1])  # an optional template may be left out
        if source is None:
            return None
        name = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in where).lstrip(".")
        name += f" at {reader.file}:{reader.positions.get(where, (1, 1))[0]}"  # a failure names the file and line
        try:
            templates.check(env, source, fields, set(tables))
            named.update(templates.names(env, source))
            if condition:
                return templates.compile_condition(env, source, name)
            return templates.compile_text(env, source, name)
        except templates.TemplateProblem as problem:
            reader.error(where, str(problem), problem.line - 1)
            return None

    def template(*where: str | int, condition: bool = False) -> Any:
        return attempt(lambda: compiled(where, templates.RETURN, condition))

    def reason(n: int, rule: ReasonEntry) -> ReasonRule | None:
        built: ReasonRule | None = attempt(lambda: _reason_rule(reader, khaos, n, rule, compiled))
        return built

    rules = data.get("reasons")
    read = [reason(n, rule) for n, rule in enumerate(rules if isinstance(rules, list) else [])]
    reasons = [rule for rule in read if rule is not None]  # one that failed is the reader's error
    attempt(lambda: _check_shadowing(reader, data["reasons"]))
    attempt(lambda: _check_reason_coverage(reader, data))
    tax_rules = attempt(lambda: _tax_rules(reader, data["tax"], khaos["tax_codes"]))
    attempt(lambda: _check_sequencing(reader, data["sequencing"]))
    attempt(lambda: _check_exceptions(reader, data))
    attempt(lambda: _check_skus(reader, data["skus"]))
    urn, source_order = template("references", "urn"), template("references", "source_order")
    notes, sales_source = template("references", "notes"), template("references", "sales_source")
    brand = template("references", "brand")
    publish_when = template("sequencing", "publish_when", condition=True)
    process_when = template("sequencing", "process_when", condition=True)
    deduction = attempt(lambda: _deduction(reader, data.get("deductions"), khaos))
    if reader.found:
        return None
    skus, overrides = data["skus"], data.get("exceptions") or {}
    return RuleSet(
        client=data["client"],
        content_hash=hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest(),
        reasons=reasons,
        tax_rules=tax_rules,
        pricing=Pricing(data["tax"]["prices"] == "gross", data["tax"].get("rounding", "half_up")),
        tax_code_rates={code: Decimal(entry["rate"]) for code, entry in khaos["tax_codes"].items()},
        tax_tolerance=Decimal(data["tax"].get("tolerance", "0.01")),
        sku_mapping=tuple(skus["mapping"]),
        aliases=dict(skus.get("aliases") or {}),
        apply_learned_renames=skus.get("learned_renames", "review") == "apply",
        replacements=dict(skus.get("replacements") or {}) if skus.get("discontinued") == "replace" else {},
        urn=urn,
        source_order_key=data["references"]["source_order_key"],
        source_order=source_order,
        notes=notes,
        sales_source=sales_source,
        brand=brand,
        publish_when=publish_when,
        tables=tables,
        statuses=data["sequencing"]["statuses"],
        verdicts=data["sequencing"]["verdicts"],
        process_when=process_when,
        value_tolerance=Decimal(data["sequencing"].get("value_tolerance", "0.00")),
        hold_alert_days=int(data["sequencing"].get("hold_alert_days", 14)),
        deduction=deduction,
        routing=Routing({kind: route for kind, route in overrides.items() if kind in KINDS}),
        names_by=data["references"].get("names_by", "Name"),
        field_lengths=data["references"].get("field_lengths", "cut"),
        sites={str(site): str(name) for site, name in khaos.get("sites", {}).items()},
        template_fields=read_by(named),
    )
