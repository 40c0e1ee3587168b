"""What a Khaos user does towards a channel, on the simulated Khaos: link the channel,
pull returns, retry failed imports, process a return, rename a stock code, export credit
notes. The admin API (`khaos_app`) runs each of these under its lock.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from reveni_khaos_sandbox.khaos_channel_client import ChannelClient, Pull
from reveni_khaos_sandbox.khaos_channel_config import ChannelError
from reveni_khaos_sandbox.khaos_data import credit_note_json, money, stock_json
from reveni_khaos_sandbox.khaos_import import MISSING_REF
from reveni_khaos_sandbox.khaos_model import Khaos
from reveni_khaos_sandbox.khaos_records import Invalid

CSV_HEADER = (
    "CreditNoteCode",
    "Date",
    "AssociatedRef",
    "SalesOrderCode",
    "URN",
    "Currency",
    "Net",
    "Tax",
    "Gross",
    "Status",
)


class KhaosUser:
    """A Khaos user's actions on one Khaos and its channel; each answers a summary as JSON."""

    def __init__(self, khaos: Khaos, client: ChannelClient, *, max_pulls: int = 1000) -> None:
        self.khaos, self.client = khaos, client
        self.max_pulls = max_pulls

    def link(self) -> dict[str, Any]:
        """What KCC does when a channel is first linked: read its config, then push the
        whole catalogue and every stock level."""
        self._require_channel()
        endpoints = self.client.read_config()
        items = list(self.khaos.stock.values())
        return {
            "config": {name: endpoint.json() for name, endpoint in endpoints.items()},
            "stock_upload": self.client.push_stock(self.khaos, items),
            "stock_status_upload": self.client.push_levels(self.khaos, items),
        }

    def poll(self) -> dict[str, Any]:
        """Pull until a pull brings no returns, importing each."""
        self._require_channel()
        summary = _summary()
        summary["pushes_sent_again"] = self.client.send_unsent()
        moved: set[str] = set()
        for _ in range(self.max_pulls):
            pull = self.client.pull_returns()
            summary["pulls"] += 1
            if pull.error:
                summary["errors"].append(pull.error)
                break
            if not pull.returns:
                break
            self._import(pull, "pull", summary, moved)
        else:
            summary["errors"].append(f"Stopped after {self.max_pulls} pulls that all brought returns")
        summary["levels_pushed"] = self._push_levels(moved)
        summary["continuation"] = self.client.continuation
        return summary

    def pull_once(self) -> dict[str, Any]:
        """What Khaos does on its own clock: one pull per CReturnDownload Frequency."""
        self._require_channel()
        summary = {**_summary(), "pushes_sent_again": self.client.send_unsent(), "pulls": 1}
        pull = self.client.pull_returns()
        moved: set[str] = set()
        if pull.error:
            summary["errors"].append(pull.error)
        else:
            self._import(pull, "pull", summary, moved)
        summary["levels_pushed"] = self._push_levels(moved)
        summary["continuation"] = self.client.continuation
        return summary

    def retry(self, refs: list[str] | None) -> dict[str, Any]:
        """Retry failed imports: one pull naming them in SpecificIDs. Only what was asked
        for is imported; the continuation stays where it was."""
        if refs is None:
            refs = [
                ref for ref, record in self.khaos.pulled.items() if record.status == "failed" and ref != MISSING_REF
            ]
        summary = {**_summary(), "requested": refs, "unrequested": [], "not_served": []}
        if not refs:
            return summary
        self._require_channel()
        pull = self.client.pull_returns(specific_ids=refs)
        summary["pulls"] = 1
        if pull.error:
            summary["errors"].append(pull.error)
            return summary
        served = [doc for doc in pull.returns if isinstance(doc, dict) and str(doc.get("AssociatedRef", "")) in refs]
        summary["unrequested"] = [
            str(doc.get("AssociatedRef", "")) if isinstance(doc, dict) else "?"
            for doc in pull.returns
            if doc not in served
        ]
        summary["not_served"] = [ref for ref in refs if ref not in {str(doc.get("AssociatedRef")) for doc in served}]
        pull.returns = served
        moved: set[str] = set()
        self._import(pull, "retry", summary, moved)
        summary["levels_pushed"] = self._push_levels(moved)
        return summary

    def process(self, ref: str) -> dict[str, Any]:
        note, moved = self.khaos.process(ref)
        return {**credit_note_json(note), "levels_pushed": self._push_levels(moved)}

    def rename(self, stock_id: str, stock_code: str) -> dict[str, Any]:
        item = self.khaos.rename(stock_id, stock_code)
        return {
            **stock_json(item, self.khaos),
            "pushed": self._safely(lambda: self.client.push_stock(self.khaos, [item])),
        }

    def export_credit_notes(self) -> str:
        """The export a finance user would take into a spreadsheet."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(CSV_HEADER)
        for n in self.khaos.credit_notes:
            writer.writerow(
                (
                    n.code,
                    n.issued.isoformat(),
                    n.associated_ref,
                    n.sales_order_code,
                    n.urn,
                    n.currency,
                    money(n.net),
                    money(n.tax),
                    money(n.gross),
                    n.status,
                )
            )
        return out.getvalue()

    def _require_channel(self) -> None:
        if not self.client.config_url:
            raise Invalid("config_url: no channel is set; POST /_sandbox/channel or start with --channel-config-url")

    def _import(self, pull: Pull, via: str, summary: dict[str, Any], moved: set[str]) -> None:
        summary["returns"] += len(pull.returns)
        for document in pull.returns:
            outcome = self.khaos.import_return(document, api_version=pull.api_version, via=via, fmt=pull.format)
            ref = outcome.associated_ref
            if outcome.imported:
                pull.imported.append(ref)
                summary["imported"].append(ref)
                summary["failed"].pop(ref, None)
            else:
                pull.failed[ref] = outcome.reasons
                summary["failed"][ref] = outcome.reasons
            if outcome.credit_note is not None:
                summary["processed"].append(ref)
                moved |= outcome.moved_stock_ids

    def _push_levels(self, stock_ids: set[str]) -> dict[str, Any] | None:
        if not stock_ids:
            return None
        items = [self.khaos.stock[stock_id] for stock_id in sorted(stock_ids)]
        return self._safely(lambda: self.client.push_levels(self.khaos, items))

    def _safely(self, push: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """A push that cannot even start (no channel, unreadable config) is recorded, not raised."""
        try:
            return push()
        except ChannelError as error:
            return {"ok": False, "error": str(error)}


def _summary() -> dict[str, Any]:
    return {"pulls": 0, "returns": 0, "imported": [], "failed": {}, "processed": [], "errors": []}
