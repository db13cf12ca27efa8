"""How SQL values become JSON-ready values: the database's types, or the stream's `column_types`.

File streams read text and infer types; SQL streams take their types from the database. The same
three settings still apply to SQL streams, value by value:

- `null_values`: a text value equal to one of them is read as null (in every column).
- `column_types`: the column is declared with that type and every value is cast to it (text such as
  "42" to an integer, a timestamp to a date, a number to text, ...). A value that does not fit is a
  data error naming the stream, row, column and value.
- `date_formats`: the strptime formats, besides ISO 8601, tried in order on text values of the columns
  that `column_types` declares `date` or `date-time`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from tap_hrsource.inference import (
    BOOLEAN,
    INTEGER,
    INTEGER_PATTERN,
    NAMED_TYPES,
    NUMBER,
    NUMBER_PATTERN,
    STRING,
    ColumnType,
)

Converter = Callable[[Any], Any]
_INTEGER = re.compile(INTEGER_PATTERN)
_NUMBER = re.compile(NUMBER_PATTERN)


class CastError(ValueError):
    """A value that cannot be cast to the declared type."""


def as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def as_integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, (float, Decimal)) and value == int(value):
        return int(value)
    if isinstance(value, str) and _INTEGER.match(value.strip()):
        return int(value.strip())
    raise CastError


def as_number(value: Any) -> int | float | Decimal:
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            raise CastError from None
    raise CastError


def as_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in {0, 1}:
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise CastError


def parsed_text_datetime(text: str, date_formats: Iterable[str]) -> dt.datetime:
    """ISO 8601 first, then each strptime format in order."""
    text = text.strip()
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        pass
    for date_format in date_formats:
        try:
            return dt.datetime.strptime(text, date_format)
        except ValueError:
            continue
    raise CastError


def date_caster(date_formats: tuple[str, ...], *, with_time: bool) -> Converter:
    def cast(value: Any) -> str:
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, dt.date):
            moment = dt.datetime.combine(value, dt.time())
        elif isinstance(value, str):
            moment = parsed_text_datetime(value, date_formats)
        else:
            raise CastError
        return moment.isoformat() if with_time else moment.date().isoformat()

    return cast


def declared_type(name: str) -> ColumnType:
    """The ColumnType a `column_types` entry declares (dates in ISO form in the output)."""
    return NAMED_TYPES[name]


def caster(column: ColumnType, date_formats: tuple[str, ...]) -> Converter:
    """The cast from any database value to a value of the declared type; raises CastError."""
    if column == STRING:
        return as_text
    if column == INTEGER:
        return as_integer
    if column == NUMBER:
        return as_number
    if column == BOOLEAN:
        return as_boolean
    return date_caster(date_formats, with_time=column.json_format == "date-time")


def with_nulls(convert: Converter, null_values: frozenset[str]) -> Converter:
    """`convert`, except that None and the configured null strings become None."""
    if not null_values:
        return lambda value: None if value is None else convert(value)
    return lambda value: (
        None if value is None or (isinstance(value, str) and value in null_values) else (convert(value))
    )
