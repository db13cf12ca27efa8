"""data.csv on disk batch by batch, already inside the zip Viva takes (data.csv and metadata.json).

data.csv is written as the deflated member of a zip in the private work directory, so no uncompressed
copy of the HR data is written and the package needs no second pass over the data (a background
compressing thread was tried: no faster, GIL hand-offs eat the gain). metadata.json is added once the
data has passed validation, and only then does the zip move to its final name.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pacsv

from target_viva_insights.validation import DATA_FILE, METADATA_FILE

# Level 1: a third of level 6's time for ~30% more bytes (HR files are tens of MB at most).
COMPRESS_LEVEL = 1
PACKAGE_FILE_MODE = 0o600


class DataCsvWriter:
    """Appends text tables to data.csv in a zip: UTF-8 without BOM, RFC 4180 quoting, one header line."""

    def __init__(self, zip_path: Path, headers: Sequence[str]) -> None:
        self.path = zip_path
        self.headers = list(headers)
        self.rows = 0
        self._options = pacsv.WriteOptions(include_header=False)
        self._archive = zipfile.ZipFile(
            zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL
        )
        self._member = self._archive.open(DATA_FILE, "w")
        self._member.write(_header_line(self.headers))

    def append(self, table: pa.Table) -> None:
        pacsv.write_csv(table, self._member, write_options=self._options)
        self.rows += table.num_rows

    def close(self) -> None:
        self._member.close()
        self._archive.close()


@contextlib.contextmanager
def open_data_csv(zip_path: Path) -> Iterator[IO[bytes]]:
    """The data.csv member of a zip written by DataCsvWriter, for reading back; closes the zip too."""
    with zipfile.ZipFile(zip_path) as archive, archive.open(DATA_FILE) as data:
        yield data


def _header_line(headers: Sequence[str]) -> bytes:
    # Legal Viva headers never need quotes; csv quotes the illegal ones a report-only run may keep.
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(headers)
    return buffer.getvalue().encode("utf-8")


def metadata_bytes(metadata: dict[str, Any]) -> bytes:
    return json.dumps(metadata, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


def complete_package(data_zip: Path, metadata: dict[str, Any], zip_path: Path) -> Path:
    """Add metadata.json to the zip holding data.csv and move it to `zip_path`, complete or not at all."""
    with zipfile.ZipFile(data_zip, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(METADATA_FILE, metadata_bytes(metadata))
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    partial = zip_path.with_name(zip_path.name + ".partial")
    shutil.move(data_zip, partial)  # the work dir may be on another file system
    partial.chmod(PACKAGE_FILE_MODE)  # HR data: the owner's alone, whatever the umask
    partial.replace(zip_path)
    return zip_path
