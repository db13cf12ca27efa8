"""Sinks: the HR stream goes batch by batch into the run's export; other streams are skipped."""

from __future__ import annotations

from typing import Any, ClassVar

from target_viva_insights.build.export import Export
from target_viva_insights.memory import release_freed_memory
from target_viva_insights.singer.fast_path import DirectRecordSink, UnparsedRecordsSink


class VivaSink(DirectRecordSink):
    """Formats, checks and appends each batch of the HR stream to data.csv (memory bounded by the batch).

    The SDK constructs sinks itself, with a fixed set of arguments (`Target.add_sink`), so the run's
    export travels on the class: the target uses `VivaSink.for_export(export)`.
    """

    # 5,000 rows: per-batch overhead is already small, and the decoded records of a batch are the
    # largest thing in memory (bench/README.md: as fast as 10,000, with a lower peak).
    MAX_SIZE_DEFAULT = 5_000

    export: ClassVar[Export]

    @classmethod
    def for_export(cls, export: Export) -> type[VivaSink]:
        """This sink class, writing into `export`.

        Args:
            export: the run's export, which every sink of the HR stream appends to.

        Returns:
            A subclass of VivaSink bound to `export`, for `Target.get_sink_class` to return.
        """
        return type(cls.__name__, (cls,), {"export": export})

    def setup(self) -> None:
        super().setup()
        # Built per sink: a schema change creates a new sink and, if the columns differ, a new part.
        self.columns = self.export.columns_for(self.schema)

    def process_batch(self, context: dict[str, Any]) -> None:
        records = context.get("records", [])
        count = len(records)
        self.export.append(self.columns, records)
        release_freed_memory()
        self.tally_record_written(count)


class SkippedStreamSink(UnparsedRecordsSink):
    """Streams other than `stream_name`: read (the tap sends them anyway) and dropped."""

    def process_record(self, record: dict, context: dict) -> None:
        """Nothing is kept."""

    def process_batch(self, context: dict[str, Any]) -> None:
        """Nothing to write."""
