"""Proposals for `sku_not_found` and `sku_renamed_needs_review`: the Khaos stock code a
Reveni SKU should be an alias of, from what Khaos pushed (`stock_items`, `stock_codes`):

- a rename Khaos told us of: the same StockID now under another code;
- the item's EAN among the pushed barcodes;
- a near match of the code (a typo, a dropped dash) and of the product's name.

A near match is "likely" only when its name agrees too and no other item comes close:
a size or colour apart is another product, and guessing it would move the wrong stock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from rapidfuzz import fuzz, process
from sqlalchemy.engine import Connection

from target_khaos_control.exception_kinds import Kind
from target_khaos_control.proposals.model import LIKELY, Edit, Proposal
from target_khaos_control.proposals.words import words
from target_khaos_control.store import stock_codes, stock_items


@dataclass(frozen=True)
class Item:
    """A stock item as Khaos pushed it, with what a match is judged on."""

    stock_id: str
    code: str
    name: str
    barcodes: tuple[str, ...]
    discontinued: bool


@dataclass
class Stock:
    """Khaos's pushed stock items, and every code each has had."""

    items: dict[str, Item]  # current stock code -> item
    renamed: dict[str, tuple[str, str]]  # a former code -> (current code, StockID)

    @classmethod
    def read(cls, conn: Connection) -> Stock:
        """Khaos's stock items from the store (deleted ones left out), with every code each has had."""
        items: dict[str, Item] = {}
        by_id: dict[str, Item] = {}
        for row in conn.execute(sa.select(stock_items).where(stock_items.c.deleted.is_(False))):
            payload = _json(row.payload, {})
            name = str(payload.get("ShortDescription") or payload.get("StockDescription") or payload.get("Name") or "")
            codes = tuple(
                str(b["Barcode"]) for b in _json(row.barcodes, []) if isinstance(b, dict) and b.get("Barcode")
            )
            item = Item(row.stock_id, row.stock_code, name, codes, bool(row.discontinued))
            items[item.code] = by_id[item.stock_id] = item
        renamed = {}
        for row in conn.execute(sa.select(stock_codes)):
            current = by_id.get(row.stock_id)
            if current is not None and row.stock_code != current.code:
                renamed[row.stock_code] = (current.code, row.stock_id)
        return cls(items, renamed)


def sku_proposals(
    client: str, kind: Kind, sku: str, ean: str, name: str, stock: Stock, aliased: str = ""
) -> list[Proposal]:
    """Ranked alias proposals for Reveni SKU `sku` (with its EAN and product name; `aliased`:
    the stock code the rules already send for it, if any)."""
    support: dict[str, list[tuple[int, str]]] = {}

    def add(code: str, score: int, why: str) -> None:
        support.setdefault(code, []).append((score, why))

    for old in dict.fromkeys(code for code in (sku, aliased) if code in stock.renamed):
        code, stock_id = stock.renamed[old]
        add(code, 96, f"Khaos renamed {old!r} to {code!r} (the same StockID {stock_id})")
    by_barcode = [item for item in stock.items.values() if ean and ean in item.barcodes]
    for item in by_barcode:
        add(item.code, 95 if len(by_barcode) == 1 else 70, f"EAN {ean} is a barcode of Khaos's {item.code!r}")
    _near(sku, name, stock, add)
    scored = []
    for code, found in support.items():
        best = max(score for score, _ in found)
        scored.append(
            (min(99, best + 3 * (len(found) - 1)), code, tuple(why for _, why in sorted(found, key=lambda f: -f[0])))
        )
    scored.sort(key=lambda entry: (-entry[0], entry[1]))
    proposals = []
    for rank, (score, code, evidence) in enumerate(scored[:3]):
        if rank > 0 or (len(scored) > 1 and scored[1][0] >= scored[0][0] - 5):
            score = min(score, LIKELY - 5)  # only a clear first is likely
        item = stock.items[code]
        notes = ("Khaos has discontinued it: a replacement may be needed",) if item.discontinued else ()
        proposals.append(
            Proposal(
                client=client,
                kind=kind,
                subject=sku,
                edit=Edit(("skus", "aliases", sku), code),
                confidence=min(score, LIKELY - 1) if item.discontinued else score,
                evidence=evidence + notes,
                meaning=f"{code} \u201c{item.name}\u201d" if item.name else code,
            )
        )
    return proposals


def _near(sku: str, name: str, stock: Stock, add: Callable[[str, int, str], None]) -> None:
    """Stock codes like the SKU (as typed: case, dashes and letters), judged with the names."""
    flat = _flat(sku)
    codes = {_flat(code): code for code in stock.items}
    for key, score, _ in process.extract(flat, list(codes), scorer=fuzz.ratio, limit=5):
        code = codes[key]
        item = stock.items[code]
        same_name = bool(name) and words(name) == words(item.name)
        named = fuzz.token_sort_ratio(words(name), words(item.name)) if name and item.name else 0
        if flat == key:  # the same code but for case and separators; a name that differs casts doubt
            add(
                code,
                93 if same_name or not name else 88 if named >= 60 else 70,
                f"{code!r} is {sku!r} written another way",
            )
        elif score >= 80 and same_name:
            add(
                code,
                round(score * 0.2 + 78),
                f"{code!r} is {round(score)}% alike {sku!r} and has its name \u201c{item.name}\u201d",
            )
        elif score >= 70:
            add(
                code,
                round(min(score, 90) * 0.5 + named * 0.25),
                f"{code!r} is {round(score)}% alike {sku!r}" + (f"; its name is {named}% alike" if named else ""),
            )


def _flat(code: str) -> str:
    """A code without case or separators: `tee_blk m` and `TEE-BLK-M` are one."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _json(text: str | None, empty: object) -> Any:
    try:
        found = json.loads(text or "")
    except ValueError:
        return empty
    return found if isinstance(found, type(empty)) else empty
