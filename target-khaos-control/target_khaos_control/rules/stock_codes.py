"""The Khaos stock code a Reveni SKU is sent as: aliases, renames, barcodes, replacements."""

from __future__ import annotations

from typing import TYPE_CHECKING

from target_khaos_control.documents import Draft, Problem
from target_khaos_control.exception_kinds import Kind
from target_khaos_control.khaos_documents import ItemMapping
from target_khaos_control.reveni import Return
from target_khaos_control.rules.catalogue import Catalogue

if TYPE_CHECKING:
    from target_khaos_control.rules.engine import RuleSet


def without_barcode(mapping: tuple[str, ...]) -> tuple[str, ...]:
    """The rules' mapping types but Barcode (or all of them, if Barcode is the only one)."""
    return tuple(kind for kind in mapping if kind != "Barcode") or mapping


class StockCodes:
    """The stock side of one return's evaluation: which Khaos item each SKU is, and how Khaos finds it."""

    rules: RuleSet
    record: Return
    catalogue: Catalogue
    draft: Draft
    mappings: dict[str, tuple[str, ...]]

    def _stock_code(self, sku: str, ean: str | None) -> tuple[str, Problem | None]:
        code, problem = self._find_stock(sku, ean)
        # Khaos looks up the SKU by each Mapping in turn (README L479-480); a Barcode
        # mapping searches the barcodes for the SKU itself, so it goes only with an EAN.
        self.mappings[code] = ("Barcode",) if ean and code == ean else self.rules.mapping_but_barcode
        return code, problem

    def _find_stock(self, sku: str, ean: str | None) -> tuple[str, Problem | None]:
        rules, catalogue = self.rules, self.catalogue
        code = rules.aliases.get(sku, sku)
        if catalogue.is_empty:
            # Khaos has not pushed its stock: it checks on import. A rule set that maps by
            # Barcode first sends the item's EAN, the value Khaos then searches.
            if ean and rules.sku_mapping and rules.sku_mapping[0] == "Barcode":
                return str(ean), None
            return code, None
        stock = catalogue.current(code)
        if stock is None and catalogue.renamed(code) is not None:
            new_code = catalogue.renamed(code) or code
            if not rules.apply_learned_renames:
                return code, Problem(
                    Kind.SKU_RENAMED_NEEDS_REVIEW,
                    "",
                    f"Khaos renamed stock code {code!r} to {new_code!r}: confirm it and add an alias",
                )
            code, stock = new_code, catalogue.current(new_code)
        if stock is None and ean and "Barcode" in rules.sku_mapping:
            stock = catalogue.by_barcode(str(ean))
            code = stock.code if stock is not None else code
        if stock is None:
            return code, Problem(Kind.SKU_NOT_FOUND, "", f"No Khaos stock item for SKU {sku!r}")
        if stock.discontinued:
            if code in rules.replacements:
                return rules.replacements[code], None
            return code, Problem(
                Kind.SKU_DISCONTINUED, "", f"Khaos has discontinued {code!r}: name a replacement or credit it by hand"
            )
        return code, None

    def _mapping(self, sku: str) -> list[ItemMapping]:
        """How Khaos is told to find the stock item: as the catalogue found it, else the rules' order."""
        found = []
        for kind in self.mappings.get(sku) or self.rules.sku_mapping:  # a loop: no comprehension's function a line
            found.append(ItemMapping(Mapping=kind))
        return found
