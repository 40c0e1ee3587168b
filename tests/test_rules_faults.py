"""A rule set that passes validation never stops the target, and validation is bounded.

A mistake a rule makes while it runs (a division by zero, an index out of range, text
compared with a number) is the rules' `rule_template_failed`, naming the template, its
file and line, never an `invalid_record` blaming Reveni's data. What can be known at load
(`truncate(-5)`) is refused there. A rule set past the documented size, nested past the
documented depth, holding a number Python cannot read, or that is no regular file is
refused at once. Each test carries a timeout well above what it needs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from target_khaos_control.rules import RuleSetError, load_ruleset
from target_khaos_control.rules.loader import MAX_REASON_RULES, MAX_TAX_RATES

from tests.rulesets import refusals, write_rules
from tests.servers import DEMO_RULES
from tests.test_target_khaos_control import _a_return

DEMO = (DEMO_RULES / "rules.yml").read_text()
NOTES = '  notes: "Reveni return {{ id }} for order {{ order.number }}, refund by {{ refund_method }}"\n'
REASONS = "\nreasons:\n"
RATES = "  rates:                 # check only (Khaos takes VAT from its stock item): rate -> Khaos tax code\n"


def _with_notes(template: str) -> str:
    assert NOTES in DEMO
    return DEMO.replace(NOTES, f"  notes: {template}\n")


def _line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.parametrize("length", ["-5", "2", "'ten'"])
def test_a_truncate_jinja_would_refuse_on_the_first_record_is_refused_at_load(tmp_path: Path, length: str) -> None:
    text = _with_notes(f'"{{{{ id | truncate({length}) }}}}"')

    errors = refusals(tmp_path, text)

    assert len(errors) == 1
    assert f":{_line_of(text, 'truncate')}:" in errors[0]
    assert "truncate's length is" in errors[0]
    assert "at least 3" in errors[0]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("template", "raised"),
    [
        ('"{{ 10 / (return_items | length - 1) }}"', "ZeroDivisionError"),
        ('"{{ return_items[5].sku }}"', "reads past the end of a list"),
        ("\"{{ 'big' if total > 5 else 'small' }}\"", "TypeError"),
        ('"{{ id | truncate(length=refunded_amount | abs | round | string | length) }}"', "AssertionError"),
    ],
)
def test_a_rule_that_fails_on_a_record_is_the_rules_exception_naming_file_and_line(
    tmp_path: Path, template: str, raised: str
) -> None:
    text = _with_notes(template)
    folder = write_rules(tmp_path, text)
    ruleset = load_ruleset(folder)

    draft = ruleset.draft(_a_return("accepted"))

    assert [p.kind for p in draft.problems] == ["rule_template_failed"]
    message = draft.problems[0].message
    assert "the rules' template `references.notes` was stopped" in message
    assert raised in message
    assert f"{folder / 'rules.yml'}:{_line_of(text, '  notes:')}" in message
    assert draft.lines == []


# --- bounded: size, depth, numbers, files -----------------------------------------------------


def _reason_rules(count: int) -> str:
    extra = "".join(f'  - {{reason: code_{n}, khaos_reason: "1", disposition: restock}}\n' for n in range(count))
    return DEMO.replace(REASONS, REASONS + extra, 1)


@pytest.mark.timeout(10)
def test_reason_rules_up_to_the_limit_are_validated(tmp_path: Path) -> None:
    ruleset = load_ruleset(write_rules(tmp_path, _reason_rules(MAX_REASON_RULES - 20)))

    assert len(ruleset.reasons) > MAX_REASON_RULES - 20


@pytest.mark.timeout(10)
def test_fifteen_thousand_reason_rules_are_refused_at_once(tmp_path: Path) -> None:
    errors = refusals(tmp_path, _reason_rules(15_000))

    assert errors == [
        f"{tmp_path / 'client' / 'rules.yml'}:1:1: the rule set has {15_000 + DEMO.count('- reason:')} reason rules; "
        f"at most {MAX_REASON_RULES} are allowed (docs/consultant.md)"
    ]


@pytest.mark.timeout(10)
def test_twenty_thousand_tax_rates_are_refused_at_once(tmp_path: Path) -> None:
    assert RATES in DEMO
    rates = "".join(f'    - {{rate: "{n}.{n % 100:02d}", code: "1"}}\n' for n in range(20_000))

    errors = refusals(tmp_path, DEMO.replace(RATES, RATES + rates, 1))

    assert len(errors) == 1
    assert f"tax rates; at most {MAX_TAX_RATES} are allowed" in errors[0]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "template",
    [
        '"{{ ' + "(" * 300 + "id" + ")" * 300 + ' }}"',
        '"{{ ' + "not " * 500 + 'refunded }}"',
        '"' + "{% if refunded %}" * 200 + "x" + "{% endif %}" * 200 + '"',
    ],
    ids=["300 parentheses", "500 nots", "200 nested ifs"],
)
def test_a_template_nested_too_deeply_is_refused_not_crashed_on(tmp_path: Path, template: str) -> None:
    text = _with_notes(template)

    errors = refusals(tmp_path, text)

    assert len(errors) == 1
    assert f":{_line_of(text, '  notes:')}:" in errors[0]
    assert "nested too deeply; at most 40 levels" in errors[0]


@pytest.mark.timeout(10)
def test_a_fifty_thousand_digit_number_is_refused_at_its_line(tmp_path: Path) -> None:
    text = DEMO.replace('  tolerance: "0.01"', "  tolerance: " + "9" * 50_000, 1)

    errors = refusals(tmp_path, text)

    assert len(errors) == 1
    assert f":{_line_of(text, '  tolerance:')}:" in errors[0]
    assert "not valid rule-set YAML" in errors[0]
    assert "9" * 100 not in errors[0]


@pytest.mark.timeout(10)
def test_a_fifo_named_rules_yml_is_refused_never_read(tmp_path: Path) -> None:
    folder = tmp_path / "client"
    folder.mkdir()
    os.mkfifo(folder / "rules.yml")  # opening it to read would wait for a writer for ever

    with pytest.raises(RuleSetError, match="not a regular file") as refused:
        load_ruleset(folder)

    assert refused.value.errors[0].startswith(f"{folder / 'rules.yml'}:1:1: ")


@pytest.mark.timeout(10)
def test_a_device_named_rules_yml_is_refused_never_read(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").symlink_to("/dev/zero")  # an endless file

    with pytest.raises(RuleSetError, match="not a regular file") as refused:
        load_ruleset(tmp_path)

    assert len(refused.value.errors) == 1
