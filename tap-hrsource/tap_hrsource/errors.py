"""The errors tap-hrsource raises for bad input: each names where the problem is."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The tap's exit codes (documented in README.md, "Errors and exit codes")."""

    SOURCE = 1
    """A file, database or value problem: the source must be fixed."""
    SETTINGS = 2
    """A settings problem: the configuration must be fixed."""


class HRSourceError(Exception):
    """Bad source data; the message says what and where, without a Python traceback."""

    exit_code = ExitCode.SOURCE


class SettingsError(HRSourceError):
    """Settings that cannot work (a missing or contradictory setting, a config file that is not JSON)."""

    exit_code = ExitCode.SETTINGS


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
