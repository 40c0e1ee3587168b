"""`reveni-khaos rules validate | test | preview`: what a consultant runs before deploying."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from target_khaos_control.rules.catalogue import Catalogue
from target_khaos_control.rules.engine import RuleSet
from target_khaos_control.rules.golden import ExceptionOutcome, Outcome, outcome, run_cases
from target_khaos_control.rules.loader import RuleSetError, load_ruleset, rules_file


def validate(path: str, out: TextIO = sys.stdout) -> int:
    """`rules validate`: load the rule set and say whether it is usable, or every error it has."""
    try:
        ruleset = load_ruleset(path)
    except RuleSetError as error:
        print("\n".join(error.errors), file=out)
        print(f"{len(error.errors)} problem(s): the rule set is not usable", file=out)
        return 1
    print(f"{rules_file(path)}: valid rule set for {ruleset.client!r} (hash {ruleset.content_hash[:12]})", file=out)
    return 0


def run_tests(path: str, out: TextIO = sys.stdout) -> int:
    """`rules test`: run the client's golden cases (`tests/*.yaml`) and report each."""
    try:
        ruleset = load_ruleset(path)
    except RuleSetError as error:
        print("\n".join(error.errors), file=out)
        return 1
    results = run_cases(ruleset, rules_file(path).parent)
    failed = [result for result in results if result.failures]
    for result in results:
        print(f"{'FAIL' if result.failures else 'ok  '} {result.file.name}: {result.name}", file=out)
        for failure in result.failures:
            print(f"       {failure}", file=out)
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed", file=out)
    return 1 if failed or not results else 0


def preview(path: str, returns: list[dict[str, object]], against: str | None = None, out: TextIO = sys.stdout) -> int:
    """`rules preview`: what the rules make of these returns, or how two rule sets differ on them."""
    try:
        ruleset = load_ruleset(path)
        other = load_ruleset(against) if against else None
    except RuleSetError as error:
        print("\n".join(error.errors), file=out)
        return 1
    if other is None:
        _show(ruleset, returns, out)
    else:
        _diff(ruleset, other, returns, out)
    return 0


def _show(ruleset: RuleSet, returns: list[dict[str, object]], out: TextIO) -> None:
    totals: Counter[str] = Counter()
    for record in returns:
        result = outcome(ruleset.draft(record, Catalogue.empty()))
        totals["lines"] += len(result["lines"])
        totals.update(f"exception {e['kind']} ({e['owner']})" for e in result["exceptions"])
        print(f"{record.get('id')} ({record.get('status')}, order {_order_number(record)})", file=out)
        for line in result["lines"]:
            print(
                f"    line  {line['sku']} x{line['quantity']} reason {line['reason']} {line['disposition']} "
                f"{line['unit_price']}",
                file=out,
            )
        for exception in result["exceptions"]:
            print(f"    exception {exception['kind']} for {exception['owner']}", file=out)
        if result["lines"]:
            print(f"    ProcessReturn {result['process']}", file=out)
    print(f"\n{len(returns)} returns: " + ", ".join(f"{n} {what}" for what, n in sorted(totals.items())), file=out)


def _diff(new: RuleSet, old: RuleSet, returns: list[dict[str, object]], out: TextIO) -> None:
    """What changes if `new` replaces `old`, return by return: one line per change, from -> to."""
    changed = 0
    for record in returns:
        before, after = outcome(old.draft(record)), outcome(new.draft(record))
        if before == after:
            continue
        changed += 1
        print(f"{record.get('id')} (order {_order_number(record)}):", file=out)
        for change in changes(before, after):
            print(f"    {change}", file=out)
    print(
        f"\n{changed} of {len(returns)} returns change ({old.client} {old.content_hash[:12]} -> "
        f"{new.client} {new.content_hash[:12]})",
        file=out,
    )


def _order_number(record: Mapping[str, object]) -> object:
    order = record.get("order")
    return order.get("number") if isinstance(order, dict) else None


def changes(before: Outcome, after: Outcome) -> list[str]:
    """Two outcomes of one return, as the few facts that differ: `item X reason: 2 -> 5`."""
    found = []
    # Read field by field, whichever fields a line has.
    lines_before: dict[str, Mapping[str, object]] = {line["item"]: line for line in before["lines"]}
    lines_after: dict[str, Mapping[str, object]] = {line["item"]: line for line in after["lines"]}
    for item in sorted(lines_before.keys() | lines_after.keys()):
        old, new = lines_before.get(item), lines_after.get(item)
        if old is None or new is None:
            line = new or old or {}
            what = f"{line['sku']} x{line['quantity']} reason {line['reason']} {line['disposition']}"
            found.append(f"item {item}: line {'added' if old is None else 'removed'} ({what})")
            continue
        for key in sorted(old.keys() | new.keys()):
            if key != "item" and old.get(key) != new.get(key):
                found.append(f"item {item} ({old['sku']}) {key}: {_plain(old.get(key))} -> {_plain(new.get(key))}")
    exceptions_before = {_exception(e) for e in before["exceptions"]}
    exceptions_after = {_exception(e) for e in after["exceptions"]}
    found += [f"exception added: {e}" for e in sorted(exceptions_after - exceptions_before)]
    found += [f"exception gone: {e}" for e in sorted(exceptions_before - exceptions_after)]
    whole_before: Mapping[str, object] = before
    whole_after: Mapping[str, object] = after
    for key in sorted(whole_before.keys() - {"lines", "exceptions"}):
        if whole_before[key] != whole_after[key]:
            found.append(f"{key}: {_plain(whole_before[key])} -> {_plain(whole_after[key])}")
    return found


def _exception(entry: ExceptionOutcome) -> str:
    return f"{entry['kind']} for {entry['owner']}" + (f" (item {entry['item']})" if entry.get("item") else "")


def _plain(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def read_returns(file: str) -> list[dict[str, object]]:
    """Reveni returns, one JSON object a line; Singer RECORD lines (tap output) work too.
    `-` reads standard input, so tap-reveni's output can be piped straight in."""
    found = []
    text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{file}:{number}: not JSON ({error.msg})") from None
        if not isinstance(message, dict):
            raise ValueError(f"{file}:{number}: not a return or a Singer message: a JSON object is expected")
        if message.get("type") == "RECORD":
            if not isinstance(message.get("record"), dict):
                raise ValueError(f"{file}:{number}: a RECORD whose `record` is not a JSON object")
            found.append(message["record"])
        elif "id" in message and "return_items" in message:
            found.append(message)
    return found
