"""Property-based fuzz of the target and of the rule loader, bounded to a few seconds.

The target gets hostile records (every string drawn from text with lone surrogates and
control characters, numbers with extreme exponents, dates at the edges of the calendar),
with bookmarks among them and a schema change half way. Whatever it is given: it exits 0,
every return ends published or with an open exception, and no bookmark it passes on
covers a record it has not committed. The rule loader gets hostile templates and values:
each rule set is accepted (and then drafts a return without raising) or refused, in well
under 2 s of CPU. `FUZZ_EXAMPLES=200` runs the target's fuzz longer than the suite's 3.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import simplejson
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from target_khaos_control.documents import storable
from target_khaos_control.rules import RuleSetError, load_ruleset

from tests.rulesets import write_rules
from tests.servers import BIN, DEMO_RULES, target_config
from tests.test_target_khaos_control import TAP_SCHEMA, _a_return

HOSTILE_TEXT = st.text(
    st.characters(exclude_categories=()) | st.sampled_from(["\ud800", "\udfff", "\x00", "\x1b", "\u2028", "\ufeff"]),
    max_size=12,
)
EXTREME_NUMBERS = st.sampled_from(
    [Decimal("1E+999999"), Decimal("-1E-999999"), Decimal("NaN"), Decimal("1E+400"), 10**30, -(10**19), 0, 2**63]
)
EDGE_DATES = st.sampled_from(
    [
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59.999999Z",
        "0001-01-01T00:00:00Z",
        "2024-02-29T12:00:00Z",
        "2026-02-29T12:00:00Z",
        "1970-01-01T00:00:00Z",
        "2026-11-20T10:00:00.123456789Z",
    ]
)
STRING_FIELDS = [
    ("status",),
    ("type",),
    ("return_items", 0, "status"),
    ("customer", "first_name"),
    ("customer", "last_name"),
    ("customer", "email"),
    ("customer", "address", "line1"),
    ("customer", "address", "city"),
    ("customer", "address", "country_code"),
    ("order", "number"),
    ("return_items", 0, "sku"),
    ("return_items", 0, "name"),
    ("return_items", 0, "return_reason", "code"),
    ("currency",),
    ("refund_method",),
    ("shipping", "tracking_number"),
]
NUMBER_FIELDS = [("return_items", 0, "quantity"), ("return_items", 0, "price"), ("return_items", 0, "total")]
DATE_FIELDS = [("created_at",), ("updated_at",)]


@st.composite
def hostile_return(draw: st.DrawFn, n: int) -> dict[str, Any]:
    record = _a_return("accepted", updated=f"2026-11-20T10:00:{n % 60:02d}Z")
    record["id"] = f"fz-{n}" + draw(st.sampled_from(["", "", "\x1b", "\ud800", "é"]))
    changes = [(path, HOSTILE_TEXT) for path in STRING_FIELDS] + [(path, EXTREME_NUMBERS) for path in NUMBER_FIELDS]
    changes += [(path, EDGE_DATES) for path in DATE_FIELDS]
    for path, values in changes:
        if draw(st.integers(0, 3)) != 0:  # each field spoiled one time in four
            continue
        holder: Any = record
        for part in path[:-1]:
            holder = holder[part]
        holder[path[-1]] = draw(values)
    return record


def _line(message: dict[str, Any]) -> str:
    return str(simplejson.dumps(message, use_decimal=True, ensure_ascii=True, allow_nan=True))


def _committed(database: Path, ids: list[str]) -> set[str]:
    with sa.create_engine(f"sqlite:///{database}").connect() as conn:
        stored = set(conn.execute(sa.text("select return_id from reveni_returns")).scalars())
    return {i for i in ids if storable(i) in stored}


# No shrinking: each example is a run of the target; a failure is reported as drawn.
@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "3")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.generate],
)
@given(st.integers(20, 30).flatmap(lambda size: st.tuples(*(hostile_return(n) for n in range(size)))))
def test_whatever_the_records_the_target_exits_0_and_loses_no_return(records: tuple[dict[str, Any], ...]) -> None:
    changed = json.loads(TAP_SCHEMA)
    changed["schema"]["properties"]["id"]["description"] = "changed mid-stream"
    lines, covered = [TAP_SCHEMA], {}
    for n, record in enumerate(records, 1):
        lines.append(_line({"type": "RECORD", "stream": "returns", "record": record}))
        if n == len(records) // 2:
            lines.append(json.dumps(changed))
        if n % 6 == 0:
            lines.append(json.dumps({"type": "STATE", "value": {"upto": n}}))
            covered[n] = [str(r["id"]) for r in records[:n]]
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        config = workdir / "config.json"
        config.write_text(json.dumps(target_config(workdir, batch_size_rows=4)))
        process = subprocess.Popen(
            [str(BIN / "target-khaos-control"), "--config", str(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        assert process.stderr is not None
        stderr: list[str] = []
        reader = threading.Thread(target=lambda: stderr.append(process.stderr.read() if process.stderr else ""))
        reader.start()
        process.stdin.write("\n".join(lines) + "\n")
        process.stdin.close()
        checked = 0
        for state in process.stdout:  # each bookmark, checked against the store as it is passed on
            upto = json.loads(state)["upto"]
            missing = set(covered[upto]) - _committed(workdir / "store.db", covered[upto])
            assert not missing, f"a bookmark covers records not committed: {missing}"
            checked += 1
        returncode = process.wait(timeout=120)
        reader.join()

        assert returncode == 0, stderr[0][-3000:]
        assert checked, "the target passed on the tap's bookmarks"
        with sa.create_engine(f"sqlite:///{workdir / 'store.db'}").connect() as conn:
            published = set(
                conn.execute(sa.text("select return_id from documents where state = 'published'")).scalars()
            )
            excepted = set(conn.execute(sa.text("select return_id from exceptions where status = 'open'")).scalars())
        for record in records:
            return_id = storable(str(record["id"]))
            assert return_id in published | excepted, f"{return_id!r} is neither published nor an open exception"


# --- the rule loader ----------------------------------------------------------------------

DEMO = (DEMO_RULES / "rules.yml").read_text()
NOTES = '"Reveni return {{ id }} for order {{ order.number }}, refund by {{ refund_method }}"'
TOKENS = st.sampled_from(
    [
        "{{",
        "}}",
        "{%",
        "%}",
        "(",
        ")",
        "[",
        "]",
        "not ",
        " if ",
        " else ",
        "endif",
        "for x in ",
        "endfor",
        "id",
        "total",
        "return_items",
        "|truncate(",
        "|round(",
        "|join(",
        "|lookup('x')",
        "*",
        "**",
        "~",
        "/",
        "-",
        "9" * 30,
        "'a'",
        ",",
        " ",
        ".",
        "__class__",
        "\ud800",
        "\x00",
        "\n",
    ]
)
YAML_VALUES = st.sampled_from(["9" * 50_000, "&a [*a]", "!!python/object:os.system", "[" * 300, "{a: 1, a: 2}", "~"])


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "20")) * 3, deadline=None, suppress_health_check=list(HealthCheck)
)
@given(
    template=st.lists(TOKENS, max_size=40).map("".join),
    nested=st.sampled_from(["(", "not ", "{% if id %}", "["]),
    depth=st.integers(0, 400),
    value=st.none() | YAML_VALUES,
)
def test_any_rule_set_is_accepted_or_refused_in_a_moment(
    template: str, nested: str, depth: int, value: str | None
) -> None:
    text = DEMO.replace(NOTES, json.dumps(nested * depth + template), 1)
    if value is not None:
        text = text.replace('  tolerance: "0.01"', f"  tolerance: {value}", 1)
    with tempfile.TemporaryDirectory() as folder:
        rules = write_rules(Path(folder), text)
        started = time.process_time()
        errors: list[str] = []
        try:
            ruleset = load_ruleset(rules)
        except RuleSetError as refused:
            ruleset, errors = None, refused.errors
        assert time.process_time() - started < 2, "accepted or refused in under 2 s of CPU"
    assert ruleset is not None or errors, "a refusal says why"
    assert all(str(rules / "rules.yml") in error for error in errors)
    if ruleset is not None:
        draft = ruleset.draft(copy.deepcopy(_a_return("accepted")))
        assert draft.lines or draft.problems, "an accepted rule set decides every return"
