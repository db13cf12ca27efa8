"""The tap's streams: a common base (fast record output, monthly snapshots) and the file stream."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from tap_hrsource.errors import HRSourceError
from tap_hrsource.fast_path import FastRecordStream, utc_now_iso
from tap_hrsource.files import match_files, read_text_batches
from tap_hrsource.inference import ColumnType, SchemaInference, convert_batch, json_schema
from tap_hrsource.keys import KeyChecker, KeyRows
from tap_hrsource.settings import StreamSettings
from tap_hrsource.snapshots import expand_monthly_snapshots

LOGGER = logging.getLogger("tap-hrsource")
FILE_BOOKMARK = "file_modified_at"
SNAPSHOT_BOOKMARK = "snapshot_end_date"


def rows_of(columns: dict[str, pa.Array]) -> Iterator[dict[str, Any]]:
    """Arrow columns to record dicts: one to_pylist per column is far cheaper than per row."""
    names = list(columns)
    for values in zip(*(column.to_pylist() for column in columns.values()), strict=False):
        yield dict(zip(names, values, strict=False))


class HRStream(FastRecordStream):
    """Base stream: typed records written by the fast path, and monthly snapshots."""

    def __init__(self, tap: Any, settings: StreamSettings, schema: dict) -> None:
        self.settings = settings
        super().__init__(tap, schema=schema, name=settings.name)
        self.primary_keys = list(settings.key_properties)

    def snapshots(self, records: Iterable[dict], effective_type: ColumnType | None) -> Iterator[dict]:
        history = self.settings.history
        assert history is not None
        if effective_type is None or effective_type.json_format not in {"date", "date-time"}:
            raise HRSourceError(
                f"Stream {self.name!r}: effective_date_column {history.effective_date_column!r} must be a "
                "date column (check its values, date_formats or column_types)."
            )
        self.logger.info(
            "Expanding %s into %d monthly snapshots ending %s",
            self.name,
            history.months,
            history.snapshot_end_date,
        )
        yield from expand_monthly_snapshots(
            records, history, effective_is_datetime=effective_type.json_format == "date-time"
        )


class HRFileStream(HRStream):
    """All files matched by `path`, merged into one stream with one schema inferred from every value."""

    def __init__(self, tap: Any, settings: StreamSettings) -> None:
        self.settings = settings
        self.files: list[Path] = match_files(settings.path or "")
        self.column_types, self.keys = self._scan(settings)
        for column in [*settings.key_properties, *history_columns(settings)]:
            if column not in self.column_types:
                raise HRSourceError(f"Stream {settings.name!r}: column {column!r} is not in {settings.path}.")
        super().__init__(tap, settings, json_schema(self.column_types, settings.key_properties))

    def _scan(self, settings: StreamSettings) -> tuple[dict[str, ColumnType], KeyChecker]:
        """One pass over every file: infer the column types and collect the key properties."""
        inference = SchemaInference(settings.date_formats, settings.column_types)
        keys = KeyChecker(settings.name, settings.key_properties)
        for path in self.files:
            for batch in read_text_batches(path, settings):
                if batch.columns.num_rows == 0:
                    LOGGER.warning(
                        "%s: a header and no rows; the stream has its columns and no records.", path
                    )
                inference.add(batch.columns)
                keys.add(batch.columns, str(path), batch.first_row)
        return inference.types(), keys

    def _key_rows(self) -> KeyRows:
        names = self.settings.key_properties
        for path in self.files:
            for batch in read_text_batches(path, self.settings):
                columns = [batch.columns.column(name).to_pylist() for name in names]
                for offset, key in enumerate(zip(*columns, strict=False)):
                    yield str(path), batch.first_row + offset, key

    @staticmethod
    def modified_at(path: Path) -> str:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.timezone.utc).isoformat()

    def snapshot_month(self) -> str | None:
        history = self.settings.history
        return history.snapshot_end_date.isoformat() if history else None

    def files_to_read(self) -> list[Path]:
        """Files changed since the bookmark.

        Snapshots need the whole history once any file changed, and are new whenever the last
        snapshot month moved on (a new month started), even if no file changed.
        """
        bookmark = self.stream_state.get(FILE_BOOKMARK)
        changed = [path for path in self.files if bookmark is None or self.modified_at(path) > bookmark]
        if not self.settings.history:
            return changed
        new_month = self.stream_state.get(SNAPSHOT_BOOKMARK) != self.snapshot_month()
        return self.files if changed or new_month else []

    def typed_records(self, files: list[Path]) -> Iterator[dict[str, Any]]:
        for path in files:
            for batch in read_text_batches(path, self.settings):
                yield from rows_of(
                    convert_batch(batch.columns, self.column_types, str(path), batch.first_row)
                )

    def get_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        self.keys.check(rescan=self._key_rows)
        files = self.files_to_read()
        if not files:
            self.logger.info(
                "Stream %s: no file changed since %s", self.name, self.stream_state[FILE_BOOKMARK]
            )
            return
        # Taken before reading, so a file changed while we read is read again next time.
        latest_change = max(self.modified_at(path) for path in self.files)
        self.time_extracted = utc_now_iso()
        self.logger.info("Stream %s: reading %d of %d files", self.name, len(files), len(self.files))
        records = self.typed_records(files)
        if self.settings.history:
            effective = self.column_types.get(self.settings.history.effective_date_column)
            records = self.snapshots(records, effective)
        yield from records
        self.stream_state[FILE_BOOKMARK] = latest_change
        if self.settings.history:
            self.stream_state[SNAPSHOT_BOOKMARK] = self.snapshot_month()


def history_columns(settings: StreamSettings) -> list[str]:
    history = settings.history
    if history is None:
        return []
    return [c for c in (history.person_key, history.effective_date_column, history.end_date_column) if c]
