"""Read a rule set and refuse it, with every reason at once, before it touches a ledger.

First YAML (libyaml's safe loader: no `!!python/...` tags), then the JSON Schema shipped
beside this module, then the meaning: every code a rule names exists in its table, every
template compiles and names only fields a return has, no rule is hidden behind an
earlier one, and every Reveni status, warehouse verdict and reason reaches a decision.
Each error reads `file:line:column: message`, in a consultant's words, at the line of
the mistake, and all of them come in one pass, sorted by line.

A rule file may be wrong or hostile, so reading one is bounded: a regular file (never a
FIFO or a device, which would block or never end), at most MAX_BYTES, at most MAX_NODES
values once YAML's aliases are expanded (an alias "bomb" of a few lines otherwise expands
to gigabytes before any check sees it), at most MAX_REASON_RULES reason rules and
MAX_TAX_RATES tax rates (docs/consultant.md), counted before any other check; every check
after that is linear in the size of the file.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from target_khaos_control.exception_kinds import KINDS, Routing
from target_khaos_control.money import Pricing
from target_khaos_control.rules import templates
from target_khaos_control.rules.engine import Deduction, ReasonRule, RuleSet, TaxRule

SCHEMA = json.loads((Path(__file__).parent / "ruleset.schema.json").read_text())
STATUSES = ("in_progress", "shipped", "received", "for_review", "accepted", "partly_accepted", "rejected", "cancelled")
VERDICTS = ("pending", "accepted", "rejected")
PROCESSING = {
    "restock": "return_to_stock",
    "quarantine": "quarantine",
    "write_off": "write_off",
    "return_to_supplier": "return_to_supplier",
}
MAX_BYTES = 1_000_000  # the demo's is 5 KB; a long customer table still fits
MAX_NODES = 200_000  # values in the file, each alias counted as often as it is used
MAX_REASON_RULES = 2_000  # a client has tens; checked in well under a second
MAX_TAX_RATES = 1_000
Path_ = tuple[str | int, ...]
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RuleSetError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def rules_file(path: str | Path) -> Path:
    """A client folder (its `rules.yml`) or the file itself."""
    path = Path(path)
    return path / "rules.yml" if path.is_dir() else path


@dataclass
class _Reader:
    file: Path
    positions: dict[Path_, tuple[int, int]]  # where each value starts
    keys: dict[Path_, tuple[int, int]] = field(default_factory=dict)  # where each key is written
    found: list[tuple[int, int, str]] = field(default_factory=list)
    schema_failed: bool = False
    wrong: set[Path_] = field(default_factory=set)  # what the schema refused: one mistake, one message

    def error(self, where: Path_, message: str, line_offset: int = 0) -> None:
        if any(where[: len(path)] == path for path in self.wrong):
            return
        probe = where
        while probe and probe not in self.positions:
            probe = probe[:-1]
        line, column = self.positions.get(probe, (1, 1))
        self.at(line + line_offset, column, message)

    def at(self, line: int, column: int, message: str) -> None:
        if (line, column, message) not in self.found:
            self.found.append((line, column, message))

    @property
    def errors(self) -> list[str]:
        return [f"{self.file}:{line}:{column}: {message}" for line, column, message in sorted(self.found)]

    def attempt(self, check: Callable[[], Any]) -> Any:
        """Run one check even where the schema found the data malformed: a part it cannot
        read is skipped, as the schema has already said what is wrong there."""
        try:
            return check()
        except (KeyError, TypeError, AttributeError, IndexError, ValueError, ArithmeticError):
            if not self.schema_failed:
                raise
            return None


def load_ruleset(path: str | Path) -> RuleSet:
    file = rules_file(path)
    data, node = _read_yaml(file)
    _check_size(file, data)
    reader = _Reader(file, *_positions(node))
    _check_schema(reader, data)
    if not isinstance(data, dict):
        raise RuleSetError(reader.errors)
    ruleset = _build(reader, data)
    if reader.found or ruleset is None:
        raise RuleSetError(reader.errors)
    return ruleset


def _check_size(file: Path, data: Any) -> None:
    """Refuse a rule set past the documented size before any check that grows with it."""
    if not isinstance(data, dict):
        return
    tax = data.get("tax")
    for count, most, what in (
        (data.get("reasons"), MAX_REASON_RULES, "reason rules"),
        (tax.get("rates") if isinstance(tax, dict) else None, MAX_TAX_RATES, "tax rates"),
    ):
        if isinstance(count, list) and len(count) > most:
            raise RuleSetError(
                [f"{file}:1:1: the rule set has {len(count)} {what}; at most {most} are allowed (docs/consultant.md)"]
            )


def _read_yaml(file: Path) -> tuple[Any, yaml.Node | None]:
    try:
        if not stat.S_ISREG(file.stat().st_mode):
            raise RuleSetError(
                [f"{file}:1:1: the rule set is not a regular file (a FIFO or a device?): refused unread"]
            )
        with file.open("rb") as stream:
            raw = stream.read(MAX_BYTES + 1)
    except OSError as error:
        raise RuleSetError([f"{file}:1:1: cannot read the rule set ({error.strerror})"]) from None
    if len(raw) > MAX_BYTES:
        raise RuleSetError(
            [f"{file}:1:1: the rule set is over {MAX_BYTES // 1_000_000} MB, far more than rules need: refused unread"]
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RuleSetError([f"{file}:1:1: the rule set is not UTF-8 text (byte {error.start})"]) from None
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        _check_expansion(node)
        return loader.construct_document(node) if node is not None else None, node
    except yaml.MarkedYAMLError as error:
        line, column, message = _yaml_problem(text, error)
        raise RuleSetError([f"{file}:{line}:{column}: {message}"]) from None
    except (yaml.YAMLError, RecursionError) as error:
        raise RuleSetError([f"{file}:1:1: not valid rule-set YAML: {_plain(error)}"]) from None
    except ValueError as error:  # a whole number longer than Python reads (4,300 digits)
        line, column = _long_number(node)
        raise RuleSetError([f"{file}:{line}:{column}: not valid rule-set YAML: {error}"]) from None
    finally:
        loader.dispose()


def _long_number(root: yaml.Node | None) -> tuple[int, int]:
    """Where the longest plain scalar is: the number YAML could not read."""
    stack, longest, where = [root] if root is not None else [], 0, (1, 1)
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode) and len(str(node.value)) > longest:
            longest, where = len(str(node.value)), (node.start_mark.line + 1, node.start_mark.column + 1)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return where


class _TooBig(yaml.MarkedYAMLError):  # type: ignore[misc]
    pass


def _check_expansion(root: yaml.Node | None) -> None:
    """Count the values as they would be after expanding aliases, without expanding them."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, open_: set[int]) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_:
            raise _TooBig(None, None, "an alias refers to the value that contains it", node.start_mark)
        open_.add(id(node))
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        total = 1
        for child in children:
            total += size(child, open_)
            if total > MAX_NODES:
                raise _TooBig(
                    None,
                    None,
                    f"with its aliases (`*name`) expanded this would be over {MAX_NODES} values: refused",
                    node.start_mark,
                )
        open_.discard(id(node))
        sizes[id(node)] = total
        return total

    if root is not None:
        size(root, set())


def _yaml_problem(text: str, error: yaml.MarkedYAMLError) -> tuple[int, int, str]:
    """Where a YAML mistake is and what it is, in plain words. An unclosed quote makes
    YAML read on into the next lines and complain there: find the quote instead."""
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    if isinstance(error, _TooBig):
        return line, column, str(error.problem)
    quote = _unclosed_quote(text, line)
    if quote is not None:
        return quote[0], quote[1], "this quote is never closed: end the value with the same quote mark"
    problem = str(error.problem or "")
    context = error.context_mark
    if "could not find expected ':'" in problem and context is not None:
        return context.line + 1, context.column + 1, "a key without `:` after it: write `key: value`"
    return line, column, _plain(error)


_PLAIN = (
    ("cannot start any token", "a tab or a character YAML cannot start with: indent with spaces only"),
    ("did not find expected key", "this line does not line up with the lines above it: check its indentation"),
    ("expected <block end>", "this line does not line up with the lines above it: check its indentation"),
    ("mapping values are not allowed", "a `: ` inside a value: put the value in quotes"),
    ("expected ',' or '}'", "a `{...}` on this line is not closed properly: check its commas, quotes and braces"),
    ("expected ',' or ']'", "a `[...]` on this line is not closed properly: check its commas, quotes and brackets"),
    ("found undefined alias", "an alias `*name` with no anchor `&name` before it"),
    ("could not determine a constructor", "a YAML tag (`!!...`) is not allowed in a rule set"),
    ("exceeded maximum nesting depth", "nested too deeply"),
    ("maximum recursion depth", "nested too deeply"),
    ("found duplicate anchor", "the same anchor `&name` twice"),
)


def _plain(error: BaseException) -> str:
    text = str(getattr(error, "problem", None) or error)
    if isinstance(error, yaml.MarkedYAMLError) and error.context and "constructor" in str(error.context):
        text = str(error.context)
    for words, plain in _PLAIN:
        if words in text:
            return f"not valid rule-set YAML: {plain}"
    return f"not valid rule-set YAML: {text}"


def _unclosed_quote(text: str, last_line: int) -> tuple[int, int] | None:
    """The first line up to `last_line` where a quoted value opens and does not close."""
    for number, line in enumerate(text.splitlines()[:last_line], 1):
        quote, start, previous = "", 0, " "
        for column, char in enumerate(line):
            if quote:
                if char == "\\" and quote == '"':
                    previous = "\\" if previous != "\\" else " "
                    continue
                if char == quote and not (quote == '"' and previous == "\\"):
                    quote = ""
            elif char == "#" and previous in " \t":
                break
            elif char in "\"'" and line[:column].rstrip()[-1:] in ("", ":", "-", "[", "{", ","):
                quote, start = char, column
            previous = char
        if quote:
            return number, start + 1
    return None


def _check_schema(reader: _Reader, data: Any) -> None:
    problems = list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(data))
    reader.schema_failed = bool(problems)
    missing = {(tuple(p.absolute_path), name) for p in problems if p.validator == "required" for name in _missing(p)}
    for problem in problems:
        where = tuple(problem.absolute_path)
        reader.wrong |= {(*where, name) for name in _missing(problem)} if problem.validator == "required" else set()
        if problem.validator == "additionalProperties" and isinstance(problem.instance, dict):
            allowed = sorted((problem.schema.get("properties") or {}).keys())
            for key in problem.instance:
                if key in allowed:
                    continue
                guess = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean `{guess[0]}`?" if guess else f"the keys here are: {', '.join(allowed)}"
                line, column = reader.keys.get((*where, str(key)), reader.positions.get(where, (1, 1)))
                reader.wrong.add((*where, str(key)))
                reader.at(line, column, f"`{key}` is not a key {_under(where)}: {hint}")
                if guess:
                    missing.discard((where, guess[0]))  # one mistake, one message
        elif problem.validator != "required":
            reader.error(where, _schema_words(problem))
            reader.wrong.add(where)
    for where, name in sorted(missing, key=str):
        reader.error(where, f"`{name}` is missing {_under(where)}")


def _missing(problem: jsonschema.ValidationError) -> list[str]:
    return [name for name in problem.validator_value if name not in (problem.instance or {})]


def _under(where: Path_) -> str:
    if not where:
        return "at the top of the rule set"
    return "under `" + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in where).lstrip(".") + "`"


_TYPES = {"string": "text", "integer": "a whole number", "object": "a mapping (`key: value` lines)", "array": "a list"}


def _schema_words(problem: jsonschema.ValidationError) -> str:
    if problem.validator in ("oneOf", "anyOf") and problem.context:
        problem = jsonschema.exceptions.best_match(problem.context)
    value, rule = problem.instance, problem.validator_value
    shown = json.dumps(value, default=str) if not isinstance(value, dict | list) else f"this {type(value).__name__}"
    if problem.validator == "enum":
        return f"{shown} is not allowed here: use one of {', '.join(map(str, rule))}"
    if problem.validator == "const":
        return f"{shown} is not allowed here: it must be {rule}"
    if problem.validator == "type" and rule == "string" and isinstance(value, int | float):
        return f'expected text here, not the number {shown}: put it in quotes, like "20.00", so no digit is lost'
    if problem.validator == "type":
        return f"expected {_TYPES.get(str(rule), rule)} here, not {shown}"
    if problem.validator == "pattern" and "0-9" in str(rule):
        return f'{shown} is not a number written in quotes, like "20.00"'
    if problem.validator in ("minItems", "minProperties", "minLength"):
        return "this must not be empty"
    return str(problem.message)


def _build(reader: _Reader, data: dict[str, Any]) -> RuleSet | None:
    """Check the meaning of every part and compile its templates; the rule set itself only
    if the schema found nothing (a malformed part is checked as far as it can be read)."""
    env, attempt = templates.environment(), reader.attempt
    khaos: Any = data.get("khaos")  # what this client's Khaos has; checked by the schema
    tables = attempt(lambda: _tables(data)) or {}

    def compiled(where: Path_, fields: dict[str, Any], condition: bool = False) -> Any:
        source: Any = data
        for part in where[:-1]:
            source = source[part]
        source = source.get(where[-1])  # an optional template may be left out
        if source is None:
            return None
        name = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in where).lstrip(".")
        name += f" at {reader.file}:{reader.positions.get(where, (1, 1))[0]}"  # a failure names the file and line
        try:
            templates.check(env, source, fields, set(tables))
            if condition:
                return templates.compile_condition(env, source, name)
            return templates.compile_text(env, source, name)
        except templates.TemplateProblem as problem:
            reader.error(where, str(problem), problem.line - 1)
            return None

    def template(*where: str | int, condition: bool = False) -> Any:
        return attempt(lambda: compiled(where, templates.RETURN, condition))

    def reason(n: int, rule: Any) -> Any:
        return attempt(lambda: _reason_rule(reader, khaos, n, rule, compiled))

    rules = data.get("reasons")
    reasons = [reason(n, rule) for n, rule in enumerate(rules if isinstance(rules, list) else [])]
    attempt(lambda: _check_shadowing(reader, data["reasons"]))
    attempt(lambda: _check_reason_coverage(reader, data))
    tax_rules = attempt(lambda: _tax_rules(reader, data["tax"], khaos["tax_codes"]))
    attempt(lambda: _check_sequencing(reader, data["sequencing"]))
    attempt(lambda: _check_exceptions(reader, data))
    attempt(lambda: _check_skus(reader, data["skus"]))
    urn, source_order = template("references", "urn"), template("references", "source_order")
    notes, sales_source = template("references", "notes"), template("references", "sales_source")
    brand = template("references", "brand")
    publish_when = template("sequencing", "publish_when", condition=True)
    process_when = template("sequencing", "process_when", condition=True)
    deduction = attempt(lambda: _deduction(reader, data.get("deductions"), khaos))
    if reader.found:
        return None
    skus, overrides = data["skus"], data.get("exceptions") or {}
    return RuleSet(
        client=data["client"],
        content_hash=hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest(),
        reasons=reasons,
        tax_rules=tax_rules,
        pricing=Pricing(data["tax"]["prices"] == "gross", data["tax"].get("rounding", "half_up")),
        tax_code_rates={code: Decimal(entry["rate"]) for code, entry in khaos["tax_codes"].items()},
        tax_tolerance=Decimal(data["tax"].get("tolerance", "0.01")),
        sku_mapping=tuple(skus["mapping"]),
        aliases=dict(skus.get("aliases") or {}),
        apply_learned_renames=skus.get("learned_renames", "review") == "apply",
        replacements=dict(skus.get("replacements") or {}) if skus.get("discontinued") == "replace" else {},
        urn=urn,
        source_order_key=data["references"]["source_order_key"],
        source_order=source_order,
        notes=notes,
        sales_source=sales_source,
        brand=brand,
        publish_when=publish_when,
        tables=tables,
        statuses=data["sequencing"]["statuses"],
        verdicts=data["sequencing"]["verdicts"],
        process_when=process_when,
        value_tolerance=Decimal(data["sequencing"].get("value_tolerance", "0.00")),
        hold_alert_days=int(data["sequencing"].get("hold_alert_days", 14)),
        deduction=deduction,
        routing=Routing({kind: route for kind, route in overrides.items() if kind in KINDS}),
        names_by=data["references"].get("names_by", "Name"),
        field_lengths=data["references"].get("field_lengths", "cut"),
        sites={str(site): str(name) for site, name in khaos.get("sites", {}).items()},
    )


def _tables(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {name: {str(k): str(v) for k, v in table.items()} for name, table in (data.get("tables") or {}).items()}


def _check_exceptions(reader: _Reader, data: dict[str, Any]) -> None:
    for kind in data.get("exceptions") or {}:
        if kind not in KINDS:
            reader.error(("exceptions", kind), f"unknown exception kind {kind!r}; known: {', '.join(KINDS)}")


def _check_skus(reader: _Reader, skus: dict[str, Any]) -> None:
    if skus.get("discontinued") == "replace" and not skus.get("replacements"):
        reader.error(("skus", "discontinued"), "`discontinued: replace` needs `replacements`")


def _reason_rule(reader: _Reader, khaos: dict[str, Any], n: int, rule: dict[str, Any], compiled: Any) -> ReasonRule:
    where: Path_ = ("reasons", n)
    khaos_reason = khaos["return_reasons"].get(rule["khaos_reason"])
    if khaos_reason is None:
        reader.error(
            (*where, "khaos_reason"), f"Khaos return reason {rule['khaos_reason']!r} is not under khaos.return_reasons"
        )
    elif khaos_reason["processing"] != PROCESSING[rule["disposition"]]:
        reader.error(
            (*where, "disposition"),
            f"disposition {rule['disposition']!r} contradicts Khaos reason "
            f"{rule['khaos_reason']!r}, which Khaos processes as {khaos_reason['processing']!r}",
        )
    site = rule.get("site") or (khaos_reason or {}).get("site")
    if site is not None and site not in khaos["sites"]:
        reader.error((*where, "site"), f"site {site!r} is not under khaos.sites")
    when = compiled((*where, "when"), templates.WITH_ITEM, condition=True) if "when" in rule else None
    return ReasonRule(
        _many(rule["reason"]),
        _many(rule.get("verdict")),
        _many(rule.get("reject_reason")),
        when,
        rule["khaos_reason"],
        rule["disposition"],
        site or "",
    )


def _deduction(reader: _Reader, fields: dict[str, str] | None, khaos: dict[str, Any]) -> Deduction | None:
    if fields is None:
        return None
    if fields["khaos_reason"] not in khaos["return_reasons"]:
        reader.error(
            ("deductions", "khaos_reason"),
            f"Khaos return reason {fields['khaos_reason']!r} is not under khaos.return_reasons",
        )
    if fields["tax_code"] not in khaos["tax_codes"]:
        reader.error(("deductions", "tax_code"), f"tax code {fields['tax_code']!r} is not under khaos.tax_codes")
    return Deduction(fields["stock_code"], fields["khaos_reason"], fields["tax_code"])


def _many(value: str | list[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset([value] if isinstance(value, str) else value)


def _covers(earlier: frozenset[str] | None, later: frozenset[str] | None) -> bool:
    return earlier is None or (later is not None and later <= earlier)


def _check_shadowing(reader: _Reader, rules: list[dict[str, Any]]) -> None:
    """A rule an earlier one without `when` matches whole can never match. Earlier rules are
    looked up by each reason they name, so this stays near linear in the number of rules."""
    keys = ("reason", "verdict", "reject_reason")
    catch_all: list[int] = []  # earlier rules without `when` matching any reason
    by_reason: dict[str, list[int]] = {}  # earlier rules without `when`, by each reason they name
    sets = [tuple(_many(rule.get(k)) for k in keys) for rule in rules]
    for j, rule in enumerate(rules):
        reasons = sets[j][0]
        candidates = catch_all + (by_reason.get(min(reasons), []) if reasons else [])
        earlier = min(
            (i for i in candidates if all(_covers(a, b) for a, b in zip(sets[i], sets[j], strict=True))), default=None
        )
        if earlier is not None:
            reader.error(
                ("reasons", j),
                f"this rule can never match: rule {earlier + 1} (line "
                f"{reader.positions.get(('reasons', earlier), (0, 0))[0]}) matches everything it does",
            )
        if "when" not in rule:
            if reasons is None:
                catch_all.append(j)
            else:
                for code in reasons:
                    by_reason.setdefault(code, []).append(j)


def _check_reason_coverage(reader: _Reader, data: dict[str, Any]) -> None:
    credited = [v for v in VERDICTS if data["sequencing"]["verdicts"].get(v, "skip") != "skip"]
    decided: dict[str, set[str]] = {}  # reason -> the verdicts a rule without conditions decides
    for rule in data["reasons"]:
        if "when" in rule or "reject_reason" in rule:
            continue
        verdicts = _many(rule.get("verdict"))
        for code in _many(rule["reason"]) or ():
            decided.setdefault(code, set()).update(VERDICTS if verdicts is None else verdicts)
    codes = sorted({code for rule in data["reasons"] for code in _many(rule["reason"]) or ()})
    for code in codes:
        for verdict in credited:
            if verdict not in decided.get(code, set()):
                reader.error(
                    ("reasons",),
                    f"reason {code!r} with verdict {verdict!r} reaches no decision: add a "
                    "rule for it without `when` or `reject_reason`",
                )


def _tax_rules(reader: _Reader, tax: dict[str, Any], tax_codes: dict[str, Any]) -> list[TaxRule]:
    rules: list[TaxRule] = []
    same_rate: dict[Decimal, list[int]] = {}
    for n, rate in enumerate(tax["rates"]):
        code = tax_codes.get(rate["code"])
        if code is None:
            reader.error(("tax", "rates", n, "code"), f"tax code {rate['code']!r} is not under khaos.tax_codes")
        elif Decimal(code["rate"]) != Decimal(rate["rate"]):
            reader.error(
                ("tax", "rates", n, "rate"),
                f"rate {rate['rate']}% maps to Khaos tax code {rate['code']!r}, which is {code['rate']}%",
            )
        rule = TaxRule(Decimal(rate["rate"]), _many(rate.get("country")), _many(rate.get("currency")), rate["code"])
        for m in same_rate.get(rule.rate, []):  # only entries of the same rate can hide this one
            earlier = rules[m]
            if _covers(earlier.countries, rule.countries) and _covers(earlier.currencies, rule.currencies):
                reader.error(("tax", "rates", n), f"this rate can never match: tax.rates entry {m + 1} matches first")
        same_rate.setdefault(rule.rate, []).append(len(rules))
        rules.append(rule)
    return rules


def _check_sequencing(reader: _Reader, sequencing: dict[str, Any]) -> None:
    for status in STATUSES:
        if status not in sequencing["statuses"]:
            reader.error(("sequencing", "statuses"), f"Reveni status {status!r} reaches no decision")
    for status in sequencing["statuses"]:
        if status not in STATUSES:
            reader.error(("sequencing", "statuses", status), f"{status!r} is not a Reveni status")
    for verdict in VERDICTS:
        if verdict not in sequencing["verdicts"]:
            reader.error(("sequencing", "verdicts"), f"warehouse verdict {verdict!r} reaches no decision")
    for verdict in sequencing["verdicts"]:
        if verdict not in VERDICTS:
            reader.error(("sequencing", "verdicts", verdict), f"{verdict!r} is not a warehouse verdict")
    if sequencing["verdicts"].get("rejected", "skip") != "skip":
        reader.error(("sequencing", "verdicts", "rejected"), "a rejected item is never credited: use `skip`")


def _positions(
    node: yaml.Node | None,
) -> tuple[dict[Path_, tuple[int, int]], dict[Path_, tuple[int, int]]]:
    """Where each value starts, and where each mapping key is written, by path."""
    values: dict[Path_, tuple[int, int]] = {}
    keys: dict[Path_, tuple[int, int]] = {}
    seen: set[int] = set()  # an alias's value is placed where it is first written
    stack: list[tuple[yaml.Node, Path_]] = [(node, ())] if node is not None else []
    while stack:
        current, path = stack.pop()
        values.setdefault(path, (current.start_mark.line + 1, current.start_mark.column + 1))
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                keys.setdefault((*path, str(key.value)), (key.start_mark.line + 1, key.start_mark.column + 1))
                stack.append((value, (*path, str(key.value))))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((value, (*path, index)) for index, value in enumerate(current.value))
    return values, keys
