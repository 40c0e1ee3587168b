"""A rules.yml as its JSON Schema (`ruleset.schema.json`) lets it be, section by section.

`rules_sections.py` reads each section by these shapes. The schema stays the judge of a
file (a malformed part is still checked as far as it reads, each check guarded by
`_Reader.attempt`); these types say what the checks may rely on once it has passed.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypeAlias, TypedDict

OneOrMany: TypeAlias = str | list[str]
Disposition = Literal["restock", "quarantine", "write_off", "return_to_supplier"]


class KhaosReason(TypedDict):
    """A Khaos return reason: its name, how Khaos processes it, and its site."""

    name: str
    processing: str
    site: NotRequired[str]


class TaxCode(TypedDict):
    """A Khaos tax code: its name and rate (a decimal as text)."""

    name: str
    rate: str


class Khaos(TypedDict):
    """What the client's Khaos Control has configured."""

    sites: dict[str, str]
    return_reasons: dict[str, KhaosReason]
    tax_codes: dict[str, TaxCode]


class ReasonEntry(TypedDict):
    """One entry of `reasons:`: which items it matches, and their Khaos reason and disposition."""

    reason: OneOrMany
    verdict: NotRequired[OneOrMany]
    reject_reason: NotRequired[OneOrMany]
    when: NotRequired[str]
    khaos_reason: str
    disposition: Disposition
    site: NotRequired[str]


class TaxRate(TypedDict):
    """Reveni's VAT rate to a Khaos tax code, for some countries or currencies."""

    rate: str
    code: str
    country: NotRequired[OneOrMany]
    currency: NotRequired[OneOrMany]


class Tax(TypedDict):
    """How prices go to Khaos, and the rates checked."""

    prices: Literal["gross", "net"]
    rounding: NotRequired[Literal["half_up", "half_even"]]
    tolerance: NotRequired[str]
    rates: list[TaxRate]


class Skus(TypedDict):
    """How a Reveni SKU becomes a Khaos stock code."""

    mapping: list[str]
    aliases: NotRequired[dict[str, str]]
    learned_renames: NotRequired[Literal["apply", "review"]]
    discontinued: NotRequired[Literal["replace", "review"]]
    replacements: NotRequired[dict[str, str]]


class References(TypedDict):
    """The document's references: templates, and how names and long fields go."""

    urn: str
    source_order_key: Literal["AssociatedRef", "SOrderID", "SOrderCode"]
    source_order: str
    sales_source: NotRequired[str]
    brand: NotRequired[str]
    names_by: NotRequired[Literal["Name", "ID"]]
    field_lengths: NotRequired[Literal["cut", "hold"]]
    notes: NotRequired[str]


class Sequencing(TypedDict):
    """What each Reveni status and warehouse verdict decides, and when a return goes."""

    statuses: dict[str, str]
    verdicts: dict[str, str]
    publish_when: NotRequired[str]
    process_when: str
    hold_alert_days: NotRequired[int]
    value_tolerance: NotRequired[str]


class Deductions(TypedDict):
    """The Khaos non-stock item that carries what Reveni kept back."""

    stock_code: str
    khaos_reason: str
    tax_code: str


class RulesDocument(TypedDict):
    """A whole rules.yml."""

    version: object
    client: str
    khaos: Khaos
    reasons: list[ReasonEntry]
    tax: Tax
    skus: Skus
    references: References
    tables: NotRequired[dict[str, dict[str, object]]]
    sequencing: Sequencing
    deductions: NotRequired[Deductions]
    exceptions: NotRequired[dict[str, dict[str, str]]]  # kind -> its `owner` and `severity` for this client
