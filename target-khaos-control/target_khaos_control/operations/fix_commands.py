"""`reveni-khaos fix list | accept | reject`: the exceptions that come with their fix.

`accept` writes the proposal into the client's rules.yml keeping its comments and order,
and only keeps the change if the rule set still validates, its golden cases pass, and
replaying the exceptions' returns works: on any failure the file is left as it was.
Before writing it shows what would change (`rules preview --against` the rules as they
are): the returns released and the money that moves, per currency. A proposal that
touches what Khaos credits is never accepted by command: money stays with people.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import TextIO, TypedDict

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from target_khaos_control.operations import commands
from target_khaos_control.operations.rules_commands import changes
from target_khaos_control.proposals import Proposal, decisions, propose
from target_khaos_control.rules.catalogue import Catalogue
from target_khaos_control.rules.editing import EditError, apply_edit, diff
from target_khaos_control.rules.engine import RuleSet
from target_khaos_control.rules.golden import outcome, run_cases
from target_khaos_control.rules.loader import RuleSetError, load_ruleset, rules_file
from target_khaos_control.store import exceptions, now, return_versions, returns_with_records, reveni_returns


def list_fixes(engine: Engine, rules_path: str, owner: str | None, fmt: str, out: TextIO = sys.stdout) -> int:
    """Print the open exceptions' proposals, best first within each subject."""
    with engine.connect() as conn:
        found = propose(conn, rules_path, owner)
        entries = [as_entry(proposal, _held(conn, proposal)) for proposal in found]
    if fmt == "json":
        print(json.dumps(entries, indent=2, ensure_ascii=False), file=out)
        return 0
    for entry in entries:
        proposal = entry["proposal"]
        change = f"{proposal['path']}: {json.dumps(proposal['value'])}" if proposal else "(no rule change)"
        held = ", ".join(f"{amount} {currency}" for currency, amount in entry["impact"]["held"].items())
        print(
            f"{entry['id']}  {entry['kind']} {entry['subject']!r}  {entry['confidence']}% "
            f"{'likely' if entry['likely'] else 'possible'}\n"
            f"    {change}\n"
            + "".join(f"    because {why}\n" for why in entry["evidence"])
            + f"    {entry['impact']['exceptions']} exception(s) on {entry['impact']['returns']} return(s)"
            + (f", {held} held" if held else "")
            + "\n"
            + (f"    {entry['advice']}\n" if entry["advice_only"] else f"    accept: {entry['command']}\n"),
            file=out,
        )
    print(f"{len(entries)} proposal(s)", file=out)
    return 0


class Impact(TypedDict):
    """What accepting a proposal would touch."""

    exceptions: int
    returns: int
    held: dict[str, str]


class ProposedEdit(TypedDict):
    """The change to rules.yml: where, and the value set there."""

    path: str
    value: object


class FixEntry(TypedDict):
    """One proposal as `fix list` shows it."""

    id: str
    exception_id: str
    exceptions: list[str]
    kind: str
    owner: str
    subject: str
    proposal: ProposedEdit | None
    confidence: int
    likely: bool
    evidence: list[str]
    impact: Impact
    advice_only: bool
    advice: str
    command: str


def as_entry(proposal: Proposal, held: dict[str, str]) -> FixEntry:
    """One proposal as `fix list --format json` shows it."""
    return {
        "id": proposal.id,
        "exception_id": proposal.exceptions[0] if proposal.exceptions else "",
        "exceptions": list(proposal.exceptions),
        "kind": proposal.kind,
        "owner": str(proposal.kind.owner),
        "subject": proposal.subject,
        "proposal": {"path": proposal.edit.where, "value": proposal.edit.value} if proposal.edit else None,
        "confidence": proposal.confidence,
        "likely": proposal.likely,
        "evidence": list(proposal.evidence),
        "impact": {
            "exceptions": len(proposal.exceptions),
            "returns": len(proposal.return_ids),
            "held": held,
        },
        "advice_only": proposal.for_people,
        "advice": proposal.advice
        or ("Money stays with people: make this change by hand." if proposal.for_people else ""),
        "command": proposal.command,
    }


def accept(
    engine: Engine, rules_path: str, proposal_id: str, *, dry_run: bool, by: str = "", out: TextIO = sys.stdout
) -> int:
    """Write the proposal into rules.yml, check it, show its impact, replay; or change nothing."""
    file = rules_file(rules_path)
    with engine.connect() as conn:
        proposal = _find(conn, rules_path, proposal_id)
    if proposal.for_people or proposal.edit is None:
        print(
            f"{proposal.id} is not accepted by command: it would change what Khaos credits, so it is "
            f"{proposal.kind.owner}'s to decide and make by hand. "
            + (
                f"The evidence points to `{proposal.edit.where}: {json.dumps(proposal.edit.value)}`. "
                if proposal.edit
                else ""
            )
            + (proposal.advice or ""),
            file=out,
        )
        return 1
    before, by = file.read_text(encoding="utf-8"), by or _login()
    try:
        after = apply_edit(before, proposal.edit.path, proposal.edit.value, decisions.note(by, now(), proposal.id))
    except EditError as error:
        print(f"{file}: cannot write {proposal.edit.where}: {error}; the file is unchanged", file=out)
        return 1
    print(diff(before, after, file.name), file=out, end="")
    if dry_run:
        print("--dry-run: nothing written", file=out)
        return 0
    trial = file.with_name(f".{file.name}.{proposal.id}")
    try:
        trial.write_text(after, encoding="utf-8")
        checked = _check(engine, file, trial, proposal, out)
        if checked is None:
            print(f"{file} is unchanged", file=out)
            return 1
        os.replace(trial, file)
    finally:
        trial.unlink(missing_ok=True)
    try:
        commands.replay(engine, str(rules_path), ids=list(proposal.return_ids), kinds=[], owners=[], out=out)
    except Exception:
        file.write_text(before, encoding="utf-8")  # the replay failed: the rules stay as they were
        print(f"the replay failed: {file} is back as it was", file=out)
        raise
    with engine.begin() as conn:
        decisions.record(conn, proposal, decisions.ACCEPTED, by, now())
    print(f"{proposal.id} accepted into {file}", file=out)
    return 0


def reject(engine: Engine, rules_path: str, proposal_id: str, *, by: str = "", out: TextIO = sys.stdout) -> int:
    """Record that a person rejected a proposal: it is not offered again for its subject."""
    with engine.begin() as conn:
        proposal = _find(conn, rules_path, proposal_id)
        decisions.record(conn, proposal, decisions.REJECTED, by or _login(), now())
    print(f"{proposal.id} rejected: {proposal.kind} {proposal.subject!r} will not be offered it again", file=out)
    return 0


def _login() -> str:
    """Who is deciding, when `--by` does not say: the login name, as `git` would take it."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a container with no user entry
        return "unknown"


def _find(conn: Connection, rules_path: str, proposal_id: str) -> Proposal:
    found = {proposal.id: proposal for proposal in propose(conn, rules_path)}
    if proposal_id not in found:
        known = ", ".join(sorted(found)) or "none"
        raise ValueError(f"no open proposal {proposal_id!r} (open now: {known}); run `reveni-khaos fix list`")
    return found[proposal_id]


def _check(engine: Engine, file: Path, trial: Path, proposal: Proposal, out: TextIO) -> RuleSet | None:
    """Validate the changed rules, run the golden cases, show the impact; None if any fails."""
    try:
        old = load_ruleset(file)
    except RuleSetError as error:
        print("\n".join(error.errors), file=out)
        print("the rule set is not valid as it is: fix it first (`reveni-khaos rules validate`)", file=out)
        return None
    try:
        new = load_ruleset(trial)
    except RuleSetError as error:
        print("\n".join(e.replace(str(trial), str(file)) for e in error.errors), file=out)
        print("the changed rule set is not valid", file=out)
        return None
    print(f"{file}: valid rule set for {new.client!r} (hash {new.content_hash[:12]})", file=out)
    if (file.parent / "tests" / "base.yaml").exists():
        results = run_cases(new, file.parent)
        failed = [result for result in results if result.failures]
        for result in failed:
            print(f"FAIL {result.file.name}: {result.name}: {'; '.join(result.failures)}", file=out)
        print(f"golden cases: {len(results) - len(failed)} passed, {len(failed)} failed", file=out)
        if failed:
            return None
    else:
        print(f"golden cases: none under {file.parent / 'tests'}", file=out)
    with engine.connect() as conn:
        _impact(conn, old, new, proposal, out)
    return new


def _impact(conn: Connection, old: RuleSet, new: RuleSet, proposal: Proposal, out: TextIO) -> None:
    """`rules preview --against` the rules as they are, on the exceptions' returns."""
    rows = conn.execute(
        sa.select(return_versions.c.record)
        .select_from(returns_with_records)
        .where(reveni_returns.c.return_id.in_(proposal.return_ids))
    ).scalars()
    catalogue = Catalogue.read(conn)
    released, moved = 0, dict[str, Decimal]()
    for record in (json.loads(row) for row in rows):
        old_draft, new_draft = old.draft(record, catalogue), new.draft(record, catalogue)
        before, after = outcome(old_draft), outcome(new_draft)
        if before == after:
            continue
        print(f"{record.get('id')} (order {record.get('order', {}).get('number')}):", file=out)
        for change in changes(before, after):
            print(f"    {change}", file=out)
        released += len(after["lines"]) > len(before["lines"])
        currency = new_draft.currency
        moved[currency] = moved.get(currency, Decimal("0.00")) + new_draft.credit - old_draft.credit
    money = ", ".join(f"{amount:+.2f} {currency}" for currency, amount in sorted(moved.items())) or "none"
    print(f"impact: {released} of {len(proposal.return_ids)} return(s) released; money that moves: {money}", file=out)


def _held(conn: Connection, proposal: Proposal) -> dict[str, str]:
    """What the exceptions hold back from Khaos, per currency: their items' totals."""
    rows = conn.execute(
        sa.select(exceptions.c.item_id, return_versions.c.record)
        .select_from(exceptions.join(returns_with_records, reveni_returns.c.return_id == exceptions.c.return_id))
        .where(exceptions.c.trace_key.in_(proposal.exceptions))
    ).all()
    held: dict[str, Decimal] = {}
    for item_id, text in rows:
        record = json.loads(text)
        items = [i for i in record.get("return_items") or [] if str(i.get("id")) == item_id]
        total = items[0].get("total") if items else record.get("total")
        try:
            held[str(record.get("currency"))] = held.get(str(record.get("currency")), Decimal(0)) + Decimal(str(total))
        except ArithmeticError:
            continue
    return {currency: f"{amount:.2f}" for currency, amount in sorted(held.items())}
