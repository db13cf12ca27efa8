"""Column types: inferred from every value of every file, and applied to text batches.

Inference starts each column with all candidate types and drops a candidate as soon as one value
of any batch contradicts it, so a type that changes at row 100,000 (or in the third file) is seen.
The result is the most specific surviving candidate; text columns stay strings. Id-like columns
(names ending in Id/ID/_id/Number/Code) are kept as strings without looking at the values, and a
value with a leading zero is never an integer, so employee numbers keep their zeros.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from tap_hrsource.errors import DataValueError, HRSourceError

INTEGER_PATTERN = r"^[+-]?(0|[1-9][0-9]{0,17})$"
NUMBER_PATTERN = r"^[+-]?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$|^[+-]?\.[0-9]+$"
ISO_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
ISO_DATETIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:?[0-9]{2})?$"
)
ID_NAME = re.compile(r"(Id|ID|_id|_ID|Number|number|Code|code)$")
TIME_DIRECTIVES = ("%H", "%I", "%M", "%S", "%p", "%z")


@dataclass(frozen=True)
class ColumnType:
    """A JSON Schema type, plus for dates the strptime format of the source (None = ISO 8601)."""

    json_type: str
    json_format: str | None = None
    source_format: str | None = None

    @property
    def label(self) -> str:
        readable = self.json_format or self.json_type
        return f"{readable} ({self.source_format})" if self.source_format else readable

    def json_schema(self, *, nullable: bool) -> dict:
        schema: dict = {"type": [self.json_type, "null"] if nullable else self.json_type}
        if self.json_format:
            schema["format"] = self.json_format
        return schema


STRING = ColumnType("string")
INTEGER = ColumnType("integer")
NUMBER = ColumnType("number")
BOOLEAN = ColumnType("boolean")
ISO_DATE = ColumnType("string", "date")
ISO_DATETIME = ColumnType("string", "date-time")
NAMED_TYPES = {
    "string": STRING, "integer": INTEGER, "number": NUMBER, "boolean": BOOLEAN,
    "date": ISO_DATE, "date-time": ISO_DATETIME,
}  # fmt: skip


def is_id_like(column: str) -> bool:
    return column.lower() == "id" or bool(ID_NAME.search(column))


def candidate_types(date_formats: Iterable[str]) -> list[ColumnType]:
    """Candidates from most to least specific; user date formats after ISO ones."""
    formats = list(date_formats)
    dates = [ColumnType("string", "date", f) for f in formats if not any(d in f for d in TIME_DIRECTIVES)]
    datetimes = [
        ColumnType("string", "date-time", f) for f in formats if any(d in f for d in TIME_DIRECTIVES)
    ]
    return [BOOLEAN, INTEGER, NUMBER, ISO_DATE, *dates, ISO_DATETIME, *datetimes]


def overridden_type(name: str, date_formats: Iterable[str]) -> ColumnType:
    """A column_types override; for dates, the first user format if there is one, else ISO."""
    base = NAMED_TYPES[name]
    if base.json_format:
        for candidate in candidate_types(date_formats):
            if candidate.json_format == base.json_format and candidate.source_format:
                return candidate
    return base


# -- checking values ----------------------------------------------------------------------------
def _parsed_timestamps(values: pa.Array, source_format: str) -> pa.Array:
    return pc.strptime(values, format=source_format, unit="s", error_is_null=True)


def invalid_mask(values: pa.Array, column_type: ColumnType) -> pa.Array:
    """True where a value is present but not valid for the type."""
    present = pc.is_valid(values)
    if column_type == STRING:
        return pc.and_(present, pc.is_null(present))  # all false
    if column_type == BOOLEAN:
        valid = pc.is_in(pc.utf8_lower(values), pa.array(["true", "false"]))
    elif column_type == INTEGER:
        valid = pc.match_substring_regex(values, INTEGER_PATTERN)
    elif column_type == NUMBER:
        valid = pc.match_substring_regex(values, NUMBER_PATTERN)
    elif column_type.source_format:
        valid = pc.is_valid(_parsed_timestamps(values, column_type.source_format))
    elif column_type == ISO_DATE:
        valid = pc.and_(
            pc.match_substring_regex(values, ISO_DATE_PATTERN),
            pc.is_valid(_parsed_timestamps(values, "%Y-%m-%d")),
        )
    else:
        valid = pc.and_(
            pc.match_substring_regex(values, ISO_DATETIME_PATTERN),
            pc.is_valid(_parsed_timestamps(pc.utf8_slice_codeunits(values, 0, 10), "%Y-%m-%d")),
        )
    return pc.and_(present, pc.invert(pc.fill_null(valid, False)))


def first_invalid_index(values: pa.Array, column_type: ColumnType) -> int | None:
    mask = invalid_mask(values, column_type)
    if not pc.any(mask).as_py():
        return None
    return int(pc.index(mask, value=True).as_py())


# -- converting values ----------------------------------------------------------------------------
def converted(values: pa.Array, column_type: ColumnType) -> pa.Array:
    """The values as JSON-ready Arrow data: strings, int64, float64, bool, ISO date text."""
    if column_type == STRING:
        return values
    if column_type == BOOLEAN:
        return pc.equal(pc.utf8_lower(values), "true")
    if column_type == INTEGER:
        return values.cast(pa.int64())
    if column_type == NUMBER:
        return values.cast(pa.float64())
    if column_type == ISO_DATE:
        return values
    if column_type == ISO_DATETIME:
        return pc.replace_substring_regex(values, pattern=r"^([0-9-]{10}) ", replacement=r"\1T")
    timestamps = _parsed_timestamps(values, column_type.source_format or "")
    if column_type.json_format == "date":
        return timestamps.cast(pa.date32()).cast(pa.string())
    return pc.strftime(timestamps, format="%Y-%m-%dT%H:%M:%S")


def convert_batch(
    batch: pa.RecordBatch, types: dict[str, ColumnType], source: str, first_row: int
) -> dict[str, pa.Array]:
    """Every schema column converted; a column missing from this file is all nulls.

    Args:
        batch: Text columns of one batch.
        types: The stream's column types.
        source: The file, for error messages.
        first_row: The row number of the batch's first row, for error messages.

    Returns:
        The converted columns, JSON-ready, by name.

    Raises:
        DataValueError: The first value that does not fit, naming file, row, column and value.
    """
    result: dict[str, pa.Array] = {}
    for name, column_type in types.items():
        index = batch.schema.get_field_index(name)
        if index < 0:
            result[name] = pa.nulls(batch.num_rows)
            continue
        values = batch.column(index)
        bad = first_invalid_index(values, column_type)
        if bad is not None:
            raise DataValueError(source, first_row + bad, name, values[bad].as_py(), column_type.label)
        try:
            result[name] = converted(values, column_type)
        except pa.ArrowInvalid as error:  # e.g. an integer beyond 64 bits
            raise HRSourceError(f"{source}: column {name!r} near row {first_row}: {error}") from None
    return result


# -- inference ------------------------------------------------------------------------------------
class SchemaInference:
    """Collects candidate types per column over all batches of all files of a stream."""

    def __init__(self, date_formats: Iterable[str], column_types: dict[str, str]) -> None:
        self.date_formats = tuple(date_formats)
        self.overrides = {
            name: overridden_type(kind, self.date_formats) for name, kind in column_types.items()
        }
        self.columns: list[str] = []
        self.candidates: dict[str, list[ColumnType]] = {}
        self.seen_values: set[str] = set()

    def add(self, batch: pa.RecordBatch) -> None:
        for name, values in zip(batch.schema.names, batch.columns, strict=False):
            if name not in self.candidates:
                self.columns.append(name)
                fixed = name in self.overrides or is_id_like(name)
                self.candidates[name] = [] if fixed else candidate_types(self.date_formats)
            if values.null_count == len(values):
                continue
            self.seen_values.add(name)
            remaining = self.candidates[name]
            if remaining:
                self.candidates[name] = [c for c in remaining if first_invalid_index(values, c) is None]

    def column_type(self, name: str) -> ColumnType:
        if name in self.overrides:
            return self.overrides[name]
        remaining = self.candidates.get(name, [])
        if name not in self.seen_values or not remaining:
            return STRING  # empty columns stay nullable strings
        return remaining[0]

    def types(self) -> dict[str, ColumnType]:
        return {name: self.column_type(name) for name in self.columns}


def json_schema(types: dict[str, ColumnType], key_properties: Iterable[str]) -> dict:
    """Every property nullable except key properties."""
    keys = set(key_properties)
    return {
        "type": "object",
        "properties": {name: t.json_schema(nullable=name not in keys) for name, t in types.items()},
    }
