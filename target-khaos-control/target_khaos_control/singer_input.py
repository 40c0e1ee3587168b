"""The Singer lines the target reads, each checked for its shape before singer-sdk acts on it.

A line that is no Singer message (not JSON, not an object, a RECORD without its stream, a
SCHEMA whose schema is a list ...) stops the target with one line naming the line's number
and what is wrong, never a traceback: nothing it had not committed is passed on as done,
so a rerun after the fix loses nothing. A RECORD whose record is null carries no return
to hold an exception against: it is skipped, and said so in the log.
"""

from __future__ import annotations

import codecs
import logging
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import IO, Any, cast

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecReader, decoder
from singer_sdk.exceptions import RecordsWithoutSchemaException
from singer_sdk.singerlib.exceptions import InvalidInputLine
from singer_sdk.singerlib.json import deserialize_json

logger = logging.getLogger("target-khaos-control")

MAX_INT_DIGITS = 4_000  # Python reads no longer whole number: one is kept as a Decimal, for the rules to refuse
# What each message type must hold: field -> the JSON type it must have.
REQUIRED: dict[str, dict[str, type | tuple[type, ...]]] = {
    "RECORD": {"stream": str, "record": (dict, type(None))},
    "SCHEMA": {"stream": str, "schema": dict},
    "STATE": {"value": (dict, type(None))},
    "ACTIVATE_VERSION": {"stream": str, "version": int},
}
JSON_TYPES = {dict: "an object", str: "text", int: "a whole number", list: "a list", type(None): "null"}


class StreamRefused(ValueError):
    """A stream the target does not load."""


class RecordBeforeSchema(RecordsWithoutSchemaException, SystemExit):
    """singer-sdk's own error (its standard tests expect it), ending the run as one line."""

    def __init__(self, message: str) -> None:
        """End the run with this message, as singer-sdk's tests expect."""
        super().__init__(message)
        self.code = message


def _integer(text: str) -> int | Decimal:
    return int(text) if len(text) <= MAX_INT_DIGITS else Decimal(text)


class Reader(MsgSpecReader):
    """Each line decoded by msgspec (numbers with a point as Decimal, as singer-sdk's own
    reader); a line only Python's json reads (a bare NaN, say) is read as singer-sdk would,
    so the rules, not the reader, judge what it holds."""

    # How standard input decodes its bytes (`_lines`): its errors handler, or None while
    # lines are read as text.
    stdin_errors: str | None = None

    def deserialize_json(self, line: str | bytes) -> dict[str, Any]:
        """One Singer line as a message: numbers with a point as Decimal, never a float. A line
        of standard input's bytes that msgspec cannot read is decoded as standard input would
        have (bytes that are not UTF-8 raise UnicodeDecodeError or are kept as its errors
        handler keeps them), and read as that text."""
        try:
            return decoder.decode(line)  # type: ignore[no-any-return]
        except (msgspec.DecodeError, UnicodeDecodeError):  # msgspec's UnicodeDecodeError: bytes not UTF-8 in a text
            if isinstance(line, bytes):  # read again as the text standard input would have made of it
                return self.deserialize_json(line.decode("utf-8", self.stdin_errors or "strict"))
            # NaN as a Decimal too, never a float; a 5,000-digit whole number as a Decimal
            return deserialize_json(line, parse_constant=Decimal, parse_int=_integer)

    def process_lines(
        self, file_input: IO[str] | None, callbacks: dict[str, Callable[[dict[str, Any]], None]]
    ) -> Counter[str]:
        """Read every Singer line and hand each message on; a line that cannot be read ends the run naming it."""
        stats: dict[str, int] = defaultdict(int)
        lines = iter(file_input or self._lines(self.default_input))
        number = 0
        while True:
            number += 1
            try:
                line = next(lines)
            except StopIteration:
                break
            except UnicodeDecodeError as error:
                raise _stop(number, f"not UTF-8 text (byte {error.start} cannot be read)") from None
            if not line or line.isspace():  # as `not line.strip()`, without copying each line
                continue  # an empty line says nothing
            message = self._message(number, line)
            if message is None:
                continue  # a line of white space other than ASCII's, as text
            kind = message["type"]
            if kind == "RECORD" and message["record"] is None:
                logger.warning(
                    "Line %d: a RECORD of stream %r with a null record: no return in it, skipped",
                    number,
                    message["stream"],
                )
                continue
            callback = callbacks.get(kind)
            if callback is None:
                raise _stop(
                    number, f"unknown message type {kind!r}; a Singer message is one of {', '.join(sorted(callbacks))}"
                )
            try:
                callback(message)
            except RecordsWithoutSchemaException as error:
                raise RecordBeforeSchema(_said(number, str(error))) from None
            except (InvalidInputLine, StreamRefused) as error:
                raise _stop(number, str(error)) from None
            stats[kind] += 1
        return Counter(**stats)

    def _lines(self, stdin: IO[str]) -> Iterable[str | bytes]:
        """Standard input's lines, as bytes when they are the lines of its text: it decodes UTF-8
        and splits lines at `\\n` alone (POSIX). Each line's text is then read once, by msgspec,
        not decoded by Python first and encoded again by msgspec to be read (issue 22)."""
        buffer = getattr(stdin, "buffer", None)
        encoding = getattr(stdin, "encoding", None)
        if os.name != "posix" or buffer is None or not encoding or codecs.lookup(encoding).name != "utf-8":
            return stdin
        self.stdin_errors = getattr(stdin, "errors", None) or "strict"
        return cast("Iterable[bytes]", buffer)

    def _message(self, number: int, line: str | bytes) -> dict[str, Any] | None:
        self._current_message = line  # type: ignore[assignment]
        try:
            message = self.deserialize_json(line)
        except UnicodeDecodeError as error:  # a line of standard input's bytes (`_lines`)
            raise _stop(number, f"not UTF-8 text (byte {error.start} cannot be read)") from None
        except ValueError as error:  # json's JSONDecodeError is one
            if isinstance(line, bytes) and line.decode("utf-8", self.stdin_errors or "strict").isspace():
                return None
            raise _stop(number, f"not JSON ({error})") from None
        if not isinstance(message, dict):
            raise _stop(number, f"a Singer message is a JSON object, not {_json_type(message)}")
        kind = message.get("type")
        if kind == "RECORD" and type(message.get("stream")) is str and type(message.get("record")) is dict:
            return message  # a RECORD as the tap writes it: every check below would pass it
        if not isinstance(kind, str):
            raise _stop(
                number,
                f"`type` is {_json_type(kind) if 'type' in message else 'missing'}: a Singer message names its type",
            )
        for field, expected in REQUIRED.get(kind, {}).items():
            if field not in message:
                raise _stop(number, f"a {kind} message without `{field}`")
            value = message[field]
            if not isinstance(value, expected) or isinstance(value, bool):
                wanted = " or ".join(
                    JSON_TYPES.get(t, t.__name__) for t in (expected if isinstance(expected, tuple) else (expected,))
                )
                raise _stop(number, f"`{field}` of a {kind} message is {_json_type(value)}, not {wanted}")
        if kind == "SCHEMA" and not isinstance(message["schema"].get("properties"), dict):
            raise _stop(number, "`schema` of a SCHEMA message has no `properties` object")
        keys = message.get("key_properties", [])
        if kind == "SCHEMA" and not (
            keys is None or (isinstance(keys, list) and all(isinstance(k, str) for k in keys))
        ):
            raise _stop(number, "`key_properties` of a SCHEMA message is not a list of field names")
        return message


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, Decimal | float):
        return "a number"
    return JSON_TYPES.get(type(value), type(value).__name__)


def _said(number: int, what: str) -> str:
    return (
        f"target-khaos-control: line {number} of the Singer input: {what}. "
        "Stopped there: returns committed before it keep their bookmark; rerun once the input is fixed."
    )


def _stop(number: int, what: str) -> SystemExit:
    return SystemExit(_said(number, what))
