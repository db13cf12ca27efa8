"""The errors tap-hrsource raises for bad input: each names where the problem is."""

from __future__ import annotations


class HRSourceError(Exception):
    """Bad source data or settings; the message says what and where, without a Python traceback."""


class DataValueError(HRSourceError):
    """A value that contradicts the stream schema (names file, row, column and value)."""

    def __init__(self, source: str, row: int, column: str, value: object, expected: str) -> None:
        self.source, self.row, self.column, self.value = source, row, column, value
        super().__init__(
            f"{source}: row {row}, column {column!r}: value {value!r} is not a valid {expected}. "
            f"Fix the source, or set column_types for {column!r} (e.g. string)."
        )


class KeyPropertyError(HRSourceError):
    """A key property that is empty or not unique."""
