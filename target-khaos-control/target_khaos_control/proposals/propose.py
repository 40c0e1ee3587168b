"""Every open exception that can come with its fix, and its ranked proposals.

Exceptions that share a kind and a subject (one new Reveni reason on forty returns) share
their proposals: each proposal lists them all, and accepting it replays them all. Nothing
here writes: proposals are worked out afresh from the store and the rule sets each time,
so they follow what Khaos pushed and what operators decided since.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
import yaml
from sqlalchemy.engine import Connection

from target_khaos_control.exception_kinds import KINDS, Kind, Owner
from target_khaos_control.exception_log import RECONCILIATION
from target_khaos_control.proposals import decisions
from target_khaos_control.proposals.customers import customer_proposals
from target_khaos_control.proposals.finance import tax_proposals
from target_khaos_control.proposals.model import Proposal
from target_khaos_control.proposals.reasons import Accepted, reason_proposals
from target_khaos_control.proposals.stock import Stock, sku_proposals
from target_khaos_control.rules.loader import rules_file
from target_khaos_control.rules.rules_document import RulesDocument
from target_khaos_control.states import ExceptionStatus
from target_khaos_control.store import exceptions, return_versions, returns_with_records, reveni_returns, stock_items

KINDS_PROPOSED = (
    Kind.UNKNOWN_REASON,
    Kind.SKU_NOT_FOUND,
    Kind.SKU_RENAMED_NEEDS_REVIEW,
    Kind.MISSING_TAX_CODE,
    Kind.VAT_RATE_MISMATCH,
    Kind.CUSTOMER_NOT_FOUND,
)


def propose(conn: Connection, rules_path: str | Path, owner: str | None = None) -> list[Proposal]:
    """Ranked proposals for the open exceptions (of one owner's, if given), by subject."""
    rules = read_rules(rules_path)
    client = str(rules.get("client") or "")
    table = exceptions.c
    query = sa.select(exceptions).where(
        table.status == ExceptionStatus.OPEN, table.kind.in_(KINDS_PROPOSED), table.item_id != RECONCILIATION
    )
    if owner:
        query = query.where(table.owner == owner)
    open_ = conn.execute(query.order_by(table.first_seen, table.trace_key)).all()
    if not open_:
        return []
    return_ids = sorted({row.return_id for row in open_})
    records = {
        return_id: json.loads(record)
        for return_id, record in conn.execute(
            sa.select(reveni_returns.c.return_id, return_versions.c.record)
            .select_from(returns_with_records)
            .where(reveni_returns.c.return_id.in_(return_ids))
        )
    }
    context = _Context(conn, client, rules, rules_file(rules_path))
    groups: dict[tuple[Kind, str], list[Any]] = {}  # the exceptions' rows, by kind and subject
    for row in open_:
        record = records.get(row.return_id)
        subject = context.subject(row, record) if record is not None else ""
        if subject:  # nothing to go on (an item gone from the return): no proposal
            groups.setdefault((KINDS[row.kind], subject), []).append(row)
    rejected = decisions.rejected(conn)
    found = []
    for (kind, subject), rows in groups.items():
        record = records[rows[0].return_id]
        for proposal in context.proposals(kind, subject, rows[0], record):
            if proposal.id in rejected:
                continue
            found.append(
                replace(
                    proposal,
                    exceptions=tuple(row.trace_key for row in rows),
                    return_ids=tuple(dict.fromkeys(row.return_id for row in rows)),
                    advice_only=proposal.advice_only or kind.owner == Owner.FINANCE,
                )
            )
    return found


def read_rules(path: str | Path) -> RulesDocument:
    """A rule set's YAML as data (validated separately, by rules/loader.py: the proposers
    read it with `.get`, as a file that fails validation has no proposals worth trusting)."""
    file = rules_file(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"{file}: cannot read the rule set ({error}): run `reveni-khaos rules validate`") from None
    if not isinstance(data, dict):
        raise ValueError(f"{file}: not a rule set: run `reveni-khaos rules validate`")
    return cast(RulesDocument, data)


def other_clients(file: Path) -> tuple[list[tuple[str, RulesDocument]], dict[str, list[Accepted]]]:
    """The project's other clients' rule sets (the folders beside this client's), and the
    reason mappings their files say operators accepted, by Reveni code."""
    found: list[tuple[str, RulesDocument]] = []
    accepted: dict[str, list[Accepted]] = {}
    for other in sorted(file.parent.parent.glob("*/rules.yml")):
        if other.resolve() == file.resolve():
            continue
        try:
            text = other.read_text(encoding="utf-8")
            data = yaml.safe_load(text)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # a broken neighbour is its own consultant's problem, not evidence
        if isinstance(data, dict) and isinstance(data.get("reasons"), list) and isinstance(data.get("khaos"), dict):
            client = str(data.get("client") or other.parent.name)
            rules = cast(RulesDocument, data)  # its reasons and Khaos reasons are there, read with `.get`
            found.append((client, rules))
            for code, decisions_ in decisions.noted(client, text, rules).items():
                accepted.setdefault(code, []).extend(decisions_)
    return found, accepted


class _Context:
    """What the proposers read, read once per run."""

    def __init__(self, conn: Connection, client: str, rules: RulesDocument, file: Path) -> None:
        self.conn, self.client, self.rules, self.file = conn, client, rules, file
        skus = rules.get("skus")
        self.aliases = {str(k): str(v) for k, v in ((skus.get("aliases") if skus else None) or {}).items()}
        self._stock: Stock | None = None
        self._others: list[tuple[str, RulesDocument]] | None = None
        self._accepted: dict[str, list[Accepted]] = {}

    @property
    def stock(self) -> Stock:
        if self._stock is None:
            self._stock = Stock.read(self.conn)
        return self._stock

    def subject(self, row: Any, record: Mapping[str, object]) -> str:
        """What exceptions of a kind share, so they share their proposals."""
        item = _item(record, row.item_id)
        if row.kind == Kind.UNKNOWN_REASON:
            return str(_field(item, "return_reason", "code") or "")
        if row.kind in (Kind.SKU_NOT_FOUND, Kind.SKU_RENAMED_NEEDS_REVIEW):
            return self._unknown_sku(item, KINDS[row.kind])[0]
        if row.kind == Kind.CUSTOMER_NOT_FOUND:
            return str(_field(record, "customer", "email") or "")
        return f"{self._code(str(item.get('sku') or ''))}:{item.get('tax_rate')}"

    def proposals(self, kind: Kind, subject: str, row: Any, record: Mapping[str, object]) -> Iterable[Proposal]:
        item = _item(record, row.item_id)
        if kind == Kind.UNKNOWN_REASON:
            if self._others is None:
                self._others, self._accepted = other_clients(self.file)
                for code, kept in decisions.accepted_reasons(self.conn).items():
                    self._accepted.setdefault(code, []).extend(kept)
            label = str(_field(item, "return_reason", "label") or "")
            accepted = self._accepted.get(subject, [])
            return reason_proposals(self.client, self.rules, subject, label, self._others, accepted)
        if kind in (Kind.SKU_NOT_FOUND, Kind.SKU_RENAMED_NEEDS_REVIEW):
            sku, ean, name = self._unknown_sku(item, kind)
            return (
                sku_proposals(self.client, kind, sku, ean, name, self.stock, self.aliases.get(sku, "")) if sku else []
            )
        if kind == Kind.CUSTOMER_NOT_FOUND:
            return customer_proposals(self.client, self.rules, subject, self.conn)
        code = self._code(str(item.get("sku") or ""))
        pushed = self.conn.execute(sa.select(stock_items.c.tax_rate).where(stock_items.c.stock_code == code)).scalar()
        tax = json.loads(pushed or "{}")
        return tax_proposals(self.client, kind, self.rules, _rate(item.get("tax_rate")), code, tax)

    def _code(self, sku: str) -> str:
        return self.aliases.get(sku, sku)

    def _unknown_sku(self, item: Mapping[str, object], kind: Kind) -> tuple[str, str, str]:
        """The SKU of the item (or of its exchange) that Khaos does not know as it is."""
        exchange = item.get("exchange")
        for part in (item, exchange if isinstance(exchange, dict) else {}):
            sku = str(part.get("sku") or "")
            if not sku:
                continue
            code = self._code(sku)
            unknown = code not in self.stock.items
            if unknown or (kind == Kind.SKU_RENAMED_NEEDS_REVIEW and code in self.stock.renamed):
                return sku, str(part.get("ean") or ""), str(part.get("name") or "")
        return "", "", ""


def _item(record: Mapping[str, object], item_id: str) -> Mapping[str, object]:
    items = record.get("return_items")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and str(item.get("id")) == item_id:
            return item
    return {}


def _field(record: Mapping[str, object], *path: str) -> object:
    """The value at `path` in a stored Reveni record, None where any step is missing or no object."""
    found: object = record
    for key in path:
        found = found.get(key) if isinstance(found, Mapping) else None
    return found


def _rate(value: object) -> str:
    try:
        return f"{Decimal(str(value)):.2f}" if value not in (None, "") else ""
    except InvalidOperation:
        return str(value)
