"""A key written twice in a rule file is refused with both places: YAML alone keeps the
last one and drops the first without a word (issue 19)."""

from __future__ import annotations

from pathlib import Path

from target_khaos_control.rules import load_ruleset

from tests.rulesets import refusals, write_rules
from tests.servers import DEMO_RULES

DEMO = (DEMO_RULES / "rules.yml").read_text()
ALIASES = "  aliases:                        # SKUs Reveni still sends -> current Khaos stock codes\n"
ALIAS = "    HOOD-GRY-M: HOODIE-GREY-M\n"
LEARNED = "  learned_renames: review"


def _line_of(text: str, fragment: str, occurrence: int = 1) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), 1) if fragment in line]
    return lines[occurrence - 1]


def _messages(errors: list[str], file: Path) -> list[str]:
    return [error.removeprefix(f"{file}:") for error in errors]


def test_a_second_aliases_block_is_refused_naming_the_first(tmp_path: Path) -> None:
    # given a second `aliases:` block further down `skus:`, which YAML would keep alone
    assert ALIASES + ALIAS in DEMO
    assert LEARNED in DEMO
    text = DEMO.replace(LEARNED, "  aliases:\n    TEE-BLK-S: TSHIRT-BLACK-S\n" + LEARNED)
    first, second = _line_of(text, "  aliases:"), _line_of(text, "  aliases:", 2)

    errors = refusals(tmp_path, text)

    # expect one error, at the second block, naming the first one's line
    assert _messages(errors, tmp_path / "client" / "rules.yml") == [
        f"{second}:3: `aliases` is written twice under `skus`: first at line {first}, column 3; "
        "keep one (YAML keeps only the last)"
    ]


def test_the_same_alias_twice_is_refused(tmp_path: Path) -> None:
    # given HOOD-GRY-M aliased twice, the second time to another stock code
    text = DEMO.replace(ALIAS, ALIAS + "    TEE-BLK-S: TSHIRT-BLACK-S\n    HOOD-GRY-M: HOODIE-GREY-L\n")
    first, second = _line_of(text, "HOOD-GRY-M:"), _line_of(text, "HOOD-GRY-M:", 2)

    errors = refusals(tmp_path, text)

    assert errors == [
        f"{tmp_path / 'client' / 'rules.yml'}:{second}:5: `HOOD-GRY-M` is written twice under `skus.aliases`: "
        f"first at line {first}, column 5; keep one (YAML keeps only the last)"
    ]


def test_every_key_written_twice_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    # given `client:` twice at the top, a customer twice in a table, and StockCode twice in
    # skus.mapping
    text = (
        DEMO.replace("client: demo\n", "client: demo\nclient: other\n")
        .replace("    cust0002@example.com: CUST0002\n", "    cust0002@example.com: CUST0002\n" * 2)
        .replace("mapping: [StockCode, Barcode]", "mapping: [StockCode, Barcode, StockCode]")
    )

    errors = _messages(refusals(tmp_path, text), tmp_path / "client" / "rules.yml")

    client, mapping = _line_of(text, "client: other"), _line_of(text, "mapping: [StockCode")
    customer = _line_of(text, "cust0002@example.com", 2)
    assert len(errors) == 3
    assert errors[0].startswith(f"{client}:1: `client` is written twice at the top of the rule set: first at line 7,")
    assert errors[1].startswith(f"{mapping}:")
    assert f"`StockCode` is written twice in `skus.mapping`: first at line {mapping}" in errors[1]
    assert errors[2].startswith(f"{customer}:5: `cust0002@example.com` is written twice under `tables.customer_urns`")


def test_a_key_a_yaml_merge_overrides_is_not_a_duplicate(tmp_path: Path) -> None:
    # given a table built from another with `<<:` and one of its keys overridden
    text = DEMO.replace(
        "  customer_urns:\n",
        "  base_urns: &base\n    shared@example.com: CUST0100\n"
        "  other_urns:\n    <<: *base\n    shared@example.com: CUST0200\n"
        "  customer_urns:\n",
    )

    ruleset = load_ruleset(write_rules(tmp_path, text))

    # expect the rule set loads, with the override in force
    assert ruleset.tables["other_urns"] == {"shared@example.com": "CUST0200"}
    assert ruleset.tables["base_urns"] == {"shared@example.com": "CUST0100"}
