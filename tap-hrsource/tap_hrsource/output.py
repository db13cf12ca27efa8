"""Fast Singer output: msgspec encoding, and no flush of stdout after every RECORD.

The SDK's MsgSpecWriter flushes stdout after each message, a system call per record. Here RECORD
lines go into the stdout buffer and every other message (SCHEMA, STATE, ...) flushes, so a STATE
line is never written before the records it covers.
"""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.encoding.simple import Message, RecordMessage


def _encode_other(value: object) -> object:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


_record_encoder = msgspec.json.Encoder(enc_hook=_encode_other, decimal_format="number")


class BufferedMsgSpecWriter(MsgSpecWriter):
    """MsgSpecWriter that flushes only after non-RECORD messages."""

    def write_message(self, message: Message) -> None:
        sys.stdout.buffer.write(self.format_message(message))
        if not isinstance(message, RecordMessage):
            sys.stdout.flush()


def write_record_line(stream: str, record: dict, time_extracted: str, version: int | None) -> None:
    """One RECORD message, encoded straight from the (already typed) record dict."""
    message: dict = {"type": "RECORD", "stream": stream, "record": record, "time_extracted": time_extracted}
    if version is not None:
        message["version"] = version
    buffer = sys.stdout.buffer
    buffer.write(_record_encoder.encode(message))
    buffer.write(b"\n")
