"""Rule sets: refused with positions when wrong, safe when hostile, right when run."""

from __future__ import annotations

import json
import shutil
import tempfile
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from target_khaos_control.khaos_documents import DataItem, ExchangeItem, ReturnedItem
from target_khaos_control.rules import load_ruleset
from target_khaos_control.rules.golden import build_return

from tests.rulesets import refusals, write_rules
from tests.servers import DEMO_RULES, ReveniSandbox, reveni_khaos

DEMO = (DEMO_RULES / "rules.yml").read_text()
BASE = yaml.safe_load((DEMO_RULES / "tests" / "base.yaml").read_text())


def _line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_the_demo_rule_set_validates_and_its_golden_cases_pass() -> None:
    validated = reveni_khaos("rules", "validate", str(DEMO_RULES))
    tested = reveni_khaos("rules", "test", str(DEMO_RULES))

    assert validated.returncode == 0, validated.stdout
    assert "valid rule set for 'demo'" in validated.stdout
    assert tested.returncode == 0, tested.stdout
    passed = int(tested.stdout.strip().splitlines()[-1].split()[0])
    assert passed >= 20


def test_a_failing_golden_case_fails_the_command_and_says_why(tmp_path: Path) -> None:
    folder = tmp_path / "client"
    shutil.copytree(DEMO_RULES, folder)
    cases = folder / "tests" / "reasons.yaml"
    cases.write_text(
        cases.read_text().replace('reason: "2", disposition: quarantine', 'reason: "1", disposition: quarantine')
    )

    tested = reveni_khaos("rules", "test", str(folder))

    assert tested.returncode == 1
    assert "FAIL reasons.yaml: a faulty item goes to quarantine" in tested.stdout
    assert "lines[0].reason: expected '1', got '2'" in tested.stdout


def test_schema_errors_are_all_reported_with_their_positions(tmp_path: Path) -> None:
    text = DEMO.replace("    disposition: quarantine\n", "    disposition: quarantined\n", 1)
    text = text.replace("  prices: gross", "  prices: gross\n  currency_rounding: up")

    errors = refusals(tmp_path, text)

    assert len(errors) == 2
    rules_yml = tmp_path / "client" / "rules.yml"
    assert errors[0].startswith(f"{rules_yml}:{_line_of(text, 'disposition: quarantined')}:")
    assert '"quarantined" is not allowed here: use one of restock, quarantine' in errors[0]
    assert "`currency_rounding` is not a key under `tax`" in errors[1]


def test_five_mistakes_are_reported_at_once_each_at_its_line(tmp_path: Path) -> None:
    mistakes = [
        (
            ("    disposition: quarantine\n", "    dispositon: quarantine\n"),
            "dispositon:",
            "did you mean `disposition`?",
        ),
        (("  rounding: half_up", "  rounding: halfup"), "rounding: halfup", '"halfup" is not allowed here'),
        (('{rate: "0.00", code: "2"}', '{rate: "0.00", code: "9"}'), 'code: "9"', "tax code '9' is not under"),
        (("order.external_id", "order.externalid"), "order.externalid", "'order.externalid' is not a field"),
        (("    cancelled: withdraw\n", ""), "in_progress: publish", "Reveni status 'cancelled' reaches no decision"),
    ]
    text = DEMO
    for edit, _, _ in mistakes:
        assert edit[0] in text
        text = text.replace(*edit, 1)

    errors = refusals(tmp_path, text)

    assert len(errors) == 5, errors
    for (_, fragment, message), error in zip(sorted(mistakes, key=lambda m: _line_of(text, m[1])), errors, strict=True):
        assert f"rules.yml:{_line_of(text, fragment)}:" in error
        assert message in error


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("    rejected: skip\n", "    rejected: skipp\n"), '"skipp" is not allowed here: use one of credit,'),
        (("\nreasons:\n", "\nreason:\n"), "`reason` is not a key at the top of the rule set: did you mean `reasons`?"),
        (('{name: Standard, rate: "20.00"}', "{name: Standard, rate: 20.00}"), 'put it in quotes, like "20.00"'),
    ],
)
def test_one_mistake_is_one_message(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    assert edit[0] in DEMO
    errors = refusals(tmp_path, DEMO.replace(*edit, 1))

    assert len(errors) == 1, errors
    assert message in errors[0]


def test_a_misspelt_key_is_reported_at_the_key_not_its_mapping(tmp_path: Path) -> None:
    text = DEMO.replace(
        '    khaos_reason: "7"\n    disposition: restock\n', '    khaos_reason: "7"\n    dispositoin: restock\n'
    )

    errors = refusals(tmp_path, text)

    assert errors == [
        f"{tmp_path / 'client' / 'rules.yml'}:{_line_of(text, 'dispositoin')}:5: "
        "`dispositoin` is not a key under `reasons[6]`: did you mean `disposition`?"
    ]


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (('source_order: "{{ order.external_id }}"', 'source_order: "{{ order.external_id }}'), "source_order: "),
        (("client: demo", "client: 'demo"), "client: 'demo"),
    ],
)
def test_an_unclosed_quote_is_reported_at_its_line_in_plain_words(
    tmp_path: Path, edit: tuple[str, str], fragment: str
) -> None:
    assert edit[0] in DEMO
    text = DEMO.replace(*edit, 1)

    errors = refusals(tmp_path, text)

    assert len(errors) == 1
    assert f"rules.yml:{_line_of(text, fragment)}:" in errors[0]
    assert "this quote is never closed" in errors[0]


def test_a_misspelt_golden_case_key_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "client"
    shutil.copytree(DEMO_RULES, folder)
    cases = folder / "tests" / "reasons.yaml"
    original = cases.read_text()
    assert "    lines:" in original
    cases.write_text(original.replace("    lines:", "    line:", 1))

    tested = reveni_khaos("rules", "test", str(folder))

    assert tested.returncode == 1
    line = _line_of(cases.read_text(), "    line:")
    assert f"reasons.yaml:{line}: `line` is not a key under `expect`: did you mean `lines`?" in tested.stdout


@pytest.mark.parametrize(
    ("edit", "fragment", "message"),
    [
        (('khaos_reason: "2"', 'khaos_reason: "9"'), 'khaos_reason: "9"', "Khaos return reason '9' is not under"),
        (
            ("    disposition: quarantine\n", "    disposition: restock\n"),
            "disposition: restock",
            "contradicts Khaos reason '2'",
        ),
        (
            ('{rate: "0.00", code: "2"}', '{rate: "0.00", code: "1"}'),
            'rate: "0.00", code: "1"',
            "maps to Khaos tax code '1', which is 20.00%",
        ),
        (("    cancelled: withdraw\n", ""), "in_progress: publish", "Reveni status 'cancelled' reaches no decision"),
        (
            ("order.external_id", "order.externalid"),
            "order.externalid",
            "'order.externalid' is not a field of the return",
        ),
        (("lookup('customer_urns')", "lookup('customers')"), "lookup('customers')", "not under `tables:`"),
        (
            ("exceptions: {}", "exceptions:\n  sku_missing: {owner: cx}"),
            "sku_missing: {owner",
            "unknown exception kind 'sku_missing'; known: invalid_record, unknown_reason",
        ),
    ],
)
def test_meaning_errors_name_the_line(tmp_path: Path, edit: tuple[str, str], fragment: str, message: str) -> None:
    assert edit[0] in DEMO
    text = DEMO.replace(*edit, 1)
    errors = refusals(tmp_path, text)

    found = [e for e in errors if message in e]
    assert found, errors
    assert f"rules.yml:{_line_of(text, fragment)}:" in found[0]


def test_a_rule_hidden_behind_an_earlier_one_is_refused(tmp_path: Path) -> None:
    text = DEMO.replace(
        "\nreasons:\n",
        '\nreasons:\n  - reason: [faulty, wrong_item]\n    khaos_reason: "2"\n    disposition: quarantine\n',
        1,
    )
    errors = refusals(tmp_path, text)

    assert any("this rule can never match: rule 1" in e for e in errors), errors


def test_a_reason_and_verdict_with_no_decision_is_refused(tmp_path: Path) -> None:
    text = DEMO.replace("  - reason: wrong_item\n", "  - reason: wrong_item\n    verdict: accepted\n")
    errors = refusals(tmp_path, text)

    assert any("reason 'wrong_item' with verdict 'pending' reaches no decision" in e for e in errors), errors


@pytest.mark.parametrize(
    "template",
    [
        "{{ order.__class__ }}",
        "{{ customer.__globals__ }}",
        "{{ order.mro }}",
        "{{ id.__class__.__mro__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ self }}",
        "{{ customer.email.upper() }}",
        "{{ order['__class__'] }}",
        "{{ customer.email | attr('__class__') }}",
    ],
)
def test_templates_reaching_for_internals_are_refused_at_load(tmp_path: Path, template: str) -> None:
    text = DEMO.replace("urn: \"{{ customer.email | lower | lookup('customer_urns') }}\"", f'urn: "{template}"')

    errors = refusals(tmp_path, text)

    assert len(errors) == 1
    assert f"rules.yml:{_line_of(text, template)}:" in errors[0]


def test_yaml_tags_that_build_python_objects_are_refused(tmp_path: Path) -> None:
    witness = tmp_path / "ran"
    text = DEMO.replace("client: demo", f'client: !!python/object/apply:os.system ["touch {witness}"]')

    errors = refusals(tmp_path, text)

    assert errors[0].startswith(f"{tmp_path / 'client' / 'rules.yml'}:{_line_of(text, 'client: !!python')}:")
    assert "not valid rule-set YAML" in errors[0]
    assert not witness.exists()


def test_preview_shows_documents_and_the_difference_an_edit_makes(demo_sandbox: ReveniSandbox, tmp_path: Path) -> None:
    edited = write_rules(
        tmp_path,
        DEMO.replace('  - reason: faulty\n    khaos_reason: "2"', '  - reason: faulty\n    khaos_reason: "5"').replace(
            '  - reason: faulty\n    khaos_reason: "5"\n    disposition: quarantine',
            '  - reason: faulty\n    khaos_reason: "5"\n    disposition: write_off',
        ),
    )
    returns = tmp_path / "returns.jsonl"
    records = demo_sandbox.all_returns()
    returns.write_text("\n".join(json.dumps(r) for r in records))

    shown = reveni_khaos("rules", "preview", str(DEMO_RULES), "--input", str(returns))
    diff = reveni_khaos(
        "rules",
        "preview",
        str(edited),
        "--input",
        str(returns),
        "--against",
        str(DEMO_RULES),
    )

    assert shown.returncode == 0, shown.stderr
    assert "line  " in shown.stdout
    assert "exception unknown_reason for cx" in shown.stdout
    assert diff.returncode == 0, diff.stderr
    faulty = {
        r["id"]
        for r in records
        if any(i["return_reason"]["code"] == "faulty" and i["status"] != "rejected" for i in r["return_items"])
    }
    changed = int(diff.stdout.strip().splitlines()[-1].split()[0])
    assert 0 < changed <= len(faulty)
    assert ") disposition: quarantine -> write_off" in diff.stdout
    assert ") reason: 2 -> 5" in diff.stdout


def _net_prices_copy() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="net-rules-"))
    (folder / "rules.yml").write_text(DEMO.replace("prices: gross", "prices: net"))
    return folder


RULESET = load_ruleset(DEMO_RULES)
NET_RULESET = load_ruleset(_net_prices_copy())  # the same rules, sending net unit prices


ITEM = st.fixed_dictionaries(
    {
        "sku": st.sampled_from(["TEE-BLK-M", "HOOD-GRY-M", "KIDS-TEE-7", "UNKNOWN-1"]),
        "quantity": st.integers(1, 3),
        "price": st.decimals(min_value=Decimal("0.50"), max_value=Decimal("500"), places=2),
        "tax_rate": st.sampled_from(["20.00", "0.00", "5.00", "17.50", None]),
        "status": st.sampled_from(["pending", "accepted", "rejected"]),
        "reason": st.sampled_from(["size_too_small", "faulty", "not_as_described", "changed_mind", "mystery"]),
        "exchange": st.booleans(),
    }
)
RETURN = st.fixed_dictionaries(
    {
        "status": st.sampled_from(
            ["in_progress", "shipped", "received", "for_review", "accepted", "partly_accepted", "rejected", "cancelled"]
        ),
        "instant": st.booleans(),
        "refunded": st.booleans(),
        "known_customer": st.booleans(),
        "items": st.lists(ITEM, min_size=1, max_size=4),
    }
)


def _generated(spec: dict[str, Any]) -> dict[str, Any]:
    items = []
    for n, item in enumerate(spec["items"]):
        total = item["price"] * item["quantity"]
        line: dict[str, Any] = {
            "id": f"item-{n + 1}",
            "sku": item["sku"],
            "quantity": item["quantity"],
            "price": str(item["price"]),
            "total": str(total),
            "status": item["status"],
            "reject_reason": "used" if item["status"] == "rejected" else None,
            "return_reason": {"code": item["reason"], "label": item["reason"]},
            "exchange": {"sku": "TEE-BLK-L", "ean": "1", "quantity": item["quantity"]} if item["exchange"] else None,
        }
        if item["tax_rate"] is not None:
            rate = Decimal(item["tax_rate"])
            line |= {"tax_rate": item["tax_rate"], "tax": str((total * rate / (100 + rate)).quantize(Decimal("0.01")))}
        else:
            line |= {"tax_rate": "(missing)", "tax": "(missing)"}
        items.append(line)
    refunds = (
        [
            {
                "id": "r",
                "amount": str(sum(Decimal(i["total"]) for i in items)),
                "currency": "GBP",
                "status": "completed",
                "refunded_at": "2026-11-20T10:00:00Z",
            }
        ]
        if spec["refunded"]
        else []
    )
    given = {"status": spec["status"], "instant": spec["instant"], "refunds": refunds, "return_items": items}
    if not spec["known_customer"]:
        given["customer"] = {"email": "nobody@example.com"}
    record = build_return(BASE, given)
    for item in record["return_items"]:
        for key in ("tax_rate", "tax"):
            if item.get(key) == "(missing)":
                del item[key]
    return record


@settings(max_examples=300, deadline=None)
@given(RETURN)
def test_every_item_gets_exactly_one_outcome(spec: dict[str, Any]) -> None:
    record = _generated(spec)
    draft = RULESET.draft(record)

    items = {item["id"] for item in record["return_items"]}
    assert set(draft.outcomes) == items, "never neither"
    lines = {line.item_id for line in draft.lines}
    excepted = {i for i, result in draft.outcomes.items() if result.startswith("exception:")}
    assert lines == {i for i, result in draft.outcomes.items() if result == "line"}
    assert not lines & excepted, "never both"
    blocking = {p.item_id for p in draft.problems if p.blocking and p.item_id}
    assert blocking <= excepted
    if any(p.blocking and not p.item_id for p in draft.problems):
        assert not lines
    if draft.process:
        assert all(line.accepted for line in draft.lines), "stock never moves before grading"


@settings(max_examples=300, deadline=None)
@given(RETURN)
def test_a_documents_lines_add_up_to_what_the_customer_paid(spec: dict[str, Any]) -> None:
    record = _generated(spec)
    by_id = {item["id"]: item for item in record["return_items"]}
    for ruleset in (RULESET, NET_RULESET):
        draft = ruleset.draft(record)
        pennies = {p.item_id for p in draft.problems if p.kind == "net_price_penny"}
        for line in draft.lines:
            rate = Decimal(by_id[line.item_id]["tax_rate"])
            returned = sum((_khaos_gross(part, rate) for part in line.returned), Decimal(0))
            exchanged = sum((_khaos_gross(part, rate) for part in line.exchanges), Decimal(0))
            assert returned - exchanged == line.credit
            if line.item_id not in pennies:
                assert returned == Decimal(by_id[line.item_id]["total"]), "credited to the penny as paid"


def _khaos_gross(part: ReturnedItem | ExchangeItem, rate: Decimal) -> Decimal:
    """What Khaos posts for one item: Gross × Quantity, or net rounded per line plus its VAT."""
    price, quantity, penny = part.UnitPrice, part.Quantity, Decimal("0.01")
    assert price is not None
    if price.Gross is not None:
        return price.Gross * quantity
    assert price.Net is not None
    net = (price.Net * quantity).quantize(penny, rounding=ROUND_HALF_UP)
    vat: Decimal = (net * rate / 100).quantize(penny, rounding=ROUND_HALF_UP)
    return net + vat


def test_a_when_condition_routes_items_by_their_fields(tmp_path: Path) -> None:
    text = DEMO.replace(
        "  - reason: changed_mind\n",
        '  - reason: changed_mind\n    when: "{{ item.price | decimal >= 100 }}"\n    khaos_reason: "3"\n'
        "    disposition: restock\n  - reason: changed_mind\n",
        1,
    )
    ruleset = load_ruleset(write_rules(tmp_path, text))
    cheap = build_return(BASE, {"return_items": [{"return_reason": {"code": "changed_mind", "label": "x"}}]})
    dear = build_return(
        BASE,
        {
            "return_items": [
                {
                    "return_reason": {"code": "changed_mind", "label": "x"},
                    "price": "120.00",
                    "total": "120.00",
                    "tax": "20.00",
                }
            ]
        },
    )

    assert ruleset.draft(cheap).lines[0].returned[0].ReturnReason == DataItem(ID="4")
    assert ruleset.draft(dear).lines[0].returned[0].ReturnReason == DataItem(ID="3")


def test_publish_when_holds_a_return_until_reveni_has_refunded(tmp_path: Path) -> None:
    ruleset = load_ruleset(
        write_rules(tmp_path, DEMO.replace('publish_when: "{{ true }}"', 'publish_when: "{{ refunded }}"'))
    )
    unpaid = build_return(BASE, {"refunds": []})

    assert ruleset.draft(unpaid).hold_reason == "the rules' publish_when is not met yet"
    assert ruleset.draft(BASE).hold_reason == ""


def test_a_template_meeting_a_missing_field_makes_an_invalid_record_not_a_crash(tmp_path: Path) -> None:
    ruleset = load_ruleset(
        write_rules(
            tmp_path,
            DEMO.replace(
                "Reveni return {{ id }} for order {{ order.number }}",
                "Reveni return {{ id }} for order {{ order.number | upper }}",
            ),
        )
    )
    record = build_return(BASE, {})
    del record["order"]["number"]

    draft = ruleset.draft(record)

    assert [p.kind for p in draft.problems] == ["invalid_record"]
    assert draft.outcomes == {"item-1": "exception:invalid_record"}
