"""A Reveni record as stable JSON: the same record always gives the same bytes, so a version
seen again is known by their hash (with the rules'), and the text is what the store keeps of it."""

from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

import msgspec

from target_khaos_control.documents import Draft, storable
from target_khaos_control.reveni import Sent

# Sorted keys, no spaces, text unescaped, Decimal as its text: byte for byte what
# json.dumps(sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False) writes
# for a record as the target reads it (no floats: numbers with a point are Decimal), at a
# seventh of the cost. A value msgspec cannot write goes through json.dumps.
CANONICAL = msgspec.json.Encoder(order="sorted", decimal_format="string")


def canonical_json(record: Sent) -> str:
    """A record as stable JSON: the same record always gives the same text."""
    return canonical_bytes(record).decode("utf-8", "surrogatepass")


def canonical_bytes(record: Sent) -> bytes:
    """`canonical_json` as UTF-8 (a lone surrogate as surrogatepass writes it): what is hashed."""
    return written(record)[0]


def written(record: Sent) -> tuple[bytes, bool]:
    """`canonical_bytes`, and whether msgspec wrote them: then no text in the record holds a
    lone surrogate, and the record check need not write it again to look (`reveni.read`)."""
    try:
        return CANONICAL.encode(record), True
    except (msgspec.EncodeError, TypeError, UnicodeError):
        text = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
        return text.encode("utf-8", "surrogatepass"), False


def stored_text(canonical: bytes) -> str:
    """`canonical` as the store keeps it: `documents.storable` of its text (a lone surrogate
    written as its JSON escape). Bytes that are UTF-8 hold none, and are read as they are."""
    try:
        return canonical.decode()
    except UnicodeDecodeError:  # a lone surrogate, written by surrogatepass
        return storable(canonical.decode("utf-8", "surrogatepass"))


def content_hash(canonical: bytes) -> str:
    """The SHA-256 of a record's stable JSON: an unchanged version is recognised by it."""
    return hashlib.sha256(canonical).hexdigest()


class Entry(NamedTuple):
    """One (record, draft) pair of a batch, with the record's stable JSON (made text only
    when stored) and what knows this version again: its content hash and the rules' hash."""

    record: Sent
    draft: Draft
    canonical: bytes
    version: tuple[str, str]

    @classmethod
    def of(cls, record: Sent, draft: Draft, canonical: bytes | None = None) -> Entry:
        """The entry of a (record, draft) pair: its record serialised once, for the hash and the
        stored copy (`canonical`: its `canonical_bytes`, when the caller wrote them already)."""
        if canonical is None:
            canonical = canonical_bytes(record)
        return cls(record, draft, canonical, (content_hash(canonical), draft.ruleset_hash))
