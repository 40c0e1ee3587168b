"""The document header's fast paths give exactly what the plain way gives, for any input.

Each fast path (text with nothing XML forbids, Reveni's usual timestamp, the length limits,
the filter guards' size check) is checked against the plain way written out here, as it
was before the fast path, on inputs built to hit both sides of every shortcut.
"""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType
from typing import Any

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from msgspec import UNSET
from target_khaos_control import reveni
from target_khaos_control.documents import FORBIDDEN, KHAOS_TIME_ZONE, address, khaos_datetime, storable, text, xml_safe
from target_khaos_control.khaos_documents import Address, Contact, DataItem, KhaosDocument, max_lengths, too_long
from target_khaos_control.reveni import sent
from target_khaos_control.rules.document_header import named, parties
from target_khaos_control.rules.template_filters import _guarded, _lookup
from target_khaos_control.rules.template_limits import MAX_INPUT, TemplateLimit, _weight
from target_khaos_control.times import utc


def plain_xml_safe(text: str) -> str:
    return FORBIDDEN.sub("", text)


def plain_khaos_datetime(value: str) -> str:
    return utc(datetime.fromisoformat(value)).astimezone(KHAOS_TIME_ZONE).strftime("%Y-%m-%dT%H:%M:%S")


def plain_too_long(fields: KhaosDocument) -> list[tuple[str, int]]:
    return [
        (name, most)
        for name, most in max_lengths(type(fields)).items()
        if isinstance(getattr(fields, name), str) and len(getattr(fields, name)) > most
    ]


def outcome(function: Any, *args: Any) -> tuple[str, Any]:
    """What a call gives: its result, or the kind of error it raises."""
    try:
        return "result", function(*args)
    except Exception as error:  # the kind is what is compared
        return "error", type(error).__name__


# Characters either side of every line XML 1.0 draws, and ones `isprintable` refuses but XML allows.
EDGES = "\x00\x08\t\n\x0b\x0c\r\x1f \x7f\x85\xa0\u2028\ud7ff\ud800\udfff\ue000\ufffd\ufffe\uffff\U00010000\U0010ffff"


@given(st.text(alphabet=st.sampled_from(EDGES) | st.characters(), max_size=30))
@example("Much Wenlock")
@example("Tab\tand\nnew line\r")
@example("NUL\x00 and VT\x0b")
@example("lone \ud800 surrogate")
@example("no-break\xa0space and \ufffe")
def test_xml_safe_removes_what_it_always_removed(text: str) -> None:
    """Given any text, expect exactly the characters XML forbids removed, as the regex alone does."""
    assert xml_safe(text) == plain_xml_safe(text)


def plain_storable(text: str) -> str:
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


@given(st.text(alphabet=st.sampled_from(EDGES) | st.characters(), max_size=30))
@example("6f1c2e0a-return-id")
@example("lone \ud800 surrogate")
@example("café \udfff")
def test_storable_keeps_what_it_always_kept(text: str) -> None:
    """Given any return id, expect it stored as before: a lone surrogate written as its escape, the rest as given."""
    assert storable(text) == plain_storable(text)


DIGITS = st.text(alphabet="0123456789", min_size=2, max_size=2)


@st.composite
def usual_form(draw: st.DrawFn) -> str:
    """Reveni's usual timestamp, with any year, month, day and hour digits, and minutes and
    seconds that may be out of range or not digits at all."""
    if draw(st.booleans()):  # a real day and hour
        year, month, day, hour = draw(st.datetimes()).strftime("%Y %m %d %H").split()
        year = year.zfill(4)
    else:
        year = draw(st.text(alphabet="0123456789", min_size=4, max_size=4))
        month, day, hour = draw(DIGITS), draw(DIGITS), draw(DIGITS)
    minute = draw(DIGITS | st.sampled_from(["6:", ":0", "٤5", " 1"]))
    second = draw(DIGITS | st.sampled_from(["60", "9 ", "-1"]))
    separator = draw(st.sampled_from(["T", " ", "t"]))
    zone = draw(st.sampled_from(["Z", "Z", "z", "+"]))
    return f"{year}-{month}-{day}{separator}{hour}:{minute}:{second}{zone}"


@given(usual_form() | st.datetimes().map(lambda moment: moment.isoformat(timespec="seconds") + "Z"))
@example("2026-09-21T00:04:44Z")  # summer: an hour ahead
@example("2026-03-29T00:59:59Z")  # the last second of winter time
@example("2026-03-29T01:00:00Z")  # the first of summer time
@example("2026-10-25T00:30:00Z")  # the hour the clocks go back, first time round
@example("2026-10-25T01:30:00Z")  # and second time round
@example("1800-01-01T00:00:00Z")  # London mean time, a minute and 15 seconds behind UTC
@example("0999-06-01T12:00:00Z")  # a year strftime writes in three digits
@example("9999-12-31T23:59:59Z")
@example("0001-01-01T00:00:00Z")  # before the first day a datetime holds, in UK time
@example("2026-02-30T10:00:00Z")  # no such day
@example("2026-09-21T24:00:00Z")  # no such hour
@example("2026-09-21T10:60:00Z")  # no such minute
@example("2026-09-21T10:00:60Z")  # no such second
@example("1847-12-01T00:00:00Z")  # the hour London left its mean time for GMT, 75 seconds in
@example("2026-09-21T10-00:00Z")  # no colon after the hour
@example("2026-09-21T10:00-00Z")  # nor after the minutes
def test_khaos_datetime_gives_what_it_always_gave(value: str) -> None:
    """Given a timestamp in Reveni's usual form or near it, expect the same UK time, or the same error, as before."""
    assert outcome(khaos_datetime, value) == outcome(plain_khaos_datetime, value)


def test_khaos_datetime_still_reads_other_forms() -> None:
    """Given timestamps with an offset, fractions or no zone, expect each read in full, in UK time."""
    assert khaos_datetime("2026-09-21T00:04:44+02:00") == "2026-09-20T23:04:44"
    assert khaos_datetime("2026-09-21T00:04:44.999Z") == "2026-09-21T01:04:44"
    assert khaos_datetime("2026-01-21T00:04:44") == "2026-01-21T00:04:44"


LIMITED = st.text(alphabet="ab ", max_size=120)


@given(
    st.builds(Address, Line1=LIMITED, Line2=st.none() | LIMITED, Town=LIMITED, Country=st.just(DataItem(Code="GB")))
    | st.builds(Contact, Forename=st.none() | LIMITED, Surname=st.none() | LIMITED, Email=st.none() | LIMITED)
)
def test_too_long_names_the_fields_it_always_named(fields: KhaosDocument) -> None:
    """Given an address or contact of any lengths, expect the same fields over Khaos's limits, in the same order."""
    assert too_long(fields) == plain_too_long(fields)


def test_too_long_names_a_long_town_and_surname() -> None:
    """Given a 36-character town and a 51-character surname, expect each named with Khaos's limit."""
    address = Address(Line1="1 High Street", Town="T" * 36, Country=DataItem(Code="GB"))
    assert too_long(address) == [("Town", 35)]
    assert too_long(Contact(Forename="Amelia", Surname="S" * 51)) == [("Surname", 50)]
    assert too_long(Contact(Forename="A" * 50)) == []


def echo(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
    return (*args, *kwargs.values())


def plain_guard(*args: Any, **kwargs: Any) -> tuple[str, Any]:
    """The guard as it was: every argument weighed by `_weight`."""
    if _weight([*args, *kwargs.values()], MAX_INPUT) > MAX_INPUT:
        return "error", "TemplateLimit"
    return "result", echo(*args, **kwargs)


@pytest.mark.parametrize(
    "args",
    [
        ("Cust0009@Example.com",),
        ("x" * (MAX_INPUT - 1),),  # weighs exactly the limit with the list: let through
        ("x" * MAX_INPUT,),  # one over: refused
        ("x" * (MAX_INPUT - 2), "y"),
        ("x" * (MAX_INPUT - 1), "y"),
        (["x" * (MAX_INPUT - 2)],),
        (["x" * (MAX_INPUT - 1)],),
        (12,),
    ],
    ids=["address", "at-limit", "over-limit", "two-at-limit", "two-over", "list-at-limit", "list-over", "number"],
)
def test_filter_guard_refuses_what_it_always_refused(args: tuple[Any, ...]) -> None:
    """Given text or other values either side of MAX_INPUT, expect the guard to let through or refuse as before."""
    assert outcome(_guarded(echo), *args) == plain_guard(*args)


@pytest.mark.parametrize(
    ("value", "refused"),
    [("cust0009@example.com", False), ("x" * (MAX_INPUT - 14), False), ("x" * (MAX_INPUT - 13), True)],
)
def test_lookup_refuses_what_it_always_refused(value: str, refused: bool) -> None:
    """Given text whose weight with the table's 13-character name is either side of MAX_INPUT, expect
    it looked up, or refused, as `_weight` would count it."""
    variables: dict[str, Any] = {"tables": {"customer_urns": {"cust0009@example.com": "CUST9"}}}
    assert (_weight([value, "customer_urns"], MAX_INPUT) > MAX_INPUT) is refused
    if refused:
        with pytest.raises(TemplateLimit):
            _lookup(variables, value, "customer_urns")
    else:
        assert _lookup(variables, value, "customer_urns") == ("CUST9" if value.startswith("cust") else None)


def plain_parties(given: reveni.Address | None, first: Any, last: Any, email: Any) -> tuple[Address, Contact, bool]:
    """The invoice address and contact as the header made them before `parties`, and whether `too_long` finds nothing."""
    invoice = address(given, email or "")
    contact = Contact(Forename=text(sent(first)), Surname=text(sent(last)), Email=text(sent(email)))
    return invoice, contact, not too_long(invoice) and not too_long(contact)


# Text of any length either side of Khaos's limits, with characters XML forbids or `isprintable` refuses.
PARTY_TEXT = (
    st.none() | st.just(UNSET) | st.text(alphabet=st.sampled_from(EDGES) | st.sampled_from("ab "), max_size=110)
)


@given(
    st.none()
    | st.builds(
        reveni.Address,
        line1=PARTY_TEXT,
        line2=PARTY_TEXT,
        city=PARTY_TEXT,
        postcode=PARTY_TEXT,
        country_code=PARTY_TEXT,
    ),
    PARTY_TEXT,
    PARTY_TEXT,
    PARTY_TEXT,
)
@example(reveni.Address(line1="1 High St", city="Leeds", postcode="LS1 1AA", country_code="GB"), "Amelia", "", None)
@example(reveni.Address(line1="x" * 35, line2="y" * 36, city="Leeds", country_code="GB"), "A", "B", "a@b.co")
@example(reveni.Address(line1="1 High St", city="Leeds", postcode="LS1 1AA\x00", country_code="GB"), "A", "B", "")
@example(
    reveni.Address(line1="1 High St", city="Leeds", postcode="LS1 1AA", country_code="GB"), "A" * 51, None, "e" * 101
)
def test_parties_are_the_address_and_contact_they_always_were(
    given_address: reveni.Address | None, first: Any, last: Any, email: Any
) -> None:
    """Given any address, names and email (left out, null, empty, unprintable, over Khaos's
    lengths), expect the same address and contact, and `fit` exactly when `too_long` finds nothing."""
    assert parties(given_address, first, last, email) == plain_parties(given_address, first, last, email)


@pytest.mark.parametrize("by", ["Name", "Code", "ID"])
def test_a_sales_source_named_by_any_field_is_the_data_item_it_always_was(by: str) -> None:
    """Given a rule set naming SalesSource by Name, Code or ID, expect the DataItem `DataItem(**{by: name})` makes."""
    assert named(by, "REVENI") == DataItem(**{by: "REVENI"})
    assert msgspec.json.encode(named(by, "REVENI")) == b'{"%s":"REVENI"}' % by.encode()


@pytest.mark.parametrize(
    ("tables", "found"),
    [
        ({"customer_urns": {"cust0009@example.com": "CUST9"}}, "CUST9"),
        (MappingProxyType({"customer_urns": {"cust0009@example.com": "CUST9"}}), "CUST9"),  # a Mapping, no dict
        ([("customer_urns", {})], "error"),  # no Mapping at all
        ({"other": {}}, "error"),
    ],
    ids=["dict", "mapping", "list", "no such table"],
)
def test_lookup_reads_tables_given_as_any_mapping_and_refuses_anything_else(tables: Any, found: str) -> None:
    """Given the tables as a dict, another Mapping, a list or without the table, expect the entry or `no table named`."""
    variables: dict[str, Any] = {"tables": tables}
    if found == "error":
        with pytest.raises(ValueError, match="no table named 'customer_urns'"):
            _lookup(variables, "cust0009@example.com", "customer_urns")
    else:
        assert _lookup(variables, "cust0009@example.com", "customer_urns") == found
