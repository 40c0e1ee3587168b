"""A fingerprint of everything the rules make of many returns: to show a speed-up changed nothing.

Builds ~5,000 Reveni returns with the sandbox's generator (half of them broken: the
schema breaks tests/test_reveni_contract.py makes, laid on them, and values the schema
allows but the rules must catch: odd pennies, unknown reasons and SKUs, a tax that does not
add up, an EAN as the SKU...), drafts each under three rule sets (demo; acme, net prices;
and one with `when`, `publish_when`, deductions, renames applied and replacements), with
Khaos's catalogue empty and pushed (renames, discontinued items, barcodes, tax codes).
Every field of every draft is hashed: its repr (exact Decimals, exceptions with their
details, outcomes, dispositions, figures), its document's JSON and XML bytes, and a
deduction line. Run it before and after a change: the hashes must be equal.

    .venv/bin/python bench/rules_fingerprint.py [--returns 5000]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import random
import sys
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from reveni_khaos_sandbox.catalogue import PRODUCTS
from reveni_khaos_sandbox.reveni_data import ReturnGenerator
from target_khaos_control.channel.khaos_xml import render
from target_khaos_control.documents import Draft, associated_ref
from target_khaos_control.khaos_documents import encode
from target_khaos_control.rules import Catalogue, load_ruleset
from target_khaos_control.rules.catalogue import StockItem

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.test_reveni_contract import BREAKS

RULES = Path(__file__).resolve().parent.parent / "rules"
# A rule set reading templates per item (`when`), holding returns (`publish_when`), with a
# deductions line, renames applied, replacements and the Barcode mapping first.
THIRD = (RULES / "demo" / "rules.yml").read_text().replace("client: demo", "client: third").replace(
    "  - reason: faulty\n",
    '  - reason: faulty\n    when: "{{ item.price | decimal >= 30 }}"\n    khaos_reason: "5"\n'
    "    disposition: write_off\n  - reason: faulty\n",
).replace(
    "  - reason: changed_mind\n",
    "  - reason: changed_mind\n    when: \"{{ customer.email == 'cust0001@example.com' }}\"\n"
    '    khaos_reason: "2"\n    disposition: quarantine\n  - reason: changed_mind\n',
).replace('publish_when: "{{ true }}"', "publish_when: \"{{ refunded or status == 'accepted' }}\"").replace(
    "mapping: [StockCode, Barcode]", "mapping: [Barcode, StockCode]"
).replace("learned_renames: review", "learned_renames: apply").replace(
    "discontinued: review", "discontinued: replace"
).replace(
    "replacements: {}", "replacements: {SCARF-WOOL-RED: TEE-BLK-M}"
) + '\ndeductions: {stock_code: RETURN-FEE, khaos_reason: "4", tax_code: "2"}\n'


def pushed_catalogue() -> Catalogue:
    """Khaos's stock as pushed: every product, renamed ones under their new code, one with a
    tax code the rules lack and one at another rate than Reveni's."""
    catalogue = Catalogue()
    tax_codes = {"20.00": "1", "0.00": "2", "5.00": "3"}
    for n, product in enumerate(PRODUCTS):
        code = product.renamed_to or product.sku
        tax = tax_codes.get(product.tax_rate or "", "") if n % 7 else ("9" if n % 2 else "3")
        catalogue.items[code] = StockItem(str(1000 + n), code, product.discontinued, tax)
        catalogue.barcodes[product.ean] = code
        if product.renamed_to:
            catalogue.old_codes[product.sku] = code
    catalogue.old_codes["TEE-OLD-S"] = "TEE-BLK-S"
    catalogue.items["RETURN-FEE"] = StockItem("999", "RETURN-FEE", False, "2")
    return catalogue


def _item(record: dict[str, Any]) -> dict[str, Any]:
    items: list[dict[str, Any]] = record["return_items"]
    return items[0]


# Values the schema allows that the rules must catch, each laid on a return's first item.
SEMANTIC: list[Callable[[dict[str, Any]], None]] = [
    lambda r: _item(r).update(quantity=3, total="25.00", price="8.34"),
    lambda r: _item(r).update(quantity=3, total="29.99", price="10.00"),
    lambda r: _item(r).update(quantity=7, total="100.01"),
    lambda r: _item(r).update(return_reason={"code": "never_heard_of", "text": "?"}),
    lambda r: _item(r).update(sku="NO-SUCH-SKU"),
    lambda r: _item(r).update(tax="999.99"),
    lambda r: _item(r).update(tax_rate="17.50"),
    lambda r: _item(r).update(tax_rate=None, tax=None),
    lambda r: _item(r).update(sku=_item(r)["ean"]),
    lambda r: _item(r).update(status="rejected", reject_reason="damaged"),
    lambda r: _item(r).update(status=None),
    lambda r: _item(r).update(sku="HOOD-GRY-M"),
    lambda r: _item(r).update(sku="TEE-OLD-S"),  # a former stock code
    lambda r: _item(r).update(sku="WEB-ONLY-1"),  # found by its barcode only
    lambda r: _item(r).update(exchange={"sku": "NO-SUCH-SKU", "ean": None, "quantity": 1, "price": "3.00"}),
    lambda r: _item(r).update(exchange={"sku": "TEE-BLK-M", "ean": "5056000000017", "quantity": 2}),
    lambda r: _item(r).update(total="0.00", tax="0.00"),
    lambda r: r.update(status="cancelled"),
    lambda r: r.update(refunds=[]),
    lambda r: r.update(currency="EUR"),
    lambda r: r["customer"].update(email="CUST0001@example.com"),
    lambda r: r["customer"].update(first_name="A" * 80, last_name="B" * 80),
    lambda r: r.update(order={**(r.get("order") or {}), "external_id": None}),
    lambda r: r["return_items"].append(copy.deepcopy(_item(r)) | {"id": "dup"}),
    lambda r: r["return_items"].append(copy.deepcopy(_item(r))),  # the same item id twice
]


def _break(record: dict[str, Any], n: int) -> dict[str, Any]:
    """`record` broken in the nth way: a schema break laid on it, or a value the rules catch."""
    if n % 3 == 0:
        SEMANTIC[n // 3 % len(SEMANTIC)](record)
        return record
    _kind, path, broken = BREAKS[n % len(BREAKS)]
    value: Any = broken
    for part in path:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            value = KeyError
            break
    holder: Any = record
    try:
        for part in path[:-1]:
            holder = holder[part]
        if value is KeyError:
            del holder[path[-1]]
        else:
            holder[path[-1]] = copy.deepcopy(value)
    except (KeyError, IndexError, TypeError):
        return copy.deepcopy(broken)  # the generated return has no such field: the break itself
    return record


def returns(count: int) -> list[dict[str, Any]]:
    """`count` generated returns, every other one broken."""
    generator = ReturnGenerator(seed=7, count=count)
    built = [generator.build(i) for i in range(count)]
    return [_break(record, i // 2) if i % 2 else record for i, record in enumerate(built)]


def fingerprint(draft: Draft) -> bytes:
    """Every field of a draft, exactly: its repr, its document's JSON and XML, a deduction line."""
    parts = []
    adjustment, draft.adjustment = draft.adjustment, None
    parts.append(repr(draft))
    if adjustment is not None:
        parts.append(repr(adjustment(Decimal("-1.50"), "fee")))
    if draft.header is not None:
        document = draft.document(associated_ref(draft.return_id), draft.lines)
        parts.append(encode(document))
        parts.append(render("CustomerReturn", document).decode())
    return "\n".join(parts).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--returns", type=int, default=5000)
    count = parser.parse_args().returns
    random.seed(7)
    records = returns(count)
    with tempfile.TemporaryDirectory() as work:
        third = Path(work) / "third"
        third.mkdir()
        (third / "rules.yml").write_text(THIRD)
        rulesets = {"demo": RULES / "demo", "acme": RULES / "acme", "third": third}
        total = hashlib.sha256()
        for name, path in rulesets.items():
            ruleset = load_ruleset(path)
            for catalogue_name, catalogue in (("empty", Catalogue.empty()), ("pushed", pushed_catalogue())):
                digest = hashlib.sha256()
                lines = problems = 0
                for record in records:
                    try:
                        draft = ruleset.draft(copy.deepcopy(record), catalogue)
                    except Exception as error:  # an escape is part of the fingerprint
                        digest.update(f"raised {type(error).__name__}: {error}".encode())
                        continue
                    lines += len(draft.lines)
                    problems += len(draft.problems)
                    digest.update(fingerprint(draft))
                print(f"{name:6} {catalogue_name:6} lines {lines:6} exceptions {problems:6} {digest.hexdigest()[:16]}")
                total.update(digest.digest())
    print(f"all    {total.hexdigest()}")


if __name__ == "__main__":
    main()
