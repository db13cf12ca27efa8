"""Turn a batch of Singer records into the text columns of data.csv, vectorized with pyarrow.

Formatting rules: dates MM/DD/YYYY (or DD/MM/YYYY) from ISO dates and date-times (the calendar date as
written, whatever the offset), numbers in plain decimal notation, integers as digits, booleans
TRUE/FALSE, null as an empty field, objects and arrays as JSON text. Type checking against the stream
schema happens here too, column by column during the Arrow conversion, instead of per record in the
SDK: a value that does not fit its declared type is reported with its row and written as text, so the
Viva rules in `validation.py` judge the same text that would reach Viva.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from target_viva_insights.catalogue import Rule
from target_viva_insights.dates import iso_to_viva_dates
from target_viva_insights.mapping import Column, SourceType
from target_viva_insights.report import Issue
from target_viva_insights.rules import DateOrder, ValueKind

ARROW_TYPES: dict[SourceType, pa.DataType] = {
    SourceType.STRING: pa.string(),
    SourceType.INTEGER: pa.int64(),
    SourceType.NUMBER: pa.float64(),
    SourceType.BOOLEAN: pa.bool_(),
    SourceType.DATE: pa.string(),
    SourceType.DATE_TIME: pa.string(),
}


@dataclasses.dataclass(frozen=True)
class FormattedBatch:
    """A batch as data.csv's text, with what the formatting learned on the way."""

    table: pa.Table  # one string column per data.csv column, named by Viva field
    issues: list[Issue]  # values that do not fit the type the stream schema declares
    days: dict[str, pa.Array]  # date fields: the day each converted value names (date32), by field


def format_batch(
    records: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    *,
    date_order: DateOrder,
    first_row: int,
    check_types: bool = True,
) -> FormattedBatch:
    """The batch as a table of strings (one per column, named by Viva field) and any type findings.

    Args:
        records: the records as the tap sent them.
        columns: data.csv's columns, in file order.
        date_order: the order of day and month in the dates written.
        first_row: the data.csv line number of the first record, so findings name real rows.
        check_types: report values that do not fit the type the stream schema declares.

    Returns:
        The text table, the type findings, and the days of the date values converted from ISO text.
    """
    arrays, issues = _typed_arrays(records, columns, first_row=first_row, check_types=check_types)
    texts = []
    days = {}
    for array, column in zip(arrays, columns, strict=True):
        text = _as_text(array)
        if column.kind is ValueKind.DATE:
            text, days[column.field] = iso_to_viva_dates(text, date_order)
        texts.append(text)
    return FormattedBatch(pa.table(texts, names=[column.field for column in columns]), issues, days)


def _typed_arrays(
    records: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    *,
    first_row: int,
    check_types: bool,
) -> tuple[list[pa.Array], list[Issue]]:
    """Arrow arrays of the declared types, the whole batch in one conversion.

    When that fails, each column is converted on its own, and only a column that still fails is gone
    through value by value, to name the rows that do not fit.
    """
    typed = [column for column in columns if column.source_type in ARROW_TYPES]
    row_type = pa.struct([pa.field(column.source, ARROW_TYPES[column.source_type]) for column in typed])
    try:
        # One struct array from the dicts: faster than Table.from_pylist (bench/README.md).
        rows = pa.array(records, type=row_type)
        fast = {column.source: rows.field(index) for index, column in enumerate(typed)}
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        fast = {}
    arrays: list[pa.Array] = []
    issues: list[Issue] = []
    for column in columns:
        if column.source in fast:
            arrays.append(fast[column.source])
            continue
        values = [record.get(column.source) for record in records]
        array, bad_rows = _array_for_column(values, column)
        arrays.append(array)
        if check_types:
            issues.extend(_type_issues(values, bad_rows, column, first_row))
    return arrays, issues


def _array_for_column(values: list[Any], column: Column) -> tuple[pa.Array, list[int]]:
    """Typed array when every value fits; otherwise text, and the indices of values that do not fit."""
    if column.source_type is SourceType.JSON:
        return pa.array([_json_text(value) for value in values], type=pa.string()), []
    try:
        return pa.array(values, type=ARROW_TYPES[column.source_type]), []
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    bad_rows = [index for index, value in enumerate(values) if not _fits(value, column.source_type)]
    return pa.array([_plain_text(value) for value in values], type=pa.string()), bad_rows


def _fits(value: Any, source_type: SourceType) -> bool:
    """JSON Schema's notion of a value matching a type (Draft 2020-12: 3.0 is an integer)."""
    if value is None:
        return True
    if source_type in (SourceType.DATE, SourceType.DATE_TIME):
        # date objects come from BATCH messages with Parquet files, which the SDK reads typed.
        return isinstance(value, (str, datetime.date))
    if source_type is SourceType.STRING:
        return isinstance(value, str)
    if source_type is SourceType.BOOLEAN:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if source_type is SourceType.INTEGER:
        return isinstance(value, int) or (isinstance(value, (float, decimal.Decimal)) and value == int(value))
    return isinstance(value, (int, float, decimal.Decimal))


def _type_issues(values: list[Any], bad_rows: list[int], column: Column, first_row: int) -> list[Issue]:
    expected = column.source_type.value
    return [
        Issue(
            Rule.SCHEMA_TYPE,
            f"value is not of type {expected} as the stream schema declares for '{column.source}'",
            row=first_row + index,
            column=column.field,
            value=_plain_text(values[index]),
        )
        for index in bad_rows
    ]


def _plain_text(value: Any) -> str | None:
    """Text of one value outside the vectorized path (wrongly typed or oversize values only)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return _plain_number(value)
    if isinstance(value, decimal.Decimal):
        return format(value, "f")
    if isinstance(value, (dict, list)):
        return _json_text(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _plain_number(value: float) -> str:
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(decimal.Decimal(text), "f")
    return text[:-2] if text.endswith(".0") else text


def _as_text(array: pa.Array) -> pa.Array:
    """One typed column as the text Viva reads (dates still as the tap wrote them)."""
    if pa.types.is_boolean(array.type):
        return pc.if_else(array, "TRUE", "FALSE")
    if pa.types.is_floating(array.type):
        text = pc.cast(array, pa.string())
        return _rewrite_exponents(array, text)
    if not pa.types.is_string(array.type):
        return pc.cast(array, pa.string())
    return array


def _rewrite_exponents(numbers: pa.Array, text: pa.Array) -> pa.Array:
    """Arrow prints 1e+20 and 1e-07; Viva wants plain notation. Only those rare cells go through Python."""
    has_exponent = pc.fill_null(pc.match_substring(text, "e"), False)
    if not pc.any(has_exponent).as_py():
        return text
    positions = pc.indices_nonzero(has_exponent).to_pylist()
    values = text.to_pylist()
    for position in positions:
        values[position] = _plain_number(numbers[position].as_py())
    return pa.array(values, type=pa.string())
