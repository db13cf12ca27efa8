"""data.csv on disk, batch by batch, and the zip Viva takes: exactly data.csv and metadata.json."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from target_viva_insights.validation import DATA_FILE, METADATA_FILE


class DataCsvWriter:
    """Appends text tables to a CSV file: UTF-8 without BOM, RFC 4180 quoting, one header line."""

    def __init__(self, path: Path, headers: Sequence[str]) -> None:
        self.path = path
        self.headers = list(headers)
        self.rows = 0
        self._handle = path.open("wb")
        self._handle.write(_header_line(self.headers))
        self._options = pacsv.WriteOptions(include_header=False)

    def append(self, table: pa.Table) -> None:
        pacsv.write_csv(table, self._handle, write_options=self._options)
        self.rows += table.num_rows

    def close(self) -> None:
        self._handle.close()


def _header_line(headers: Sequence[str]) -> bytes:
    # Legal Viva headers never need quotes; csv quotes the illegal ones a report-only run may keep.
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(headers)
    return buffer.getvalue().encode("utf-8")


def metadata_bytes(metadata: dict[str, Any]) -> bytes:
    return json.dumps(metadata, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


def write_package(data_csv: Path, metadata: dict[str, Any], zip_path: Path) -> Path:
    """Zip data.csv and metadata.json; the zip appears under its name only once complete."""
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    partial = zip_path.with_name(zip_path.name + ".partial")
    # Level 1: a third of level 6's time for ~30% more bytes (HR files are tens of MB at most).
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.write(data_csv, DATA_FILE)
        archive.writestr(METADATA_FILE, metadata_bytes(metadata))
    partial.replace(zip_path)
    return zip_path
