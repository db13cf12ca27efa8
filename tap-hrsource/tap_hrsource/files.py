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
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    """Read one file of any supported format as text batches.

    Args:
        path: The file.
        settings: The stream's settings (format, encoding, delimiter, null_values).

    Yields:
        Text batches in file order; a file with a header and no rows yields one empty batch with
        the header's columns.

    Raises:
        HRSourceError: The file cannot be read as its format, naming the file and the reason.
    """
    readers = {"csv": read_csv, "parquet": read_parquet, "jsonl": read_jsonl, "xlsx": read_xlsx}
    try:
        yield from readers[file_format(path, settings.format)](path, settings)
    except UnicodeDecodeError as error:
        raise HRSourceError(
            f"{path}: not valid {settings.encoding} text (byte {error.start} of a line or block: "
            f"{error.reason}); set 'encoding' to the file's encoding."
        ) from None
    except OSError as error:
        raise HRSourceError(f"{path}: cannot read the file ({error.strerror or error}).") from None


UTF8_FAMILY = {"utf-8-sig", "utf-8", "utf8", "utf_8", "utf-8sig", "ascii", "latin-1", "latin1", "cp1252"}
"""Encodings in which a NUL byte never belongs in a text file (unlike UTF-16 and UTF-32)."""


def refuse_binary(path: Path, settings: StreamSettings, kind: str) -> None:
    """A NUL byte in the first block means a binary file (a spreadsheet or archive renamed .csv)."""
    if settings.encoding.lower() not in UTF8_FAMILY:
        return
    with path.open("rb") as handle:
        head = handle.read(64 << 10)
    if b"\x00" in head:
        raise HRSourceError(
            f"{path}: a binary file, not {kind} text (it holds NUL bytes); export it as {kind}, "
            "or set 'format' to the file's real format."
        )


def null_strings(settings: StreamSettings) -> list[str]:
    return ["", *settings.null_values]


def nulls_applied(batch: pa.RecordBatch, settings: StreamSettings) -> pa.RecordBatch:
    """Turn the configured null strings into nulls (the CSV reader does this itself)."""
    nulls = pa.array(null_strings(settings))
    columns = [pc.if_else(pc.is_in(column, nulls), None, column) for column in batch.columns]
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def empty_batch(names: list[str]) -> pa.RecordBatch:
    """No rows, the given text columns: what a file with a header and no data rows holds."""
    return pa.RecordBatch.from_arrays([pa.array([], pa.string()) for _ in names], names=names)


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
    refuse_binary(path, settings, "CSV")
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
        if next_row == 2:  # a header and no rows: an empty stream with the header's columns
            yield TextBatch(empty_batch(names), next_row)
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
    if next_row == 1:
        yield TextBatch(empty_batch(parquet.schema_arrow.names), next_row)


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
    refuse_binary(path, settings, "JSON lines")
    yield from batched_rows(jsonl_rows(path, settings), settings)


def open_workbook(path: Path, *, data_only: bool) -> Any:
    """An openpyxl workbook in read-only mode, or HRSourceError when the file is not an .xlsx workbook."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=data_only)
    except (zipfile.BadZipFile, InvalidFileException, KeyError) as error:
        raise HRSourceError(
            f"{path}: not an Excel workbook (.xlsx) ({error}); save it as .xlsx, or set 'format' to the "
            "file's real format (e.g. csv)."
        ) from None


def xlsx_rows(path: Path, problems: list[str]) -> Iterator[tuple[int, dict[str, object]]]:
    """Rows of the first worksheet; the first row is the header, blank rows are skipped.

    Formula cells are read as the value Excel saved with them. A formula without a saved value
    (a workbook written by a program, never opened and saved in Excel) would read as empty: its
    cell reference goes into `problems` instead, and `read_xlsx` refuses the file.
    """
    values_book = open_workbook(path, data_only=True)
    formulas_book = open_workbook(path, data_only=False)
    try:
        rows = values_book.worksheets[0].iter_rows(values_only=True)
        formulas = formulas_book.worksheets[0].iter_rows(values_only=True)
        header = [str(value).strip() if value is not None else "" for value in next(rows, ())]
        next(formulas, ())
        if not any(header):
            return
        yield 1, {name: None for name in header if name}  # the header's columns, even without rows
        for row_number, (values, cells) in enumerate(zip(rows, formulas, strict=False), start=2):
            problems.extend(unsaved_formulas(row_number, values, cells))
            if all(value is None for value in values):
                continue
            yield row_number, {name: value for name, value in zip(header, values, strict=False) if name}
    finally:
        values_book.close()
        formulas_book.close()


def unsaved_formulas(row_number: int, values: tuple, cells: tuple) -> Iterator[str]:
    """References (e.g. C7) of the formula cells of one row that have no saved value."""
    from openpyxl.utils import get_column_letter

    for index, (value, cell) in enumerate(zip(values, cells, strict=False), start=1):
        if value is None and isinstance(cell, str) and cell.startswith("="):
            yield f"{get_column_letter(index)}{row_number}"


def read_xlsx(path: Path, settings: StreamSettings) -> Iterator[TextBatch]:
    problems: list[str] = []
    rows = xlsx_rows(path, problems)
    header = next(rows, None)
    if header is None:
        return
    names = list(header[1])
    found_rows = False
    for batch in batched_rows(rows, settings):
        if problems:
            break
        found_rows = True
        yield batch
    if problems:
        shown = ", ".join(problems[:10]) + (f" and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise HRSourceError(
            f"{path}: {len(problems)} formula cells have no saved value ({shown}); open the workbook in "
            "Excel and save it so that the results are stored, or export it as CSV."
        )
    if not found_rows:
        yield TextBatch(empty_batch(names), 2)
