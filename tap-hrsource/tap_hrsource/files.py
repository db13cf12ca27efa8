"""Finding a stream's files and reading each format as batches of text columns.

Every reader yields `TextBatch`es: Arrow record batches whose columns are all strings (nulls kept),
plus the row number of the first row, so that inference and conversion work the same way for every
format and errors can name the file and row.
"""

from __future__ import annotations

import csv
import datetime as dt
import glob
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from tap_hrsource.errors import HRSourceError
from tap_hrsource.settings import FILE_FORMATS, StreamSettings

EXTENSION_FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}
EXTENSION_FORMATS |= {".jsonl": "jsonl", ".ndjson": "jsonl", ".xlsx": "xlsx"}
DELIMITER_ALIASES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";"}
ROWS_PER_BATCH = 50_000
CSV_BLOCK_BYTES = 256 << 10
# pyarrow decodes UTF-8 itself (and strips a BOM); other encodings go through Python's codecs.
PYARROW_NATIVE_ENCODINGS = {"utf-8-sig", "utf-8", "utf8", "utf_8", "utf-8sig"}


@dataclass(frozen=True)
class TextBatch:
    """A batch of rows, all columns as text, and the row number of its first row (header = row 1)."""

    columns: pa.RecordBatch
    first_row: int


def match_files(path: str) -> list[Path]:
    """Files of a stream: the file itself, every supported file in a folder, or the glob's matches."""
    candidate = Path(path).expanduser()
    if candidate.is_file():
        return [candidate]
    if candidate.is_dir():
        found = sorted(
            p for p in candidate.iterdir() if p.is_file() and p.suffix.lower() in EXTENSION_FORMATS
        )
    else:
        # glob.glob, unlike Path.glob, takes absolute patterns such as /exports/**/*.csv
        found = sorted(Path(p) for p in glob.glob(str(candidate), recursive=True) if Path(p).is_file())  # noqa: PTH207
    if not found:
        raise HRSourceError(f"No files found for path {path!r}.")
    return found


def file_format(path: Path, configured: str | None) -> str:
    if configured:
        return configured
    detected = EXTENSION_FORMATS.get(path.suffix.lower())
    if detected is None:
        raise HRSourceError(f"{path}: unknown file type; set 'format' to one of {', '.join(FILE_FORMATS)}.")
    return detected


def read_text_batches(path: Path, settings: StreamSettings) -> Iterator[TextBatch]:
    """Read one file of any supported format as text batches."""
    readers = {"csv": read_csv, "parquet": read_parquet, "jsonl": read_jsonl, "xlsx": read_xlsx}
    yield from readers[file_format(path, settings.format)](path, settings)


def null_strings(settings: StreamSettings) -> list[str]:
    return ["", *settings.null_values]


def nulls_applied(batch: pa.RecordBatch, settings: StreamSettings) -> pa.RecordBatch:
    """Turn the configured null strings into nulls (the CSV reader does this itself)."""
    nulls = pa.array(null_strings(settings))
    columns = [pc.if_else(pc.is_in(column, nulls), None, column) for column in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


# -- CSV ------------------------------------------------------------------------------------------
def csv_header(path: Path, settings: StreamSettings) -> tuple[list[str], str]:
    """The header names and the delimiter (configured, else the one that splits the header most)."""
    with path.open(encoding=settings.encoding, newline="") as handle:
        first_line = handle.readline()
    configured = settings.delimiter
    if configured:
        delimiter = DELIMITER_ALIASES.get(configured.lower(), configured)
    else:
        delimiter = max([",", ";", "\t", "|"], key=first_line.count)
    names = next(csv.reader([first_line], delimiter=delimiter), [])
    names = [name.strip() for name in names]
    if not names or any(not name for name in names):
        raise HRSourceError(f"{path}: the header row has an empty column name: {names!r}.")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise HRSourceError(f"{path}: the header row repeats column names {duplicates}.")
    return names, delimiter


def read_csv(path: Path, settings: StreamSettings) -> Iterator[TextBatch]:
    names, delimiter = csv_header(path, settings)
    encoding = "utf8" if settings.encoding.lower() in PYARROW_NATIVE_ENCODINGS else settings.encoding
    try:
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(
                encoding=encoding,
                block_size=CSV_BLOCK_BYTES,
                skip_rows=1,
                column_names=names,
                use_threads=False,
            ),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                null_values=null_strings(settings),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
        next_row = 2
        for batch in reader:
            yield TextBatch(batch, next_row)
            next_row += batch.num_rows
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        raise HRSourceError(f"{path}: cannot read as CSV ({settings.encoding}): {error}") from None


# -- Parquet --------------------------------------------------------------------------------------
def as_text(column: pa.Array) -> pa.Array:
    if pa.types.is_timestamp(column.type):
        return pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")
    try:
        return column.cast(pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        # Nested values have no text cast: keep them as JSON text.
        return pa.array([None if v is None else json.dumps(v, default=str) for v in column.to_pylist()])


def read_parquet(path: Path, settings: StreamSettings) -> Iterator[TextBatch]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as error:
        raise HRSourceError(f"{path}: cannot read as Parquet: {error}") from None
    next_row = 1
    for batch in parquet.iter_batches(batch_size=ROWS_PER_BATCH):
        text = pa.RecordBatch.from_arrays([as_text(c) for c in batch.columns], names=batch.schema.names)
        yield TextBatch(nulls_applied(text, settings), next_row)
        next_row += batch.num_rows


# -- JSON lines and Excel: Python values, converted to text -----------------------------------------
def value_as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def rows_as_batch(
    names: list[str], rows: list[dict[str, object]], settings: StreamSettings
) -> pa.RecordBatch:
    columns = [pa.array([value_as_text(row.get(name)) for row in rows], pa.string()) for name in names]
    return nulls_applied(pa.RecordBatch.from_arrays(columns, names=names), settings)


def batched_rows(
    rows: Iterator[tuple[int, dict[str, object]]], settings: StreamSettings
) -> Iterator[TextBatch]:
    """Group (row number, row) pairs into text batches; columns in order of first appearance."""
    names: list[str] = []
    pending: list[dict[str, object]] = []
    first_row = 0
    for row_number, row in rows:
        if not pending:
            first_row = row_number
        names.extend(name for name in row if name not in names)
        pending.append(row)
        if len(pending) >= ROWS_PER_BATCH:
            yield TextBatch(rows_as_batch(names, pending, settings), first_row)
            pending = []
    if pending:
        yield TextBatch(rows_as_batch(names, pending, settings), first_row)


def jsonl_rows(path: Path, settings: StreamSettings) -> Iterator[tuple[int, dict[str, object]]]:
    with path.open(encoding=settings.encoding) as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise HRSourceError(f"{path}: row {line_number}: not valid JSON ({error.msg}).") from None
            if not isinstance(row, dict):
                raise HRSourceError(f"{path}: row {line_number}: expected a JSON object per line.")
            yield line_number, row


def read_jsonl(path: Path, settings: StreamSettings) -> Iterator[TextBatch]:
    yield from batched_rows(jsonl_rows(path, settings), settings)


def xlsx_rows(path: Path) -> Iterator[tuple[int, dict[str, object]]]:
    """Rows of the first worksheet; the first row is the header, blank rows are skipped."""
    import openpyxl

    workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header = [str(value).strip() if value is not None else "" for value in next(rows, ())]
        for row_number, values in enumerate(rows, start=2):
            if all(value is None for value in values):
                continue
            yield row_number, {name: value for name, value in zip(header, values, strict=False) if name}
    finally:
        workbook.close()


def read_xlsx(path: Path, settings: StreamSettings) -> Iterator[TextBatch]:
    yield from batched_rows(xlsx_rows(path), settings)
