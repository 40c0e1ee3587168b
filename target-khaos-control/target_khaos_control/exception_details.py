"""An exception's details as the store keeps them: the text json.dumps(details, default=str,
ensure_ascii=False) writes, byte for byte, made by msgspec wherever msgspec writes the same.

json's encoder cost ~2 us an exception (one is made per call), msgspec's ~0.6 us with the
look below; about half the returns open one (issue 22). msgspec writes floats (1e16, not
1e+16), moments, UUIDs, enums, sets and the like its own way, and refuses a lone
surrogate: those details, and anything else not plainly text, whole numbers, Decimals,
lists and dicts keyed by text, go through json as they always did
(tests/test_exception_details.py holds the two to the same bytes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, cast

import msgspec

# Details written out by hand (text values through json's own string encoder, as line_facts
# does) cost as much as msgspec's encode and format here (~1.3 us for a refund difference's).
_JSON = json.JSONEncoder(default=str, ensure_ascii=False)  # what the store has always kept
_MSGSPEC = msgspec.json.Encoder()  # a Decimal as its str(), as default=str writes it
_FORMAT = msgspec.json.format
# The types msgspec writes as json writes them; exactly these (`type(x) is`), never a subclass.
_PLAIN = frozenset({str, int, bool, type(None), Decimal})


def details_text(details: Mapping[str, object]) -> str:
    """The `details` column of an exception: json.dumps(details, default=str, ensure_ascii=False)."""
    if _plain(details):
        try:
            # indent=0: one line, with json.dumps's ", " and ": " between items
            return _FORMAT(_MSGSPEC.encode(details), indent=0).decode()
        except UnicodeEncodeError:  # a lone surrogate, which json keeps as it is
            pass
    return _JSON.encode(details)


_DECODER = msgspec.json.Decoder()


def details_of(text: str) -> Any:
    """What an exception's `details` column holds: json.loads(text), read by msgspec where it
    reads the same (~0.6 us, json's ~3 us); NaN, a number past a float, a lone surrogate,
    or anything else msgspec refuses, read by json as it always was."""
    try:
        return _DECODER.decode(text)
    except (msgspec.DecodeError, UnicodeEncodeError):
        return json.loads(text)


def _plain(value: object) -> bool:
    """Whether msgspec writes this as json does: text keys, plain values, at any depth."""
    kind = type(value)
    if kind in _PLAIN:
        return True
    if kind is dict:
        for key, item in cast("dict[object, object]", value).items():  # a loop: any() of a generator cost more
            if type(key) is not str or (type(item) not in _PLAIN and not _plain(item)):
                return False
        return True
    if kind is list or kind is tuple:  # json writes a tuple as a list, as msgspec does
        return all(_plain(item) for item in cast("list[object]", value))
    return False
