"""A RECORD message of the exceptions stream as its line: the bytes singer-sdk's
`format_message` writes (simplejson, compact, ASCII only), made by msgspec wherever msgspec
writes the same.

singer-sdk's serialiser cost ~8 us a record, msgspec ~1 us (issue 22: about half the returns
touch an exception, each sent after its batch). msgspec writes text as UTF-8 and DEL as it
is, where singer-sdk escapes both, writes floats its own way, and refuses a lone surrogate:
a line that is not plain ASCII, or a record with anything but text, whole numbers,
true/false and null, goes through singer-sdk as it always did
(tests/test_exception_stream_line.py holds the two to the same bytes).
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec
from singer_sdk.singerlib import RecordMessage, format_message

_ENCODER = msgspec.json.Encoder()  # compact, as singer-sdk writes a line
# The types msgspec writes as singer-sdk does; exactly these (`type(x) is`), never a subclass.
_PLAIN = frozenset({str, int, bool, type(None)})


def record_line(stream: str, record: Mapping[str, object]) -> str:
    """The line of a RECORD message on this stream (no newline): format_message's, byte for byte."""
    if type(stream) is str and _plain(record):
        try:
            line = _ENCODER.encode({"type": "RECORD", "stream": stream, "record": record})
        except UnicodeEncodeError:  # a lone surrogate: singer-sdk writes it escaped
            line = b""
        if line and line.isascii() and b"\x7f" not in line:  # as singer-sdk's ASCII-only line would be
            return line.decode("ascii")
    return format_message(RecordMessage(stream, dict(record)))


def _plain(record: Mapping[str, object]) -> bool:
    for key, value in record.items():  # noqa: SIM110 (all() of a generator cost as much as the encoding)
        if type(key) is not str or type(value) not in _PLAIN:
            return False
    return True
