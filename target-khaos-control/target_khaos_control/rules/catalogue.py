"""What Khaos Control has told the channel about its stock, as the rules need it: the read
side of the catalogue, which only the channel's stock pushes write (`channel/catalogue.py`).

Read from the store (`stock_items`, `stock_codes`): the current stock code of each item,
every code it has had, its barcodes, and whether it is discontinued. Empty until Khaos
links the channel; the rules then leave stock checks to Khaos. A run reads it again at a
batch only when a push has changed it since (`catalogue_version`): a batch costs the
same whatever the size of Khaos's catalogue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_khaos_control.store import catalogue_version, stock_codes, stock_items


@dataclass(frozen=True)
class StockItem:
    """A Khaos stock item: its StockID, current stock code, whether discontinued, and its tax code."""

    stock_id: str
    code: str
    discontinued: bool
    tax_code: str = ""  # the ID of the Khaos tax rate the item carries: Khaos's VAT on a credit


@dataclass
class Catalogue:
    """Khaos's stock items by current stock code, with their former codes and barcodes."""

    items: dict[str, StockItem] = field(default_factory=dict)  # current stock code -> item
    old_codes: dict[str, str] = field(default_factory=dict)  # a former stock code -> the current one
    barcodes: dict[str, str] = field(default_factory=dict)  # barcode -> current stock code

    @classmethod
    def empty(cls) -> Catalogue:
        """No stock items: Khaos has not linked the channel yet."""
        return cls()

    @classmethod
    def read(cls, conn: Connection) -> Catalogue:
        """The stock items Khaos pushed (deleted ones left out), their former codes and barcodes."""
        catalogue = cls()
        by_id: dict[str, StockItem] = {}
        for row in conn.execute(sa.select(stock_items).where(stock_items.c.deleted.is_(False))):
            item = StockItem(row.stock_id, row.stock_code, bool(row.discontinued), _tax_code(row.tax_rate))
            by_id[row.stock_id] = item
            catalogue.items[item.code] = item
            for barcode in _barcodes(row.barcodes):
                if isinstance(barcode, dict) and barcode.get("Barcode"):
                    catalogue.barcodes[str(barcode["Barcode"])] = item.code
        for row in conn.execute(sa.select(stock_codes)):
            current = by_id.get(row.stock_id)
            if current is not None and row.stock_code != current.code:
                catalogue.old_codes[row.stock_code] = current.code
        return catalogue

    @property
    def is_empty(self) -> bool:
        """Whether Khaos has pushed no stock yet (the rules then leave stock checks to Khaos)."""
        return not self.items

    def current(self, code: str) -> StockItem | None:
        """The stock item whose current stock code this is, if any."""
        return self.items.get(code)

    def renamed(self, code: str) -> str | None:
        """The current stock code of an item that used to have this code, if any."""
        return self.old_codes.get(code)

    def by_barcode(self, barcode: str) -> StockItem | None:
        """The stock item with this barcode, if any."""
        code = self.barcodes.get(barcode)
        return self.items.get(code) if code else None


def _tax_code(stored: str | None) -> str:
    """The ID of a pushed `TaxRate` DataItem; empty when Khaos sent none we can read."""
    try:
        rate = json.loads(stored or "{}")
    except ValueError:
        return ""
    return str(rate.get("ID") or "") if isinstance(rate, dict) else ""


def _barcodes(stored: str | None) -> list[object]:
    """The channel checks pushes before keeping them; a row kept before it did may hold
    anything, and must not stop a target run."""
    try:
        found = json.loads(stored or "[]")
    except ValueError:
        return []
    return found if isinstance(found, list) else []


def version(conn: Connection) -> int:
    """How many pushes have changed the catalogue (0 on a store that has none)."""
    return int(conn.execute(sa.select(catalogue_version.c.version)).scalar() or 0)


@dataclass
class Latest:
    """The catalogue as of the last push, read again only when a push has changed it."""

    seen: int | None = None
    catalogue: Catalogue = field(default_factory=Catalogue.empty)

    def read(self, conn: Connection) -> Catalogue:
        """The catalogue, read again only if a push has changed it since the last read."""
        now = version(conn)
        if now != self.seen:
            self.catalogue, self.seen = Catalogue.read(conn), now
        return self.catalogue
