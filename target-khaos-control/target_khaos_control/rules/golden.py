"""Golden cases for a rule set: given a Reveni return (and what Khaos knows), expect the
document lines, the exceptions, the items left out, and whether Khaos may process it.

Cases live in `rules/<client>/tests/*.yaml`, each file a list of cases. A case's
`given.return` is laid over `tests/base.yaml` (dicts merge; each entry of
`return_items` merges over the base's first item), so a case says only what matters.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, NotRequired, TypeAlias, TypedDict

import msgspec
import yaml

from target_khaos_control.documents import Draft, Line, Problem
from target_khaos_control.item_outcomes import ItemOutcome
from target_khaos_control.khaos_documents import Price
from target_khaos_control.rules.catalogue import Catalogue, StockItem
from target_khaos_control.rules.engine import RuleSet


@dataclass(frozen=True)
class CaseResult:
    """One golden case: its file, its name, and every way it failed (none: it passed)."""

    file: Path
    name: str
    failures: list[str]


class CasePrice(TypedDict, total=False):
    """A Khaos unit price as the cases write it: gross or net, as text."""

    Gross: str
    Net: str


class PricedUnits(CasePrice):
    """Some units at one price."""

    quantity: int


class LineOutcome(TypedDict):
    """One Reveni item's line as a case expects it."""

    item: str
    sku: str
    quantity: int
    reason: str | None  # the Khaos reason's ID
    disposition: str
    unit_price: CasePrice
    prices: list[PricedUnits]
    credit: str
    exchange_sku: NotRequired[str]
    exchange_prices: NotRequired[list[PricedUnits]]


class ExceptionOutcome(TypedDict):
    """An exception the rules raised, as a case names it."""

    kind: str
    owner: str
    item: NotRequired[str]


class Outcome(TypedDict):
    """What a rule set decided for one return, in the golden cases' terms."""

    lines: list[LineOutcome]
    exceptions: list[ExceptionOutcome]
    skipped: list[str]
    process: bool
    withdraw: bool
    held: bool
    header: dict[str, object]  # the document's URN and Notes
    source_order: dict[str, str]


# The keys a case may write, where: a nested tree of names; None checks no deeper.
Keys: TypeAlias = dict[str, "Keys | list[Keys] | None"]
YAML: TypeAlias = Any  # a case file as yaml.safe_load reads it: any shape, checked as it is used


def run_cases(ruleset: RuleSet, folder: Path) -> list[CaseResult]:
    """Run every case in the client folder's `tests/*.yaml` against the rule set."""
    tests = folder / "tests"
    base = yaml.safe_load((tests / "base.yaml").read_text(encoding="utf-8"))
    results = []
    for file in sorted(tests.glob("*.yaml")):
        if file.name == "base.yaml":
            continue
        node = yaml.compose(file.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        cases = yaml.SafeLoader("").construct_document(node) if node is not None else []
        for n, case in enumerate(cases or []):
            misspelt = _unknown_keys(file, node.value[n], CASE_KEYS)
            record = build_return(base, case.get("given", {}).get("return", {}))
            catalogue = _catalogue(case.get("given", {}).get("khaos", {}))
            draft = ruleset.draft(record, catalogue)
            name = str(case.get("name", f"case {n + 1}"))
            results.append(CaseResult(file, name, misspelt + compare(draft, case.get("expect", {}))))
    return results


# The keys a case may use, by where they are: the outcome's own fields.
LINE_KEYS: Keys = dict.fromkeys(LineOutcome.__annotations__)
STOCK_KEYS: Keys = dict.fromkeys(("code", "stock_id", "discontinued", "old_codes", "barcodes"))
EXPECT_KEYS: Keys = {**dict.fromkeys(Outcome.__annotations__), "lines": [LINE_KEYS]}
CASE_KEYS: Keys = {
    "name": None,
    "given": {"return": None, "khaos": {"stock": [STOCK_KEYS]}},
    "expect": EXPECT_KEYS,
}


def _unknown_keys(file: Path, node: yaml.Node, known: Keys | list[Keys] | None, where: str = "") -> list[str]:
    """A misspelt key would be silently ignored (`line:` checks nothing): name it."""
    found: list[str] = []
    if isinstance(known, dict) and isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = str(key.value)
            if name not in known:
                guess = difflib.get_close_matches(name, list(known), n=1)
                hint = f"did you mean `{guess[0]}`?" if guess else f"the keys here are: {', '.join(known)}"
                under = f"under `{where}`" if where else "in a case"
                found.append(f"{file.name}:{key.start_mark.line + 1}: `{name}` is not a key {under}: {hint}")
            else:
                found += _unknown_keys(file, value, known[name], f"{where}.{name}".lstrip("."))
    elif isinstance(known, list) and isinstance(node, yaml.SequenceNode):
        for item in node.value:
            found += _unknown_keys(file, item, known[0], where)
    return found


def build_return(base: dict[str, YAML], given: dict[str, YAML]) -> dict[str, YAML]:
    """A case's Reveni return: `base.yaml` with what the case gives laid over it."""
    record = copy.deepcopy(base)
    items = given.get("return_items")
    merged = _merge(record, {k: v for k, v in given.items() if k != "return_items"})
    if items is not None:
        template = base["return_items"][0]
        merged["return_items"] = [
            _merge(copy.deepcopy(template) | {"id": f"item-{n + 1}"}, item) for n, item in enumerate(items)
        ]
    return merged


def _merge(into: dict[str, YAML], over: dict[str, YAML]) -> dict[str, YAML]:
    for key, value in over.items():
        if value == "(missing)":
            into.pop(key, None)
        elif isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
    return into


def _catalogue(khaos: dict[str, YAML]) -> Catalogue:
    catalogue = Catalogue()
    for entry in khaos.get("stock", []):
        item = StockItem(
            str(entry.get("stock_id", entry["code"])),
            entry["code"],
            bool(entry.get("discontinued")),
            str(entry.get("tax_code", "")),
        )
        catalogue.items[item.code] = item
        for old in entry.get("old_codes", []):
            catalogue.old_codes[old] = item.code
        for barcode in entry.get("barcodes", []):
            catalogue.barcodes[str(barcode)] = item.code
    return catalogue


def outcome(draft: Draft) -> Outcome:
    """What a rule set decided for one return, in the golden cases' terms."""
    return {
        "lines": [_line(line) for line in draft.lines],
        "exceptions": sorted((_exception(p) for p in draft.problems), key=lambda e: (e["kind"], e.get("item", ""))),
        "skipped": sorted(
            item for item, result in draft.outcomes.items() if ItemOutcome.of(result) is ItemOutcome.SKIP
        ),
        "process": draft.document("?", draft.lines).ProcessReturn if draft.lines else False,
        "withdraw": draft.withdraw,
        "held": bool(draft.hold_reason),
        "header": {k: v for k, v in _header(draft).items() if k in ("URN", "Notes")},
        "source_order": draft.source_order,
    }


def _exception(problem: Problem) -> ExceptionOutcome:
    found: ExceptionOutcome = {"kind": problem.kind, "owner": problem.owner}
    if problem.item_id:
        found["item"] = problem.item_id
    return found


def _line(line: Line) -> LineOutcome:
    """One Reveni item's line: its stock code, units and reason, each Khaos price, and
    what Khaos will credit for it."""
    first = line.returned[0]
    found: LineOutcome = {
        "item": line.item_id,
        "sku": first.SKU,
        "quantity": sum(part.Quantity for part in line.returned),
        "reason": first.ReturnReason.ID,
        "disposition": line.disposition,
        "unit_price": _price(first.UnitPrice),
        "prices": [{"quantity": part.Quantity, **_price(part.UnitPrice)} for part in line.returned],
        "credit": str(line.credit),
    }
    if line.exchanges:
        found["exchange_sku"] = line.exchanges[0].SKU
        found["exchange_prices"] = [{"quantity": part.Quantity, **_price(part.UnitPrice)} for part in line.exchanges]
    return found


def _header(draft: Draft) -> dict[str, object]:
    """The draft's header fields as sent (none for a return that could not be read)."""
    return msgspec.to_builtins(draft.header) if draft.header is not None else {}


def _price(price: Price | None) -> CasePrice:
    """A Khaos price as the cases write it: its one figure, as text."""
    found: CasePrice = {}
    if price is not None and price.Gross is not None:
        found["Gross"] = str(price.Gross)
    if price is not None and price.Net is not None:
        found["Net"] = str(price.Net)
    return found


def compare(draft: Draft, expect: dict[str, YAML]) -> list[str]:
    """Every way the draft differs from what the case expects, in words; empty when it passes."""
    got: Mapping[str, Any] = outcome(draft)  # read by the case's keys
    failures = []
    for key, wanted in expect.items():
        if key == "lines":
            failures += _compare_lines(got["lines"], wanted)
        elif key == "exceptions":
            if sorted(got["exceptions"], key=str) != sorted(wanted, key=str):
                failures.append(f"exceptions: expected {wanted}, got {got['exceptions']}")
        elif key in ("header", "source_order"):
            for field, value in wanted.items():
                if got[key].get(field) != value:
                    failures.append(f"{key}.{field}: expected {value!r}, got {got[key].get(field)!r}")
        elif got.get(key) != wanted:
            failures.append(f"{key}: expected {wanted!r}, got {got.get(key)!r}")
    return failures


def _compare_lines(got: list[LineOutcome], wanted: list[dict[str, YAML]]) -> list[str]:
    if len(got) != len(wanted):
        return [f"lines: expected {len(wanted)}, got {len(got)}: {got}"]
    failures = []
    for n, (have, want) in enumerate(zip(got, wanted, strict=True)):
        for field, value in want.items():
            actual: YAML = have.get(field)
            if field == "unit_price":
                value = {k: str(Decimal(str(v))) for k, v in value.items()}
            elif field in ("prices", "exchange_prices"):
                value = [{k: str(v) if k == "quantity" else str(Decimal(str(v))) for k, v in p.items()} for p in value]
                actual = [{k: str(v) for k, v in p.items()} for p in actual or []]
            elif field == "credit":
                value = str(Decimal(str(value)))
            if actual != value:
                failures.append(f"lines[{n}].{field}: expected {value!r}, got {actual!r}")
    return failures
