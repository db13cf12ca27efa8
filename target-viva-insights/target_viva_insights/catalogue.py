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
# Microsoft's pages (public MicrosoftDocs/Viva repository, Viva/insights/advanced/admin/), with ms.date.
FILE_RULES = "File rules and validation errors (11/25/2024)"
PREPARE_ORG_DATA = "Prepare organizational data, attribute reference (09/09/2024)"
FIRST_IMPORT = "Import organizational data using API-based import (first import) (7/8/2025)"
# The Microsoft 365 admin center's pages, for the m365 destination (target-viva-insights/docs/m365-rules.md).
M365_ATTRIBUTES = "Organizational data in Microsoft 365 attributes (2026-08)"
COPILOT_DASHBOARD = "Use organizational data in the Microsoft Copilot Dashboard (2024-08)"
M365_SOURCES = frozenset({M365_ATTRIBUTES, COPILOT_DASHBOARD})


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
    PACKAGE = ("package", Severity.ERROR, FIRST_IMPORT)  # not a zip at all
    PACKAGE_MEMBERS = ("package-members", Severity.ERROR, FILE_RULES)
    EMPTY_MEMBER = ("empty-member", Severity.ERROR, FILE_RULES)
    INVALID_METADATA = ("invalid-metadata", Severity.ERROR, FILE_RULES)
    DATASET_TYPE = ("dataset-type", Severity.ERROR, FILE_RULES)
    IS_BOOTSTRAP = ("is-bootstrap", Severity.ERROR, FIRST_IMPORT)
    MAPPING_INVALID = ("mapping-invalid", Severity.ERROR, FILE_RULES)
    HEADER_MAPPING_MISMATCH = ("header-mapping-mismatch", Severity.ERROR, FILE_RULES)
    NOT_UTF8 = ("not-utf8", Severity.ERROR, FILE_RULES)
    RAGGED_ROW = ("ragged-row", Severity.ERROR, FILE_RULES)
    # Any other failure to read data.csv as CSV (the documented ones are not-utf8 and ragged-row).
    UNREADABLE_CSV = ("unreadable-csv", Severity.ERROR, THIS_PROJECT)
    EMPTY_FILE = ("empty-file", Severity.ERROR, FILE_RULES)
    # Headers and the mapping.
    TOO_MANY_COLUMNS = ("too-many-columns", Severity.ERROR, PREPARE_ORG_DATA)
    DUPLICATE_HEADER = ("duplicate-header", Severity.ERROR, FILE_RULES)
    DUPLICATE_FIELD = ("duplicate-field", Severity.ERROR, FILE_RULES)
    HEADER_EMPTY = ("header-empty", Severity.ERROR, FILE_RULES)
    HEADER_CHARACTERS = ("header-characters", Severity.ERROR, FILE_RULES)
    # The symbols the page's error table allows and its rules section does not: Viva may accept them.
    HEADER_SYMBOL = ("header-symbol", Severity.WARNING, FILE_RULES)
    SYSTEM_FIELD = ("system-field", Severity.ERROR, FILE_RULES)
    MICROSOFT_NAME = ("microsoft-name", Severity.WARNING, PREPARE_ORG_DATA)
    RENAMED_FIELD = ("renamed-field", Severity.WARNING, PREPARE_ORG_DATA)
    # No page lists the supported tokens beyond EmailType: refusing one might refuse accepted data.
    UNKNOWN_TYPE = ("unknown-type", Severity.WARNING, FILE_RULES)
    RESERVED_FIELD_TYPE = ("reserved-field-type", Severity.ERROR, PREPARE_ORG_DATA)
    MISSING_REQUIRED_FIELD = ("missing-required-field", Severity.ERROR, PREPARE_ORG_DATA)
    # Without the column "the date you uploaded the data becomes the default EffectiveDate".
    EFFECTIVE_DATE_ABSENT = ("effective-date-absent", Severity.WARNING, PREPARE_ORG_DATA)
    # The customer's template (setting metadata_template) does not map the field.
    FIELD_NOT_IN_TEMPLATE = ("field-not-in-template", Severity.WARNING, FIRST_IMPORT)
    TYPE_NOT_FROM_TEMPLATE = ("type-not-from-template", Severity.WARNING, FIRST_IMPORT)
    # Values, row by row.
    NEWLINE = ("newline", Severity.ERROR, FILE_RULES)
    VALUE_TOO_LONG = ("value-too-long", Severity.ERROR, FILE_RULES)
    BLANK_REQUIRED = ("blank-required", Severity.ERROR, PREPARE_ORG_DATA)
    INVALID_EMAIL = ("invalid-email", Severity.ERROR, PREPARE_ORG_DATA)
    INVALID_INTEGER = ("invalid-integer", Severity.ERROR, PREPARE_ORG_DATA)
    INVALID_DOUBLE = ("invalid-double", Severity.ERROR, PREPARE_ORG_DATA)
    INVALID_DATE = ("invalid-date", Severity.ERROR, PREPARE_ORG_DATA)
    VALUE_OUT_OF_RANGE = ("value-out-of-range", Severity.ERROR, PREPARE_ORG_DATA)
    LAYER_NEGATIVE = ("layer-negative", Severity.WARNING, PREPARE_ORG_DATA)
    SUPERVISOR_INDICATOR = ("supervisor-indicator", Severity.WARNING, PREPARE_ORG_DATA)
    DATE_READ_AS_YYYY_DD_MM = ("date-read-as-yyyy-dd-mm", Severity.WARNING, PREPARE_ORG_DATA)
    # Valid dates unlikely to be meant (docs/viva-rules.md, "Plausible dates"): reported, never blocking.
    EFFECTIVE_DATE_IMPLAUSIBLE = ("effective-date-implausible", Severity.WARNING, THIS_PROJECT)
    HIRE_DATE_IN_FUTURE = ("hire-date-in-future", Severity.WARNING, THIS_PROJECT)
    PLACEHOLDER_DATE = ("placeholder-date", Severity.WARNING, THIS_PROJECT)
    # A value that does not fit the type the tap's stream schema declares (the target only).
    SCHEMA_TYPE = ("schema-type", Severity.ERROR, THIS_PROJECT)
    # Input the target refuses rather than guesses at (docs/reliability.md).
    NON_ISO_DATE = ("non-iso-date", Severity.ERROR, THIS_PROJECT)
    NUL_CHARACTER = ("nul-character", Severity.ERROR, THIS_PROJECT)
    UNDECLARED_FIELD = ("undeclared-field", Severity.ERROR, THIS_PROJECT)
    # The organization as a whole.
    DUPLICATE_PERSON_DATE = ("duplicate-person-date", Severity.WARNING, PREPARE_ORG_DATA)
    SEVERAL_MANAGERS = ("several-managers", Severity.ERROR, FILE_RULES)
    # Not documented: Microsoft's own valid example has managers without rows of their own.
    MANAGER_NOT_A_PERSON = ("manager-not-a-person", Severity.WARNING, THIS_PROJECT)
    MANAGER_MISSING = ("manager-missing", Severity.ERROR, FILE_RULES)
    CO_LEADER = ("co-leader", Severity.WARNING, PREPARE_ORG_DATA)
    REPORTING_LOOP = ("reporting-loop", Severity.ERROR, FILE_RULES)
    # Data-quality advice.
    FEW_MONTHLY_SNAPSHOTS = ("few-monthly-snapshots", Severity.WARNING, PREPARE_ORG_DATA)
    MISSING_MONTHLY_SNAPSHOT = ("missing-monthly-snapshot", Severity.WARNING, PREPARE_ORG_DATA)
    SINGLE_VALUE_COLUMN = ("single-value-column", Severity.WARNING, PREPARE_ORG_DATA)
    VALUE_PER_PERSON = ("value-per-person", Severity.WARNING, PREPARE_ORG_DATA)
    # Columns the target's mapping judged by their names (mapping.py): a technical column of the source
    # system left out, and a date, id or timestamp that keeps its own name as a custom attribute.
    TECHNICAL_COLUMN = ("technical-column", Severity.WARNING, THIS_PROJECT)
    COLUMN_NOT_MAPPED = ("column-not-mapped", Severity.WARNING, THIS_PROJECT)
    # The m365 destination's file (destinations/m365/rules.py), checked before the upload.
    M365_PERSON_EMAIL = ("m365-person-email", Severity.ERROR, M365_ATTRIBUTES)
    M365_COVERAGE = ("m365-coverage", Severity.ERROR, COPILOT_DASHBOARD)
    M365_NAME_GROUP = ("m365-name-group", Severity.WARNING, M365_ATTRIBUTES)
    M365_TOO_MANY_ATTRIBUTES = ("m365-too-many-attributes", Severity.ERROR, M365_ATTRIBUTES)
    M365_SUPERVISOR_INDICATOR = ("m365-supervisor-indicator", Severity.ERROR, M365_ATTRIBUTES)
    M365_GLINT_EMPLOYMENT_STATUS = ("m365-glint-employment-status", Severity.ERROR, M365_ATTRIBUTES)
    M365_HOURLY_RATE = ("m365-hourly-rate", Severity.ERROR, M365_ATTRIBUTES)
    M365_LAYER = ("m365-layer", Severity.ERROR, M365_ATTRIBUTES)
    M365_DATE = ("m365-date", Severity.ERROR, M365_ATTRIBUTES)
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
