"""The client's plain mapping file: Reveni codes to Khaos Control codes.

A YAML file named by the target's `mapping_file` setting. The rules engine will take its
place; until then this is everything a client's set-up decides:

    reasons:            # Reveni return_reason.code -> Khaos ReturnReason ID
      size_too_small: "1"
    tax_codes:          # Reveni tax_rate -> Khaos tax code
      "20.00": "1"
    sku_aliases:        # a SKU Reveni still sends -> the current Khaos stock code
      HOOD-GRY-M: HOODIE-GREY-M
    sku_mapping: [StockCode, Barcode]   # how Khaos should look each SKU up, in order
    customers:          # customer email -> Khaos URN
      ana@example.com: CUST0001
    default_urn: WEBCUST   # optional: the URN for customers not listed
    source_order_key: AssociatedRef     # which SourceOrder key carries the Reveni order's external_id
    process_when_accepted: true         # ProcessReturn once every item is accepted by the warehouse
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

MAPPING_TYPES = ("StockCode", "OtherRef", "Barcode", "WebCode", "Automatic")
SOURCE_ORDER_KEYS = ("AssociatedRef", "SOrderID", "SOrderCode")


class MappingFileError(ValueError):
    """The mapping file cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Mapping:
    reasons: dict[str, str]
    tax_codes: dict[Decimal, str]
    sku_aliases: dict[str, str] = field(default_factory=dict)
    sku_mapping: tuple[str, ...] = ("StockCode",)
    customers: dict[str, str] = field(default_factory=dict)
    default_urn: str = ""
    source_order_key: str = "AssociatedRef"
    process_when_accepted: bool = False

    def tax_code(self, rate: str | None) -> str | None:
        if rate is None:
            return None
        try:
            return self.tax_codes.get(Decimal(rate))
        except InvalidOperation:
            return None


def load_mapping(path: str | Path) -> Mapping:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise MappingFileError(f"{path}: cannot read the mapping file ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise MappingFileError(f"{path}: not valid YAML: {error}") from error
    return parse_mapping(raw, str(path))


def parse_mapping(raw: Any, where: str) -> Mapping:
    if not isinstance(raw, dict):
        raise MappingFileError(f"{where}: expected a mapping of settings at the top level")
    unknown = set(raw) - set(Mapping.__dataclass_fields__)
    if unknown:
        raise MappingFileError(f"{where}: unknown entries {sorted(unknown)}")
    sku_mapping = tuple(raw.get("sku_mapping", ["StockCode"]))
    for kind in sku_mapping:
        if kind not in MAPPING_TYPES:
            raise MappingFileError(f"{where}: sku_mapping: {kind!r} is not one of {', '.join(MAPPING_TYPES)}")
    source_order_key = raw.get("source_order_key", "AssociatedRef")
    if source_order_key not in SOURCE_ORDER_KEYS:
        raise MappingFileError(f"{where}: source_order_key: {source_order_key!r} is not one of {SOURCE_ORDER_KEYS}")
    tax_codes = {}
    for rate, code in _table(raw, "tax_codes", where).items():
        try:
            tax_codes[Decimal(rate)] = code
        except InvalidOperation:
            raise MappingFileError(f'{where}: tax_codes: {rate!r} is not a percentage like "20.00"') from None
    return Mapping(
        reasons=_table(raw, "reasons", where),
        tax_codes=tax_codes,
        sku_aliases=_table(raw, "sku_aliases", where),
        sku_mapping=sku_mapping,
        customers={email.lower(): urn for email, urn in _table(raw, "customers", where).items()},
        default_urn=str(raw.get("default_urn", "")),
        source_order_key=source_order_key,
        process_when_accepted=bool(raw.get("process_when_accepted", False)),
    )


def _table(raw: dict[str, Any], name: str, where: str) -> dict[str, str]:
    table = raw.get(name) or {}
    if not isinstance(table, dict):
        raise MappingFileError(f"{where}: {name}: expected a table of code: value")
    for key, value in table.items():
        if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
            raise MappingFileError(f"{where}: {name}.{key}: expected a code, got {value!r}")
    return {str(key): str(value) for key, value in table.items()}
