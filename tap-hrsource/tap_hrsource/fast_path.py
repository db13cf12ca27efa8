"""Every place where tap-hrsource relies on singer-sdk internals, fenced in one module.

The tap writes about a million RECORD lines a minute; the SDK's generic path (per-record type
conformance, a stream-map pass, a flush of stdout after every message) would cost most of that time.
This module takes the faster path only where nothing would change the records, and leaves the SDK's
own path in charge everywhere else.

Private or internal singer-sdk members used here (also listed next to the pin in pyproject.toml and
checked by tests/test_sdk_private_members.py, which names the member an upgrade removed or changed):

- `Stream._write_record_message(record)`: overridden to write plain records directly.
- `Stream._stream_version`: the ACTIVATE_VERSION version written into each RECORD.
- `Stream.TYPE_CONFORMANCE_LEVEL` / `singer_sdk.helpers.conform.TypeConformanceLevel.NONE`: records
  are already typed, so the SDK's per-record conformance is switched off.
- `Stream.mask` (a `SelectionMask` keyed by `("properties", name)` breadcrumbs) and `Stream.stream_maps`
  (a list whose single `singer_sdk.mapper.SameRecordTransform` with `flattening_enabled` false means
  "no stream map"): read to decide whether the records pass through unchanged.
- `Stream.state_manager.is_flushed`: set to False after writing, as the SDK's own path does, so that
  STATE is written after the records.
- `singer_sdk.contrib.msgspec.MsgSpecWriter.format_message(message)`: the writer's encoding, reused
  by a writer that flushes stdout only after non-RECORD messages.
"""

from __future__ import annotations

import datetime as dt
import functools
import sys
from decimal import Decimal
from typing import Any

import msgspec
from singer_sdk import Stream
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib.encoding.simple import Message, RecordMessage


def utc_now_iso() -> str:
    """The current UTC time in ISO 8601, for `time_extracted` (the standard library, not the SDK's helper)."""
    return dt.datetime.now(dt.timezone.utc).isoformat()


def _encode_other(value: object) -> object:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


_record_encoder = msgspec.json.Encoder(enc_hook=_encode_other, decimal_format="number")


class BufferedMsgSpecWriter(MsgSpecWriter):
    """MsgSpecWriter that flushes stdout only after non-RECORD messages.

    The SDK's writer flushes after each message, a system call per record. RECORD lines stay in the
    stdout buffer; every other message (SCHEMA, STATE, ...) flushes, so a STATE line is never
    written before the records it covers.
    """

    def write_message(self, message: Message) -> None:
        """Write one message; flush unless it is a RECORD.

        Args:
            message: The Singer message to write.
        """
        sys.stdout.buffer.write(self.format_message(message))
        if not isinstance(message, RecordMessage):
            sys.stdout.flush()


def write_record_line(stream: str, record: dict, time_extracted: str, version: int | None) -> None:
    """Write one RECORD message, encoded straight from the (already typed) record dict.

    Args:
        stream: The stream name.
        record: JSON-ready values of the stream schema's types.
        time_extracted: ISO 8601 time the extraction started.
        version: The stream version for ACTIVATE_VERSION, or None.
    """
    message: dict = {"type": "RECORD", "stream": stream, "record": record, "time_extracted": time_extracted}
    if version is not None:
        message["version"] = version
    buffer = sys.stdout.buffer
    buffer.write(_record_encoder.encode(message))
    buffer.write(b"\n")


class FastRecordStream(Stream):
    """A Stream whose records are written directly when no selection or stream map changes them.

    Subclasses must yield records that hold only JSON-ready values of the schema's types: the SDK's
    per-record type conformance, its largest per-record cost, is switched off.
    """

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.time_extracted = utc_now_iso()

    @functools.cached_property
    def plain_output(self) -> bool:
        """True when no stream map, flattening or deselected property changes the records."""
        maps = self.stream_maps
        only_identity = len(maps) == 1 and type(maps[0]) is SameRecordTransform
        if not only_identity or maps[0].flattening_enabled:
            return False
        return all(self.mask.get(("properties", name), True) for name in self.schema["properties"])

    def _write_record_message(self, record: dict) -> None:
        # The SDK's private hook: write the record directly when nothing would change it; otherwise
        # the SDK's own path (selection, stream maps, flattening) runs unchanged.
        if not self.plain_output:
            super()._write_record_message(record)
            return
        write_record_line(self.name, record, self.time_extracted, self._stream_version)
        self.state_manager.is_flushed = False
