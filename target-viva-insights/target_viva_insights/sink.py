"""Sinks: the HR stream goes batch by batch into the run's export; other streams are skipped."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from singer_sdk.sinks import BatchSink

from target_viva_insights.export import Export

if TYPE_CHECKING:
    from singer_sdk.sinks.core import BaseJSONSchemaValidator
    from singer_sdk.target_base import Target


class VivaSink(BatchSink):
    """Formats, checks and appends each batch of the HR stream to data.csv (memory bounded by the batch)."""

    MAX_SIZE_DEFAULT = 10_000

    def __init__(
        self, target: Target, stream_name: str, schema: dict, key_properties: Sequence[str] | None
    ) -> None:
        self._export: Export = target.export  # type: ignore[attr-defined]
        super().__init__(target, stream_name, schema, key_properties)

    def setup(self) -> None:
        super().setup()
        # Built per sink: a schema change creates a new sink and, if the columns differ, a new part.
        self.columns = self._export.columns_for(self.schema)
        self._export.stream_name = self.stream_name

    def get_validator(self) -> BaseJSONSchemaValidator | None:
        """Type checking runs vectorized per batch in `formatting.py`, not per record in jsonschema."""
        return None

    def _validate_and_parse(self, record: dict) -> dict:
        # The SDK would parse date strings into datetime objects one record at a time; the batch
        # conversion reads the ISO text directly, so records pass through untouched.
        return record

    def process_batch(self, context: dict[str, Any]) -> None:
        self._export.append(self.columns, context["records"])
        self.tally_record_written(len(context["records"]))


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
