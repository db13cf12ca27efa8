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
import fnmatch
import json
import math
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from target_viva_insights.build.mapping import SINGER_METADATA_PATTERN, Column, SourceType
from target_viva_insights.catalogue import Rule
from target_viva_insights.dates import iso_to_viva_dates
from target_viva_insights.rules import DateOrder, ValueKind
from target_viva_insights.validation.report import MAX_ISSUES_PER_RULE, Issue

ARROW_TYPES: dict[SourceType, pa.DataType] = {
    SourceType.STRING: pa.string(),
    SourceType.INTEGER: pa.int64(),
    SourceType.NUMBER: pa.float64(),
    SourceType.BOOLEAN: pa.bool_(),
    SourceType.DATE: pa.string(),
    SourceType.DATE_TIME: pa.string(),
}

# ISO 8601 date or date-time, as the stream schema's `format: date` / `date-time` promise.
ISO_DATE_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[Tt ].*)?$"
# Source types whose text comes from the tap as it is (a date that is not ISO is a finding already).
TEXT_SOURCES = frozenset({SourceType.STRING, SourceType.JSON})


@dataclasses.dataclass(frozen=True)
class FormattedBatch:
    """A batch as data.csv's text, with what the formatting learned on the way."""

    table: pa.Table  # one string column per data.csv column, named by Viva field
    issues: list[Issue]  # values that do not fit the type the stream schema declares, or are refused
    days: dict[str, pa.Array]  # date fields: the day each converted value names (date32), by field


def format_batch(
    records: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    *,
    date_order: DateOrder,
    first_row: int,
    check_types: bool = True,
    excluded: Sequence[str] = (),
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
    issues = _undeclared_fields(records, columns, excluded, first_row)
    arrays, type_issues = _typed_arrays(records, columns, first_row=first_row, check_types=check_types)
    issues += type_issues
    texts = []
    days = {}
    for array, column in zip(arrays, columns, strict=True):
        if column.source_type in (SourceType.DATE, SourceType.DATE_TIME):
            issues.extend(_non_iso_dates(array, column, first_row))
        text = _as_text(array)
        if column.kind is ValueKind.DATE:
            # A date token that names an order (template, field_types) decides how its column is written.
            order = DateOrder.of_type_token(column.token) or date_order
            text, days[column.field] = iso_to_viva_dates(text, order)
        if column.source_type in TEXT_SOURCES:  # numbers, booleans and ISO dates hold no NUL
            issues.extend(_nul_characters(text, column, first_row))
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
    # Numbers are converted column by column (`_numbers`): Arrow's conversion would turn 1.5 into the
    # integer 1 and False into the number 0 without a word.
    typed = [column for column in columns if column.source_type in ARROW_TYPES and not _is_numeric(column)]
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
        numbers = _numbers(values, column.source_type) if _is_numeric(column) else None
        if numbers is not None:
            arrays.append(numbers)
            continue
        array, bad_rows = _array_for_column(values, column)
        arrays.append(array)
        if check_types:
            issues.extend(_type_issues(values, bad_rows, column, first_row))
    return arrays, issues


def _array_for_column(values: list[Any], column: Column) -> tuple[pa.Array, list[int]]:
    """Typed array when every value fits; otherwise text, and the indices of values that do not fit."""
    if column.source_type is SourceType.JSON:
        return pa.array([_json_text(value) for value in values], type=pa.string()), []
    if not _is_numeric(column):  # numbers came through `_numbers` already
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
    if isinstance(value, int):
        return INT64_MIN <= value <= INT64_MAX  # wider integers do not survive Viva's 64-bit columns
    if isinstance(value, (float, decimal.Decimal)):
        if not value.is_finite() if isinstance(value, decimal.Decimal) else not math.isfinite(value):
            return False
        return source_type is SourceType.NUMBER or (value == int(value) and INT64_MIN <= value <= INT64_MAX)
    return False


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Integers up to 2**53 are exact in a float64; wider ones in a number column are written as digits.
FLOAT_EXACT_INT = 2**53
_NONE = type(None)


def _is_numeric(column: Column) -> bool:
    return column.source_type in (SourceType.INTEGER, SourceType.NUMBER)


def _numbers(values: list[Any], source_type: SourceType) -> pa.Array | None:
    """The typed array when every value is a plain int (or, for numbers, float) that fits; else None.

    None sends the column the slow way (`_array_for_column`), which names the values that do not fit.
    """
    kinds = set(map(type, values))
    kinds.discard(_NONE)
    try:
        if source_type is SourceType.INTEGER and kinds <= {int}:
            return pa.array(values, type=pa.int64())
        if source_type is SourceType.NUMBER and kinds <= {int, float}:
            if int in kinds and any(type(v) is int and abs(v) > FLOAT_EXACT_INT for v in values):
                return None
            return pa.array(values, type=pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return None
    return None


def _type_issues(values: list[Any], bad_rows: list[int], column: Column, first_row: int) -> list[Issue]:
    return [
        Issue(
            Rule.SCHEMA_TYPE,
            _type_problem(values[index], column),
            row=first_row + index,
            column=column.field,
            value=_plain_text(values[index]),
        )
        for index in bad_rows
    ]


def _type_problem(value: Any, column: Column) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"integer beyond 64 bits ({INT64_MIN} to {INT64_MAX}) in '{column.source}'"
    expected = column.source_type.value
    return f"value is not of type {expected} as the stream schema declares for '{column.source}'"


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


def _undeclared_fields(
    records: Sequence[dict[str, Any]], columns: Sequence[Column], excluded: Sequence[str], first_row: int
) -> list[Issue]:
    """A field the stream schema does not declare would be dropped without a word: it is a finding."""
    declared = frozenset({column.source for column in columns}.union(excluded))
    if all(map(declared.issuperset, records)):  # the usual batch, checked without a Python loop
        return []
    strays = [index for index, record in enumerate(records) if not declared.issuperset(record)]
    # Excluded on purpose (names or glob patterns), or Singer metadata a tap adds about itself.
    left_out = [*excluded, SINGER_METADATA_PATTERN]
    issues = []
    for index in strays[:MAX_ISSUES_PER_RULE]:
        unknown = records[index].keys() - declared
        for name in sorted(n for n in unknown if not any(fnmatch.fnmatchcase(n, p) for p in left_out)):
            issues.append(
                Issue(
                    Rule.UNDECLARED_FIELD,
                    "field not declared by the stream schema (it would be dropped); declare it in the "
                    "tap's schema or list it in exclude_columns",
                    row=first_row + index,
                    column=name,
                )
            )
    return issues


def _non_iso_dates(array: pa.Array, column: Column, first_row: int) -> list[Issue]:
    """A date-typed column holds ISO dates: anything else (03/04/2025) cannot be read without guessing.

    Which of 03 and 04 is the month? The schema promised ISO 8601, so the value is refused rather than
    read month-first.
    """
    if not pa.types.is_string(array.type):
        return []  # date objects (BATCH with Parquet) or a column already reported as mistyped
    try:
        pc.cast(array, pa.date32())
        return []  # the usual column: every value a plain ISO date
    except pa.ArrowInvalid:
        pass
    blank = pc.equal(pc.utf8_trim_whitespace(array), "")
    iso = pc.match_substring_regex(array, ISO_DATE_TEXT)
    bad = pc.fill_null(pc.and_(pc.invert(iso), pc.invert(blank)), False)
    return [
        Issue(
            Rule.NON_ISO_DATE,
            f"not an ISO 8601 date (YYYY-MM-DD) although the stream schema declares '{column.source}' "
            f"as format {column.source_type.value}; day and month cannot be told apart",
            row=first_row + index,
            column=column.field,
            value=array[index].as_py(),
        )
        for index in pc.indices_nonzero(bad).to_pylist()
    ]


def _nul_characters(text: pa.Array, column: Column, first_row: int) -> list[Issue]:
    """A NUL character (U+0000) cannot travel in data.csv: most CSV readers end the value there."""
    found = pc.fill_null(pc.match_substring(text, "\x00"), False)
    if not pc.any(found).as_py():
        return []
    return [
        Issue(
            Rule.NUL_CHARACTER,
            "value holds a NUL character (U+0000)",
            row=first_row + index,
            column=column.field,
            value=text[index].as_py().replace("\x00", "\\x00"),
        )
        for index in pc.indices_nonzero(found).to_pylist()
    ]


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
