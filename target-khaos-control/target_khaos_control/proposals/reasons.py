"""Proposals for `unknown_reason`: which Khaos reason (and so disposition) a new Reveni
reason code should map to, from three kinds of evidence, strongest first:

- operators: the same Reveni code accepted for another client (`decisions`);
- other clients in this project: how their rule sets map the same code;
- this client: its rules for codes alike in words, the synonyms table, and its Khaos
  reasons' names.

A candidate supported by several sources ranks higher; two candidates close together are
never "likely". A reason the evidence calls unsellable (faulty, damaged, or mapped to
quarantine or write-off elsewhere) is never proposed with a disposition that restocks it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from target_khaos_control.exception_kinds import Kind
from target_khaos_control.proposals.model import APPEND, LIKELY, Edit, Proposal
from target_khaos_control.proposals.words import UNSELLABLE, alike, meanings, words
from target_khaos_control.rules.rules_document import KhaosReason, ReasonEntry, RulesDocument

DISPOSITION = {  # Khaos's processing -> the rules' disposition (rules/loader.py PROCESSING, inverted)
    "return_to_stock": "restock",
    "quarantine": "quarantine",
    "write_off": "write_off",
    "return_to_supplier": "return_to_supplier",
}
RESTOCK = "return_to_stock"
ALIKE = 80  # codes or labels this alike (0-100) count as evidence


KhaosReasons = dict[str, KhaosReason]  # Khaos reason ID -> its name, processing and site


@dataclass(frozen=True)
class Accepted:
    """A mapping an operator accepted for some client: its Khaos reason in words."""

    client: str
    name: str  # the Khaos reason's name, e.g. "Faulty"
    processing: str
    by: str
    on: str


@dataclass
class _Candidates:
    support: dict[str, list[tuple[int, str, str]]]  # Khaos reason id -> (score, source, evidence)
    unsellable: list[str]

    def add(self, khaos_id: str, score: int, source: str, evidence: str) -> None:
        self.support.setdefault(khaos_id, []).append((score, source, evidence))


def reason_proposals(
    client: str,
    rules: RulesDocument,
    code: str,
    label: str,
    others: Iterable[tuple[str, RulesDocument]] = (),
    accepted: Iterable[Accepted] = (),
) -> list[Proposal]:
    """Ranked proposals for mapping Reveni reason `code` (shown to shoppers as `label`)."""
    khaos: KhaosReasons = {str(k): v for k, v in rules["khaos"]["return_reasons"].items()}
    found = _Candidates({}, [])
    said = meanings(code) | meanings(label)
    _from_operators(found, khaos, code, accepted)
    _from_other_clients(found, khaos, code, others)
    _from_this_client(found, khaos, code, label, said, rules.get("reasons") or [])
    found.unsellable += [f"it means {m}" for m in sorted(said & UNSELLABLE)]
    return _ranked(client, code, khaos, found, ambiguous=len(said) > 1)


def _from_operators(found: _Candidates, khaos: KhaosReasons, code: str, accepted: Iterable[Accepted]) -> None:
    for decision in accepted:
        for khaos_id in _same_reason(khaos, decision.name, decision.processing):
            found.add(
                khaos_id,
                97,
                "operators",
                f"{decision.by} accepted {code!r} as Khaos reason \u201c{decision.name}\u201d for "
                f"{decision.client} on {decision.on}",
            )
        if decision.processing != RESTOCK:
            found.unsellable.append(f"operators mapped it to {decision.processing} for {decision.client}")


def _from_other_clients(
    found: _Candidates, khaos: KhaosReasons, code: str, others: Iterable[tuple[str, RulesDocument]]
) -> None:
    for other_client, other in others:
        rule = general_rules(other.get("reasons") or []).get(code)
        theirs = other.get("khaos")
        their = theirs.get("return_reasons", {}).get(str(rule["khaos_reason"])) if rule and theirs else None
        if not their:
            continue
        if their["processing"] != RESTOCK:
            found.unsellable.append(f"{other_client} {DISPOSITION[their['processing']]}s it")
        for khaos_id in _same_reason(khaos, their["name"], their["processing"]):
            found.add(
                khaos_id,
                90,
                f"client {other_client}",
                f"client {other_client} maps {code!r} to Khaos reason \u201c{their['name']}\u201d "
                f"({DISPOSITION[their['processing']]})",
            )


def _from_this_client(
    found: _Candidates,
    khaos: KhaosReasons,
    code: str,
    label: str,
    said: set[str],
    rules: list[ReasonEntry],
) -> None:
    """This client's rules for codes alike in words or meaning, and its Khaos reasons' names."""
    described = f"{code!r}" + (f" (\u201c{label}\u201d)" if label else "")
    for known_code, rule in general_rules(rules).items():
        theirs = khaos.get(str(rule["khaos_reason"]))
        if theirs is None:
            continue
        mapped = f"which this client maps to \u201c{theirs['name']}\u201d ({rule['disposition']})"
        score = max(alike(code, known_code), alike(label, known_code) if label else 0)
        if score >= ALIKE:
            found.add(
                str(rule["khaos_reason"]), score - 6, "alike", f"{described} is {score}% alike {known_code!r}, {mapped}"
            )
            if theirs["processing"] != RESTOCK:
                found.unsellable.append(f"the alike {known_code!r} is {rule['disposition']}")
        shared = sorted(said & meanings(known_code))
        if shared:
            found.add(
                str(rule["khaos_reason"]),
                84,
                "synonyms",
                f"{described} means {_plain(shared[0])}, as {known_code!r} does, {mapped}",
            )
    for khaos_id, reason in khaos.items():
        name = str(reason["name"])
        shared = sorted(said & meanings(name))
        if shared:
            found.add(
                khaos_id, 78, "names", f"{described} and Khaos reason \u201c{name}\u201d both mean {_plain(shared[0])}"
            )
        score = max(alike(label, name) if label else 0, alike(code, name))
        if score >= ALIKE:
            found.add(khaos_id, score - 12, "names", f"{described} is {score}% alike Khaos reason \u201c{name}\u201d")


def _plain(meaning: str) -> str:
    return meaning.replace("_", " ")


def _ranked(client: str, code: str, khaos: KhaosReasons, found: _Candidates, ambiguous: bool) -> list[Proposal]:
    scored, dropped = [], False
    for khaos_id, support in found.support.items():
        reason = khaos[khaos_id]
        if found.unsellable and reason["processing"] == RESTOCK:
            dropped = True  # never restock what the evidence calls unsellable
            continue
        best = max(score for score, _, _ in support)
        sources = {source for _, source, _ in support}
        evidence = tuple(dict.fromkeys(why for _, _, why in sorted(support, key=lambda s: -s[0])))
        scored.append((min(99, best + 3 * (len(sources) - 1)), khaos_id, evidence))
    scored.sort(key=lambda entry: (-entry[0], entry[1]))
    proposals = []
    for rank, (score, khaos_id, evidence) in enumerate(scored[:3]):
        close = len(scored) > 1 and scored[1][0] >= scored[0][0] - 5
        if rank > 0 or close or ambiguous:
            score = min(score, LIKELY - 5)  # only a clear first is likely; else a person chooses
        reason = khaos[khaos_id]
        disposition = DISPOSITION[reason["processing"]]
        notes = (f"not restocked: {'; '.join(dict.fromkeys(found.unsellable))}",) if dropped else ()
        proposals.append(
            Proposal(
                client=client,
                kind=Kind.UNKNOWN_REASON,
                subject=code,
                edit=Edit(("reasons", APPEND), {"reason": code, "khaos_reason": khaos_id, "disposition": disposition}),
                confidence=score,
                evidence=evidence + notes,
                meaning=f"{reason['name']}|{reason['processing']}",
            )
        )
    return proposals


def _same_reason(khaos: KhaosReasons, name: str, processing: str) -> list[str]:
    """This client's Khaos reasons that are the one named elsewhere: same processing, and
    the same name in words (clients name them a little differently)."""
    return [
        khaos_id
        for khaos_id, reason in khaos.items()
        if reason["processing"] == processing
        and (words(str(reason["name"])) == words(name) or alike(str(reason["name"]), name) >= 90)
    ]


def general_rules(rules: list[ReasonEntry]) -> dict[str, ReasonEntry]:
    """Each Reveni code a client maps, and its rule for any verdict (the one without
    `verdict`, `reject_reason` or `when`; else the first that names it)."""
    found: dict[str, ReasonEntry] = {}
    for rule in rules:
        if not isinstance(rule, dict) or "reason" not in rule:
            continue
        general = not any(key in rule for key in ("verdict", "reject_reason", "when"))
        for code in [rule["reason"]] if isinstance(rule["reason"], str) else rule["reason"]:
            if code not in found or (general and any(k in found[code] for k in ("verdict", "reject_reason", "when"))):
                found[str(code)] = rule
    return found
