"""The rule catalogue: every finding the validation can report, with its severity and where it comes from.

Code refers to these entries, never to rule-id strings. An entry is also its id string (`Rule.NEWLINE ==
"newline"`), which is what the validation report's `rule` column and Viva-style error files show. The
source of a rule is the title of the Microsoft Learn page that states it, or `THIS_PROJECT` for checks of
our own (data quality advice, the package layout the target writes, the emulator's own findings);
docs/viva-rules.md gives each rule's sentence and reasoning.
"""

from __future__ import annotations

import enum

THIS_PROJECT = "this project"
FILE_RULES = "File rules and validation errors"
PREPARE_ORG_DATA = "Prepare organizational data"
FIRST_IMPORT = "Import organizational data (first import)"


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


class Rule(str, enum.Enum):
    """One checked rule: `id` (the report's rule column), `severity`, `source` (documentation)."""

    severity: Severity
    source: str

    def __new__(cls, rule_id: str, severity: Severity, source: str) -> Rule:
        entry = str.__new__(cls, rule_id)
        entry._value_ = rule_id
        entry.severity = severity
        entry.source = source
        return entry

    # The package: the zip, metadata.json, data.csv as a file.
    PACKAGE = ("package", Severity.ERROR, FIRST_IMPORT)
    UNREADABLE_CSV = ("unreadable-csv", Severity.ERROR, FILE_RULES)
    EMPTY_FILE = ("empty-file", Severity.ERROR, FILE_RULES)
    # Headers and the mapping.
    TOO_MANY_COLUMNS = ("too-many-columns", Severity.ERROR, PREPARE_ORG_DATA)
    DUPLICATE_HEADER = ("duplicate-header", Severity.ERROR, FILE_RULES)
    DUPLICATE_FIELD = ("duplicate-field", Severity.ERROR, FILE_RULES)
    ILLEGAL_NAME = ("illegal-name", Severity.ERROR, FILE_RULES)
    UNKNOWN_TYPE = ("unknown-type", Severity.ERROR, PREPARE_ORG_DATA)
    RESERVED_FIELD_TYPE = ("reserved-field-type", Severity.ERROR, PREPARE_ORG_DATA)
    MISSING_REQUIRED_FIELD = ("missing-required-field", Severity.ERROR, FILE_RULES)
    # Values, row by row.
    NEWLINE = ("newline", Severity.ERROR, FILE_RULES)
    VALUE_TOO_LONG = ("value-too-long", Severity.ERROR, FILE_RULES)
    BLANK_REQUIRED = ("blank-required", Severity.ERROR, FILE_RULES)
    INVALID_EMAIL = ("invalid-email", Severity.ERROR, PREPARE_ORG_DATA)
    INVALID_INTEGER = ("invalid-integer", Severity.ERROR, PREPARE_ORG_DATA)
    INVALID_DOUBLE = ("invalid-double", Severity.ERROR, PREPARE_ORG_DATA)
    INVALID_DATE = ("invalid-date", Severity.ERROR, PREPARE_ORG_DATA)
    # A value that does not fit the type the tap's stream schema declares (the target only).
    SCHEMA_TYPE = ("schema-type", Severity.ERROR, THIS_PROJECT)
    # Input the target refuses rather than guesses at (docs/reliability.md).
    NON_ISO_DATE = ("non-iso-date", Severity.ERROR, THIS_PROJECT)
    NUL_CHARACTER = ("nul-character", Severity.ERROR, THIS_PROJECT)
    UNDECLARED_FIELD = ("undeclared-field", Severity.ERROR, THIS_PROJECT)
    # The organization as a whole.
    DUPLICATE_PERSON_DATE = ("duplicate-person-date", Severity.ERROR, PREPARE_ORG_DATA)
    SEVERAL_MANAGERS = ("several-managers", Severity.ERROR, FILE_RULES)
    MANAGER_NOT_A_PERSON = ("manager-not-a-person", Severity.ERROR, THIS_PROJECT)
    MANAGER_MISSING = ("manager-missing", Severity.ERROR, FILE_RULES)
    REPORTING_LOOP = ("reporting-loop", Severity.ERROR, FILE_RULES)
    # Data-quality advice.
    FEW_MONTHLY_SNAPSHOTS = ("few-monthly-snapshots", Severity.WARNING, PREPARE_ORG_DATA)
    MISSING_MONTHLY_SNAPSHOT = ("missing-monthly-snapshot", Severity.WARNING, PREPARE_ORG_DATA)
    SINGLE_VALUE_COLUMN = ("single-value-column", Severity.WARNING, THIS_PROJECT)
    VALUE_PER_PERSON = ("value-per-person", Severity.WARNING, THIS_PROJECT)
    # The emulator's stand-in for a rule only Viva checks.
    SERVICE_RULE = ("service-rule", Severity.ERROR, THIS_PROJECT)

    @property
    def id(self) -> str:
        """The rule's id as reports show it."""
        return str(self._value_)

    # An entry hashes, prints and formats as its id, so it works wherever the id string did.
    __hash__ = str.__hash__

    def __str__(self) -> str:
        return self.id

    def __format__(self, format_spec: str) -> str:
        return format(self.id, format_spec)
