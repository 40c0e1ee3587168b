"""Standard input's lines are read as bytes by msgspec (issue 22): each gives the message, the
skip or the stop its text would, under either errors handler standard input may have."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from target_khaos_control.singer_input import Reader

SCHEMA = json.dumps({"type": "SCHEMA", "stream": "returns", "schema": {"properties": {}}, "key_properties": []})
RECORD = '{"type": "RECORD", "stream": "returns", "record": {"id": "r1", "name": "José Núñez", "total": 24.5}}'
LINES: dict[str, list[bytes]] = {
    # what the lines hold -> the lines, as standard input's bytes
    "records": [SCHEMA.encode(), RECORD.encode(), b'{"type": "STATE", "value": {"a": 1}}'],
    "white space, ASCII's and other": [SCHEMA.encode(), b"", b"  \t\r", "\u00a0\u2003".encode(), RECORD.encode()],
    "a line ending in CR LF": [SCHEMA.encode() + b"\r", RECORD.encode() + b"\r"],
    "a CR inside a line": [SCHEMA.encode(), RECORD.encode().replace(b", ", b",\r", 1)],
    "NaN and a whole number too long for Python": [
        SCHEMA.encode(),
        b'{"type": "RECORD", "stream": "returns", "record": {"id": NaN, "n": ' + b"9" * 5000 + b"}}",
    ],
    "a BOM": [b"\xef\xbb\xbf" + SCHEMA.encode()],
    "not JSON": [SCHEMA.encode(), b"{not json"],
    "a byte not UTF-8 in a text": [SCHEMA.encode(), RECORD.encode().replace(b"Jos\xc3\xa9", b"Jos\xff")],
    "a byte not UTF-8 between values": [SCHEMA.encode(), RECORD.encode().replace(b", ", b",\xff ", 1)],
    "a lone surrogate escaped": [SCHEMA.encode(), RECORD.encode().replace(b"r1", b"r\\ud800")],
}


def _read(reader: Reader, data: bytes, errors: str, *, as_text: bool) -> tuple[list[dict[str, Any]], str | None]:
    """What the reader hands on and how it stops, standard input holding `data`."""
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors=errors, newline="\n")
    seen: list[dict[str, Any]] = []
    callbacks = {kind: seen.append for kind in ("SCHEMA", "RECORD", "STATE", "ACTIVATE_VERSION", "BATCH")}
    reader.default_input = stdin
    try:
        reader.process_lines(stdin if as_text else None, callbacks)
    except SystemExit as stop:
        return seen, str(stop.code)
    return seen, None


# As text, strict standard input stops on a byte not UTF-8 naming the line and byte of the
# 8 KB it read ahead: read as bytes, the stop names its own (the test after this one).
CASES = [
    (case, errors)
    for case in LINES
    for errors in ("surrogateescape", "strict")
    if not ("UTF-8" in case and errors == "strict")
]


@pytest.mark.parametrize(("case", "errors"), CASES, ids=[f"{case}, {errors}" for case, errors in CASES])
def test_each_line_of_standard_input_read_as_bytes_gives_what_its_text_gives(case: str, errors: str) -> None:
    data = b"\n".join(LINES[case]) + b"\n"

    as_bytes = _read(Reader(), data, errors, as_text=False)

    assert repr(as_bytes) == repr(_read(Reader(), data, errors, as_text=True))  # repr: NaN is not NaN


def test_a_byte_not_utf8_on_strict_standard_input_stops_naming_its_line_and_its_place_in_it() -> None:
    data = b"\n".join([SCHEMA.encode(), b"", RECORD.encode().replace(b"Jos\xc3\xa9", b"Jos\xff")]) + b"\n"

    seen, stop = _read(Reader(), data, "strict", as_text=False)

    assert [m["type"] for m in seen] == ["SCHEMA"]
    at = RECORD.encode().index(b"Jos") + 3
    assert stop == (
        f"target-khaos-control: line 3 of the Singer input: not UTF-8 text (byte {at} cannot be read). "
        "Stopped there: returns committed before it keep their bookmark; rerun once the input is fixed."
    )


def test_standard_input_is_read_as_bytes() -> None:
    # Given standard input in UTF-8, expect its bytes read (no text made of a line first).
    stdin = io.TextIOWrapper(io.BytesIO(b""), encoding="utf-8", newline="\n")
    assert Reader()._lines(stdin) is stdin.buffer
    # Given standard input in another encoding, expect its text.
    latin = io.TextIOWrapper(io.BytesIO(b""), encoding="latin-1")
    assert Reader()._lines(latin) is latin
