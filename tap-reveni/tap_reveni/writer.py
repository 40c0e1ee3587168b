"""Singer messages out: msgspec's writer, and plain JSON escapes for what it cannot write.

Messages are gathered and written to stdout in blocks, with each STATE at the latest:
stdout is unbuffered under Meltano (PYTHONUNBUFFERED), and a system call per record was
a fifth of the tap's CPU (issue 22). A record therefore reaches the target no later than
the bookmark that covers it, and `flush` writes what is left when a run stops early.

Text holding a lone surrogate (half of a UTF-16 pair, which Reveni's JSON can carry as
`\\ud800`) is no UTF-8: msgspec refuses it and would stop the run. Such a message is
written with JSON escapes instead, exactly as received, and the target holds that
return as an `invalid_record`.
"""

from __future__ import annotations

import datetime
import sys
import typing as t

import simplejson
from singer_sdk.contrib.msgspec import MsgSpecWriter, encoder
from singer_sdk.singerlib import SingerMessageType

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.simple import Message

BLOCK = 64 * 1024  # bytes gathered before a write
_pending = bytearray()


def _plain(value: t.Any) -> str:
    return value.isoformat(sep="T") if isinstance(value, datetime.datetime) else str(value)


class Writer(MsgSpecWriter):
    """msgspec's writer, with JSON escapes for text that is not UTF-8."""

    def serialize_message(self, message: Message) -> bytearray:
        """One Singer line; with JSON escapes when the message holds text that is not UTF-8."""
        try:
            return super().serialize_message(message)
        except UnicodeEncodeError:
            return bytearray(_escaped(message.to_dict()))

    def write_message(self, message: Message) -> None:
        """Gathered into a block, written out with each STATE message or when full."""
        _gather(message.to_dict())
        if message.type == SingerMessageType.STATE or len(_pending) >= BLOCK:
            flush()

    def write_record(
        self, stream: str, record: dict[str, t.Any], version: int | None, time_extracted: datetime.datetime
    ) -> None:
        """A RECORD message, the line `write_message` writes for singer-sdk's RecordMessage (the keys
        of its `to_dict`, in that order) without building one: that was a tenth of the tap's own CPU
        per record (issue 22). `time_extracted` is in UTC, as RecordMessage makes it."""
        message: dict[str, t.Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            message["version"] = version
        message["time_extracted"] = time_extracted
        _gather(message)
        if len(_pending) >= BLOCK:
            flush()


def _gather(message: dict[str, t.Any]) -> None:
    end = len(_pending)
    try:  # encoded straight onto the block, as singer-sdk's msgspec writer encodes it
        encoder.encode_into(message, _pending, -1)
        _pending.extend(b"\n")
    except UnicodeEncodeError:
        del _pending[end:]
        _pending.extend(_escaped(message))


def _escaped(message: dict[str, t.Any]) -> bytes:
    line: str = simplejson.dumps(message, use_decimal=True, ensure_ascii=True, default=_plain)
    return line.encode() + b"\n"


def flush() -> None:
    """Write out the messages gathered so far."""
    if _pending:
        try:
            sys.stdout.buffer.write(_pending)
            sys.stdout.flush()
        finally:
            _pending.clear()  # written, or never to be: a target that stopped reading
