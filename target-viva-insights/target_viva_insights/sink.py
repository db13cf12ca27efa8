"""Sinks: the HR stream goes batch by batch into the run's export; other streams are skipped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from singer_sdk.exceptions import MissingKeyPropertiesError
from singer_sdk.sinks import BatchSink

from target_viva_insights.export import Export
from target_viva_insights.memory import release_freed_memory

if TYPE_CHECKING:
    from singer_sdk.sinks.core import BaseJSONSchemaValidator
    from singer_sdk.target_base import Target


class VivaSink(BatchSink):
    """Formats, checks and appends each batch of the HR stream to data.csv (memory bounded by the batch)."""

    # 5,000 rows: per-batch overhead is already small, and the decoded records of a batch are the
    # largest thing in memory (bench/: same speed as 10,000, ~8 MB lower peak).
    MAX_SIZE_DEFAULT = 5_000

    def __init__(
        self, target: Target, stream_name: str, schema: dict, key_properties: Sequence[str] | None
    ) -> None:
        self._export: Export = target.export  # type: ignore[attr-defined]
        self._uncounted = 0  # records taken on the fast path, not yet in the record counter metric
        super().__init__(target, stream_name, schema, key_properties)

    def setup(self) -> None:
        super().setup()
        # Built per sink: a schema change creates a new sink and, if the columns differ, a new part.
        self.columns = self._export.columns_for(self.schema)
        self._export.stream_name = self.stream_name
        self._key_set = frozenset(self._key_properties)
        self._batch_limit = self.max_size

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """Type checking runs vectorized per batch in `formatting.py`, not per record in jsonschema."""
        return None

    def _validate_and_parse(self, record: dict) -> dict:
        # The SDK would parse date strings into datetime objects one record at a time; the batch
        # conversion reads the ISO text directly, so records pass through untouched.
        return record

    def take_record(self, record: dict) -> bool:
        """What the SDK does with a record of an unmapped stream, minus what a batch does better.

        Left out per record: the copy for stream maps (there are none), `_sdc` metadata (off), JSON
        Schema validation and date parsing (vectorized per batch), and the record counter metric
        (counted per batch). Kept: the batch context, the key-property check and the read tally.
        Returns whether the batch is full.
        """
        if not record.keys() >= self._key_set:
            msg = f"Record is missing one or more key_properties: {list(self._key_properties)}"
            raise MissingKeyPropertiesError(msg)
        if self._pending_batch is None:
            self._get_context(record)["records"] = []
        self._pending_batch["records"].append(record)  # type: ignore[index]
        self.tally_record_read()
        self._uncounted += 1
        return self._batch_records_read >= self._batch_limit

    def _after_process_record(self, context: dict) -> None:
        """The SDK logs the batch context here at DEBUG level: it holds the records, personal data."""

    def process_batch(self, context: dict[str, Any]) -> None:
        records = context.get("records", [])
        count = len(records)
        self._export.append(self.columns, records)
        release_freed_memory()
        self.tally_record_written(count)
        if self._uncounted:
            self.record_counter_metric.increment(self._uncounted)
            self._uncounted = 0


class SkippedStreamSink(BatchSink):
    """Streams other than `stream_name`: read (the tap sends them anyway) and dropped."""

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        return None

    def _validate_and_parse(self, record: dict) -> dict:
        return record

    def process_record(self, record: dict, context: dict) -> None:
        """Nothing is kept."""

    def process_batch(self, context: dict[str, Any]) -> None:
        """Nothing to write."""
