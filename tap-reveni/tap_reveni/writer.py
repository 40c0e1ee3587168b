"""Singer messages out: msgspec's writer, and plain JSON escapes for what it cannot write.

Text holding a lone surrogate (half of a UTF-16 pair, which Reveni's JSON can carry as
`\\ud800`) is no UTF-8: msgspec refuses it and would stop the run. Such a message is
written with JSON escapes instead, exactly as received, and the target holds that
return as an `invalid_record`.
"""

from __future__ import annotations

import datetime
import typing as t

import simplejson
from singer_sdk.contrib.msgspec import MsgSpecWriter

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.simple import Message


def _plain(value: t.Any) -> str:
    return value.isoformat(sep="T") if isinstance(value, datetime.datetime) else str(value)


class Writer(MsgSpecWriter):
    """msgspec's writer, with JSON escapes for text that is not UTF-8."""

    def serialize_message(self, message: Message) -> bytearray:
        """One Singer line; with JSON escapes when the message holds text that is not UTF-8."""
        try:
            return super().serialize_message(message)
        except UnicodeEncodeError:
            line = simplejson.dumps(message.to_dict(), use_decimal=True, ensure_ascii=True, default=_plain)
            return bytearray(line.encode() + b"\n")
