"""Hostile rule files: each attack is refused at load, or stopped while it runs, in a
moment, with an error that says what was refused and where.

Each test carries a timeout well above what it needs: before these limits, the same
inputs ran for minutes (constant folding at load, alias expansion, a 52 MB file) or for
seconds per return (a long loop)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from target_khaos_control.rules import load_ruleset, templates
from target_khaos_control.rules.engine import RuleSet
from target_khaos_control.rules.golden import build_return

from tests.rulesets import refusals, write_rules
from tests.servers import DEMO_RULES

DEMO = (DEMO_RULES / "rules.yml").read_text()
BASE = yaml.safe_load((DEMO_RULES / "tests" / "base.yaml").read_text())
NOTES = '  notes: "Reveni return {{ id }} for order {{ order.number }}, refund by {{ refund_method }}"\n'


def _with_notes(template: str) -> str:
    assert NOTES in DEMO
    return DEMO.replace(NOTES, f"  notes: {template}\n")


def _line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


# --- templates: refused at load -----------------------------------------------------------


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("\"{{ 'a' * 10**9 }}\"", "it would make 1000000000 characters or items; the limit is 10000"),
        ('"{{ 10 ** (10 ** 10) }}"', "would have about 10000000000 digits; the limit is 100"),
        ('"{{ 9 ** 9 ** 9 ** 9 }}"', "digits; the limit is 100"),
        ("\"{{ ['x'] * 10**8 }}\"", "it would make 200000000 characters or items"),
        ("\"{{ 'a' * 9000 ~ 'b' * 9000 }}\"", "it made 18000 characters or items; the limit is 10000"),
        ("\"{{ '%0999999999d' % 1 }}\"", "`%` formats text, which templates may not do"),
        ("\"{{ [['x'] * 5000] * 5000 }}\"", "it would make 25010000 characters or items"),
        ('"{% set a = id %}{{ a }}"', "templates may not use `set`"),
        ('"{{ id }}' + " " * 20_000 + '"', "the template is 20008 characters long; the limit is 10000"),
        ("\"{% for c in 'x' * 5000 %}{% for d in 'y' * 5000 %}.{% endfor %}{% endfor %}\"", "a loop of 5000 turns"),
        ("\"{% include 'other' %}\"", "templates may not use `include`"),
        ('"{% macro m() %}x{% endmacro %}"', "templates may not use `macro`"),
    ],
)
def test_a_template_too_big_to_make_is_refused_at_load(tmp_path: Path, template: str, message: str) -> None:
    text = _with_notes(template)

    errors = refusals(tmp_path, text)

    assert len(errors) == 1, errors
    assert f"rules.yml:{_line_of(text, 'notes:')}:" in errors[0]
    assert "references.notes" not in errors[0] or message in errors[0]
    assert message in errors[0]


@pytest.mark.timeout(10)
def test_a_condition_too_big_to_work_out_is_refused_at_load(tmp_path: Path) -> None:
    text = DEMO.replace('publish_when: "{{ true }}"', 'publish_when: "{{ (2 ** 100000) > 1 }}"')

    errors = refusals(tmp_path, text)

    assert len(errors) == 1
    assert f"rules.yml:{_line_of(text, 'publish_when')}:" in errors[0]
    assert "digits; the limit is 100" in errors[0]


@pytest.mark.timeout(10)
def test_a_number_too_long_to_read_is_refused_at_load(tmp_path: Path) -> None:
    errors = refusals(tmp_path, _with_notes('"{{ ' + "9" * 5000 + ' }}"'))

    assert len(errors) == 1
    assert "rules.yml:" in errors[0]


# --- templates: stopped at run time, as the rules' exception --------------------------------


def _ruleset(tmp_path: Path, notes: str) -> RuleSet:
    return load_ruleset(write_rules(tmp_path, _with_notes(notes)))


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("template", "record", "message"),
    [
        ('"{{ customer.first_name * 100000 }}"', {}, "characters or items; the limit is 10000"),
        ('"{{ customer.first_name ~ customer.last_name * 5000 }}"', {}, "the limit is 10000"),
        (
            '"{% for a in customer.first_name %}{% for b in customer.first_name %}.{% endfor %}{% endfor %}"',
            {"customer": {"first_name": "x" * 9000}},
            "its loops went past 1000 turns",
        ),
        (
            '"{% for item in return_items %}{{ customer.first_name }}{% endfor %}"',
            {"customer": {"first_name": "x" * 9000}, "return_items": [{}] * 20},
            "it wrote more than 100000 characters",
        ),
        (
            "\"{{ customer.first_name | replace('x', customer.first_name) }}\"",
            {"customer": {"first_name": "x" * 5000}},
            "`replace` would make more than 10000 characters",
        ),
        (
            '"{{ return_items[0].quantity ** return_items[0].quantity }}"',
            {"return_items": [{"quantity": 99_999}]},
            "digits; the limit is 100",
        ),
        ('"{{ return_items * 1000 }}"', {}, "characters or items; the limit is 10000"),
        (
            "\"{{ customer.first_name | replace('x', customer.first_name, -1) }}\"",
            {"customer": {"first_name": "x" * 5000}},
            "`replace` would make more than 10000 characters",
        ),
        (
            '"{{ customer.first_name | join(customer.last_name) }}"',
            {"customer": {"first_name": "x" * 5000, "last_name": "y" * 5000}},
            "`join` would make more than 10000 characters",
        ),
        (
            '"{{ return_items[0].quantity ** 60 }}"',
            {"return_items": [{"quantity": 99_999}]},
            "digits; the limit is 100",
        ),
        (
            '"{{ [' + ", ".join(["customer.first_name"] * 12) + '] }}"',
            {"customer": {"first_name": "x" * 9000}},
            "it wrote more than 100000 characters",
        ),
    ],
)
def test_a_template_stopped_at_run_time_is_the_rules_exception_naming_it(
    tmp_path: Path, template: str, record: dict[str, object], message: str
) -> None:
    ruleset = _ruleset(tmp_path, template)

    draft = ruleset.draft(build_return(BASE, record))

    assert [p.kind for p in draft.problems] == ["rule_template_failed"]
    assert draft.problems[0].owner == "integration"
    assert "the rules' template `references.notes` was stopped" in draft.problems[0].message
    assert message in draft.problems[0].message
    assert draft.lines == []
    assert set(draft.outcomes.values()) == {"exception:rule_template_failed"}


@pytest.mark.timeout(10)
def test_a_when_condition_stopped_at_run_time_names_its_rule(tmp_path: Path) -> None:
    text = DEMO.replace(
        "  - reason: changed_mind\n",
        '  - reason: changed_mind\n    when: "{{ (item.name * 100000) != \'\' }}"\n    khaos_reason: "3"\n'
        "    disposition: restock\n  - reason: changed_mind\n",
        1,
    )
    ruleset = load_ruleset(write_rules(tmp_path, text))
    record = build_return(BASE, {"return_items": [{"return_reason": {"code": "changed_mind", "label": "x"}}]})

    draft = ruleset.draft(record)

    assert [p.kind for p in draft.problems] == ["rule_template_failed"]
    assert "`reasons[4].when`" in draft.problems[0].message


@pytest.mark.timeout(10)
def test_a_render_past_its_time_limit_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ruleset = _ruleset(tmp_path, '"{% for item in return_items %}{{ item.sku ~ item.name }}{% endfor %}"')
    monkeypatch.setattr(templates, "TIME_LIMIT", -1.0)  # every render is already late

    draft = ruleset.draft(build_return(BASE, {}))

    assert [p.kind for p in draft.problems] == ["rule_template_failed"]
    assert "`references.notes` was stopped: it ran longer than -1 s of CPU" in draft.problems[0].message


def test_the_loop_guard_is_not_a_filter_rule_files_may_name(tmp_path: Path) -> None:
    errors = refusals(tmp_path, _with_notes(f'"{{{{ return_items | {templates.LOOP} }}}}"'))

    assert f"filter '{templates.LOOP}' is not available" in errors[0]


def test_a_loop_over_a_returns_items_still_works(tmp_path: Path) -> None:
    ruleset = _ruleset(tmp_path, '"{% for item in return_items %}{{ item.sku }} {% endfor %}"')
    record = build_return(BASE, {"return_items": [{"sku": "A"}, {"sku": "B"}]})

    header = ruleset.draft(record).header
    assert header is not None
    assert header.Notes == "A B"


# --- the YAML itself --------------------------------------------------------------------------

BOMB = """
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


@pytest.mark.timeout(10)
def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    text = DEMO.replace("version: 1\n", f"version: 1\n{BOMB}")

    errors = refusals(tmp_path, text)

    assert len(errors) == 1
    assert "with its aliases (`*name`) expanded this would be over 200000 values: refused" in errors[0]


@pytest.mark.timeout(10)
def test_an_alias_inside_itself_is_refused(tmp_path: Path) -> None:
    errors = refusals(tmp_path, DEMO.replace("version: 1\n", "version: 1\nloop: &me [1, *me]\n"))

    assert len(errors) == 1
    assert "an alias refers to the value that contains it" in errors[0]


@pytest.mark.timeout(10)
def test_a_rules_file_of_52_mb_is_refused_unread(tmp_path: Path) -> None:
    text = DEMO + "# padding\n" * 5_200_000

    errors = refusals(tmp_path, text)

    assert errors == [
        f"{tmp_path / 'client' / 'rules.yml'}:1:1: the rule set is over 1 MB, far more than rules need: refused unread"
    ]


@pytest.mark.timeout(10)
@pytest.mark.parametrize("nesting", ["[" * 100_000 + "]" * 100_000, "- " * 50_000 + "x"])
def test_yaml_nested_beyond_reason_is_refused(tmp_path: Path, nesting: str) -> None:
    errors = refusals(tmp_path, DEMO.replace("version: 1\n", f"version: 1\ndeep:\n  {nesting}\n"))

    assert len(errors) == 1
    assert "nested too deeply" in errors[0]


# --- templates worked out without Jinja's render say what Jinja would ------------------------


@pytest.mark.parametrize(
    "template",
    [
        "Reveni return {{ id }} for order {{ order.number }}, refund by {{ refund_method }}",
        "{{ customer.email | lower | lookup('customer_urns') }}",
        "{{ customer.email | upper | lookup('customer_urns') }}",
        "  {{ customer.first_name | trim | upper }} {{ customer.address.line2 }}  ",
        "{{ 'REVENI' }}-{{ 42 }}-{{ total }}-{{ instant }}",
        "plain text",
    ],
)
def test_a_template_worked_out_directly_renders_as_jinja_would(template: str) -> None:
    env = templates.environment()
    variables = {
        **build_return(BASE, {"customer": {"first_name": " Ana ", "address": {"line2": None}}}),
        "tables": {"customer_urns": {"cust0001@example.com": "CUST0001"}},
    }
    jinja = env.from_string(template).render(variables).strip()

    assert templates.compile_text(env, template)(variables) == jinja


@pytest.mark.timeout(10)
def test_a_lone_field_too_long_to_write_is_stopped_like_any_template(tmp_path: Path) -> None:
    ruleset = _ruleset(tmp_path, '"{{ customer.first_name }}"')

    draft = ruleset.draft(build_return(BASE, {"customer": {"first_name": "x" * 200_000}}))

    assert [p.kind for p in draft.problems] == ["rule_template_failed"]
    assert "it wrote more than 100000 characters" in draft.problems[0].message


@pytest.mark.parametrize(("condition", "expected"), [("{{ true }}", True), ("{{ instant }}", False)])
def test_a_condition_of_one_constant_or_field_is_its_truth(condition: str, expected: bool) -> None:
    env = templates.environment()

    assert templates.compile_condition(env, condition)(build_return(BASE, {"instant": False})) is expected
