"""Every place where the target reaches into singer-sdk's private members, fenced in one module.

The SDK handles a record in about a dozen steps (copy for stream maps, `_sdc` metadata, JSON Schema
validation, date parsing, a metric per record, a DEBUG log of the batch context). For an HR stream that
is neither mapped nor flattened, the target does the useful ones per batch, vectorized, and skips the
rest; and it holds STATE back until the package is safe. Both need private SDK members. They are listed
next to the `singer-sdk` pin in pyproject.toml, and tests/singer/test_sdk_private_members.py fails, naming the
member, when an SDK release removes one or changes its signature. Why each exists:

- `DirectRecordTarget._process_record_message` (overrides `Target._process_record_message`): the
  direct path from a RECORD message to its sink, without the per-record steps a batch does better;
  it reads the private `Target._sinks_active` to find the sink and calls
  `Target._handle_max_record_age` every `RECORD_AGE_CHECK_EVERY` records instead of after each one.
- `DirectRecordTarget._process_schema_message` (overrides the SDK's): a SCHEMA message may replace
  sinks and stream maps, so the direct path's choices are forgotten.
- `HeldStateTarget._write_state_message` (overrides `Target._write_state_message`): the SDK writes
  STATE at every drain; a STATE must not leave before the data it covers is packaged and delivered.
- `TerminationHook._handle_termination` (overrides `PluginBase._handle_termination`, the SDK's SIGINT
  and SIGTERM handler): the private work directory holding HR data is removed before exiting.
- `CheckedSettingsTarget._validate_config` (overrides `PluginBase._validate_config`, where the SDK
  checks the merged settings of files and environment at start-up): the target's own checks
  (`config_check.py`) run first, so every configuration problem names its setting and exits with 2.
- `UnparsedRecordsSink._validate_and_parse` (overrides `Sink._validate_and_parse`): records stay as
  the tap sent them; type checks and date handling run per batch in `formatting.py`.
- `DirectRecordSink.take_record`: the SDK's per-record work for an unmapped stream, minus what a batch
  does better. It uses `Sink._pending_batch`, `BatchSink._get_context` and `Sink._key_properties`; the
  records it takes are tallied once per batch, so `current_size` adds them to the private
  `Sink._batch_records_read` until `start_drain` hands them to the SDK's tallies.
- `DirectRecordSink._after_process_record` (overrides the SDK's): the SDK logs the batch context at
  DEBUG level there, and the context holds the records, which are personal data.
- `LeanMessageReader` (subclasses `GenericSingerReader`, overrides `process_lines`, calls the private
  `_process_unknown_message`): the SDK's loop over input lines, with one call per line fewer.
"""

from __future__ import annotations

import abc
import json
import sys
from collections import Counter
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

import msgspec
from singer_sdk.exceptions import MissingKeyPropertiesError
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib.encoding import GenericSingerReader
from singer_sdk.sinks import BatchSink
from singer_sdk.target_base import Target

if TYPE_CHECKING:
    from singer_sdk.sinks.core import BaseJSONSchemaValidator

# The SDK checks the age of buffered records after every record; every this many is plenty.
RECORD_AGE_CHECK_EVERY = 1000


# -- sinks ------------------------------------------------------------------------------------------------


class UnparsedRecordsSink(BatchSink):
    """A batch sink whose records reach `process_batch` exactly as the tap sent them."""

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """Type checking runs vectorized per batch in `formatting.py`, not per record in jsonschema."""
        return None

    def _validate_and_parse(self, record: dict) -> dict:
        # The SDK would parse date strings into datetime objects one record at a time; the batch
        # conversion reads the ISO text directly, so records pass through untouched.
        return record


class DirectRecordSink(UnparsedRecordsSink):
    """A sink that `DirectRecordTarget` hands records to directly (`take_record`).

    Records taken directly are tallied (the SDK's read counts and record counter metric) once per
    batch, when it starts draining; until then `current_size` adds them to the SDK's own count.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._untallied = 0  # records taken directly, not yet in the SDK's tallies and metric
        super().__init__(*args, **kwargs)

    def setup(self) -> None:
        super().setup()
        self._key_set = frozenset(self._key_properties)
        self._batch_limit = self.max_size

    @property
    def current_size(self) -> int:
        return self._batch_records_read + self._untallied

    def take_record(self, record: dict) -> bool:
        """What the SDK does with a record of an unmapped stream, minus what a batch does better.

        Left out per record: the copy for stream maps (there are none), `_sdc` metadata (off), JSON
        Schema validation and date parsing (vectorized per batch), and the read tally and record
        counter metric (counted per batch). Kept: the batch context and the key-property check.
        Returns whether the batch is full.
        """
        if not record.keys() >= self._key_set:
            msg = f"Record is missing one or more key_properties: {list(self._key_properties)}"
            raise MissingKeyPropertiesError(msg)
        batch = self._pending_batch
        if batch is None:
            batch = self._get_context(record)
            batch["records"] = []
        records = batch["records"]
        records.append(record)
        self._untallied += 1
        return len(records) >= self._batch_limit

    def start_drain(self) -> dict:
        """Tally the records taken directly, then let the SDK start the drain."""
        if self._untallied:
            self.tally_record_read(self._untallied)
            self.record_counter_metric.increment(self._untallied)
            self._untallied = 0
        return super().start_drain()

    def _after_process_record(self, context: dict) -> None:
        """The SDK logs the batch context here at DEBUG level: it holds the records, personal data."""


# -- the target -------------------------------------------------------------------------------------------


class DirectRecordTarget(Target):
    """Hands RECORD messages of unmapped streams straight to their `DirectRecordSink`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._direct_sinks: dict[Any, DirectRecordSink | None] = {}  # by the messages' stream value
        self._records_since_age_check = 0
        super().__init__(*args, **kwargs)

    def _process_schema_message(self, message_dict: dict) -> None:
        super()._process_schema_message(message_dict)
        self._direct_sinks.clear()  # sinks and stream maps may have been replaced

    def _process_record_message(self, message_dict: dict) -> None:
        """Per record the SDK copies, maps, validates and parses; when none of that applies, skip it.

        JSON Schema checks and date handling happen vectorized per batch in the sink. Anything unusual
        (stream maps, flattening, `_sdc` metadata, a malformed message) takes the SDK's own path.
        """
        stream_name = message_dict.get("stream")
        try:
            sink = self._direct_sinks[stream_name]
        except KeyError:
            sink = self._direct_sink(stream_name)
        record = message_dict.get("record")
        if sink is None or not isinstance(record, dict):
            super()._process_record_message(message_dict)
            return
        if sink.take_record(record):
            self.drain_one(sink)
        self._records_since_age_check += 1
        if self._records_since_age_check >= RECORD_AGE_CHECK_EVERY:
            self._records_since_age_check = 0
            self._handle_max_record_age()

    def _direct_sink(self, stream_name: Any) -> DirectRecordSink | None:
        if stream_name in self._direct_sinks:
            return self._direct_sinks[stream_name]
        maps = self.mapper.stream_maps.get(stream_name) if isinstance(stream_name, str) else None
        sink = self._sinks_active.get(stream_name) if maps else None
        direct = (
            maps is not None
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and maps[0].stream_alias == stream_name
            and not maps[0].flattening_enabled
            and isinstance(sink, DirectRecordSink)
            and not sink.include_sdc_metadata_properties
        )
        self._direct_sinks[stream_name] = sink if direct and isinstance(sink, DirectRecordSink) else None
        return self._direct_sinks[stream_name]


class HeldStateTarget(Target):
    """Holds STATE back until `release_state`; after that, STATE is written as it comes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._pending_state: dict | None = None
        self._state_released = False
        super().__init__(*args, **kwargs)

    def _write_state_message(self, state: dict) -> None:
        """The SDK calls this at every drain; the state is only released after packaging/upload."""
        if self._state_released:
            self.emit_state(state)
        else:
            self._pending_state = state

    def release_state(self) -> None:
        """Write the latest held STATE, and every later one as it comes."""
        self._state_released = True
        if self._pending_state:
            self.emit_state(self._pending_state)
            self._pending_state = None

    @staticmethod
    def emit_state(state: dict) -> None:
        """Write one STATE message to stdout (values the SDK's JSON cannot write become text)."""
        sys.stdout.write(json.dumps(state, default=str) + "\n")
        sys.stdout.flush()


class CheckedSettingsTarget(Target):
    """Runs `check_settings` where the SDK validates the merged settings, before its own validation."""

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        self.check_settings()
        return super()._validate_config(raise_errors=raise_errors)  # also fills in the defaults

    @abc.abstractmethod
    def check_settings(self) -> None:
        """Raise a configuration error for any setting the run cannot go ahead with."""


class TerminationHook(Target):
    """Runs `on_termination` when the SDK's signal handler is called (SIGINT, SIGTERM)."""

    def _handle_termination(self, signum: int, frame: Any) -> None:  # pragma: no cover - signal path
        self.on_termination(signum)

    @abc.abstractmethod
    def on_termination(self, signum: int) -> None:
        """Clean up and exit; called from the signal handler."""


# -- the message reader -----------------------------------------------------------------------------------


def undecodable(line: bytes | str, error: msgspec.DecodeError) -> str:
    """Why `line` could not be decoded, the same whichever way a msgspec release words bad UTF-8.

    msgspec reports invalid UTF-8 as a decode error whose text changes between releases, so the bytes
    are checked here, on the failure path only.
    """
    if isinstance(line, bytes):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return "is not UTF-8 text"
    return f"is not valid JSON ({error})"


class LeanMessageReader(GenericSingerReader[str]):
    """The SDK's loop over input lines, leaner: it runs once per record, so every call saved counts.

    Subclasses provide `decoder` (a msgspec JSON decoder) and `not_a_message`.
    """

    decoder: msgspec.json.Decoder
    line_number: int = 0

    def process_lines(
        self, file_input: IO[str] | None, callbacks: dict[str, Callable[[dict], None]]
    ) -> Counter[str]:
        stats: Counter[str] = Counter()
        records = 0  # RECORD messages, counted apart: they are nearly all the lines
        on_record = callbacks.get("RECORD")
        decode = self.decoder.decode
        number = self.line_number
        for number, line in enumerate(file_input or self.default_input, self.line_number + 1):
            try:
                message = decode(line)
            except msgspec.DecodeError as exc:
                self.line_number = number
                raise self.not_a_message(undecodable(line, exc)) from None
            if type(message) is not dict:
                self.line_number = number
                raise self.not_a_message("is not a Singer message (a JSON object)")
            message_type = message.get("type")
            if message_type == "RECORD" and on_record is not None:
                on_record(message)
                records += 1
                continue
            callback = callbacks.get(message_type) if isinstance(message_type, str) else None
            if callback is not None:
                callback(message)
            elif message_type is None:
                self.assert_line_requires(message, requires={"type"})  # raises the SDK's error
            else:
                self._process_unknown_message(message)
            stats[str(message_type)] += 1
        self.line_number = number
        if records:
            stats["RECORD"] += records
        return stats

    @abc.abstractmethod
    def not_a_message(self, problem: str) -> Exception:
        """The error for input line `line_number`, which has `problem`."""
