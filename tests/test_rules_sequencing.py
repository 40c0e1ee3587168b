"""The sequencing section decides every Reveni status and every warehouse verdict, and
names no other: each gap or stranger is its own error, at its line."""

from __future__ import annotations

from pathlib import Path

from tests.rulesets import refusals

ROOT = Path(__file__).resolve().parent.parent
DEMO = (ROOT / "rules" / "demo" / "rules.yml").read_text()


def test_a_status_and_a_verdict_left_out_are_each_named(tmp_path: Path) -> None:
    text = DEMO.replace("    shipped: publish\n", "", 1).replace("    accepted: credit\n", "", 1)

    errors = refusals(tmp_path, text)

    assert [error.split(": ", 1)[1] for error in errors] == [
        "Reveni status 'shipped' reaches no decision",
        "warehouse verdict 'accepted' reaches no decision",
    ]


def test_a_status_and_a_verdict_reveni_has_not_are_each_named_at_their_line(tmp_path: Path) -> None:
    text = DEMO.replace("    cancelled: withdraw\n", "    cancelled: withdraw\n    lost: publish\n", 1)
    text = text.replace("    rejected: skip\n", "    rejected: skip\n    damaged: skip\n", 1)

    errors = refusals(tmp_path, text)

    lines = text.splitlines()
    assert errors == [
        f"{tmp_path / 'client' / 'rules.yml'}:{lines.index('    lost: publish') + 1}:11: 'lost' is not a Reveni status",
        f"{tmp_path / 'client' / 'rules.yml'}:{lines.index('    damaged: skip') + 1}:14: "
        "'damaged' is not a warehouse verdict",
    ]
