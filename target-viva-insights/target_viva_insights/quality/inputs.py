"""The files a report is made from: a package, a bare HR data.csv, or a Microsoft 365 organizational CSV.

The target's report reads its data.csv in batches (`text_batches`); the `viva-insights report` command
reads a file whole as text columns (`load`) and, for HR data, judges it by the same validator as
`viva-insights validate`, so the report's findings are the ones a run or an upload would meet.
"""

from __future__ import annotations

import contextlib
import dataclasses
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.csv as pacsv

from target_viva_insights import rules
from target_viva_insights.build.mapping import SourceType, default_token
from target_viva_insights.errors import ConfigurationError, DataValidationFailed
from target_viva_insights.import_mode import ImportMode
from target_viva_insights.ledger.prefetch import PacedFile, paced_batches
from target_viva_insights.package import CsvField, PackageError, open_package, read_header, read_text_batches
from target_viva_insights.quality.profile import Column, InputKind, columns_of, is_m365
from target_viva_insights.validation.report import ValidationReport
from target_viva_insights.validation.validator import DataValidator, validate_package

# What pyarrow's CSV reader says of a file with nothing after the header line.
EMPTY_CSV_MESSAGE = "Empty CSV file"
# data.csv is profiled in blocks of this size, at most this many read ahead of the one worked on
# (bench/README.md: 2 MB blocks hold about 13 MB more at the same speed).
BLOCK_BYTES = 1 << 20
BLOCKS_AHEAD = 2


@dataclasses.dataclass(frozen=True)
class LoadedInput:
    """A file's rows as text columns named by Viva field, their kinds, and the validation's findings."""

    table: pa.Table
    columns: list[Column]
    kind: InputKind
    report: ValidationReport | None
    import_mode: ImportMode | None = None


@contextlib.contextmanager
def text_batches(data: IO[bytes], headers: Sequence[str]) -> Iterator[Iterator[pa.RecordBatch]]:
    """data.csv's rows, from its start, in batches of dictionary-encoded text columns (empty cells as
    ""), for the report's aggregates.

    Blocks are parsed in a thread a few batches ahead (ledger/prefetch.py), so only a few blocks of
    text are held at once; the thread is stopped when the context ends.

    Args:
        data: data.csv at its start. Its header is skipped as a CSV row: a header with a quoted line
            break in a name is one row of several lines (the validation reports the name).
        headers: the column names.
    """
    paced = PacedFile(data, ahead=BLOCKS_AHEAD)
    text = pa.dictionary(pa.int32(), pa.string())
    try:
        reader = pacsv.open_csv(
            paced,
            read_options=pacsv.ReadOptions(
                column_names=list(headers), skip_rows_after_names=1, block_size=BLOCK_BYTES
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(headers, text), quoted_strings_can_be_null=False
            ),
        )
    except pa.ArrowInvalid as error:
        if EMPTY_CSV_MESSAGE not in str(error):
            raise
        yield iter(())  # a header without rows
        return
    with paced_batches(paced, reader) as batches:
        yield batches


def read_text_table(data: IO[bytes], headers: Sequence[str]) -> pa.Table:
    """data.csv's rows as one table of text columns (empty cells as "").

    Args:
        data: data.csv after its header line.
        headers: the column names.
    """
    schema = pa.schema([(name, pa.string()) for name in headers])
    try:
        batches = list(read_text_batches(data, headers))
    except pa.ArrowInvalid as error:
        if EMPTY_CSV_MESSAGE not in str(error):
            raise
        batches = []  # a header without rows: the validation reports empty-file
    return pa.Table.from_batches(batches, schema=schema)


def load(path: Path) -> LoadedInput:
    """Read a package (.zip) or a CSV for the report.

    Raises:
        ConfigurationError: the file is missing or is not a zip or CSV that can be read.
        DataValidationFailed: the zip is not a Viva package, or data.csv cannot be read as CSV.
    """
    if not path.is_file():
        raise ConfigurationError(f"{path} is not a file")
    try:
        if path.suffix.lower() == ".zip":
            return _load_package(path)
        return _load_csv(path)
    except PackageError as error:
        raise DataValidationFailed(f"{path}: {error} (rule {error.rule})") from error
    except zipfile.BadZipFile as error:
        raise DataValidationFailed(f"{path}: not a zip file ({error})") from error
    except (pa.ArrowInvalid, UnicodeDecodeError) as error:
        raise DataValidationFailed(f"{path}: cannot be read as CSV ({error})") from error


def _load_package(path: Path) -> LoadedInput:
    with open_package(path) as package:
        headers = read_header(package.data)
        table = read_text_table(package.data, unique_names(headers))
        by_header = {field.header: field for field in package.fields}
        names = [by_header[h].name if h in by_header else h for h in headers]
        table = table.rename_columns(unique_names(names))
        tokens = {by_header[h].name: by_header[h].token for h in headers if h in by_header}
        mode = package.import_mode
    columns = columns_of(table.column_names, tokens)
    return LoadedInput(table, columns, InputKind.PACKAGE, validate_package(path), mode)


def _load_csv(path: Path) -> LoadedInput:
    with path.open("rb") as data:
        headers = read_header(data)
        names = unique_names(headers)
        table = read_text_table(data, names)
    if is_m365(names):
        tokens = dict.fromkeys(names, rules.STRING_TYPE)
        return LoadedInput(table, columns_of(names, tokens), InputKind.M365_CSV, None)
    tokens = {name: default_token(name, SourceType.STRING, rules.DEFAULT_DATE_ORDER) for name in names}
    fields = [CsvField(name, name, tokens[name]) for name in names]
    validator = DataValidator(
        fields,
        date_order=rules.DEFAULT_DATE_ORDER,
        import_mode=ImportMode.FULL,
        source=path.name,
    )
    validator.add_batch(table, 2)
    columns = columns_of(names, tokens)
    return LoadedInput(table, columns, InputKind.HR_CSV, validator.finish(), ImportMode.FULL)


def unique_names(headers: Sequence[str]) -> list[str]:
    """Headers made unique (a repeated one gets " (2)", " (3)"): the validation reports the repeat."""
    seen: dict[str, int] = {}
    result = []
    for header in headers:
        seen[header] = seen.get(header, 0) + 1
        result.append(header if seen[header] == 1 else f"{header} ({seen[header]})")
    return result
