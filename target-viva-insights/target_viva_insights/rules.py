"""Viva Insights organizational-data rules: the one place that states them.

The target's pre-flight (`validation.py`), the metadata builder (`mapping.py`) and the emulator all
read these facts from here. Sources: the Microsoft Learn pages "Prepare organizational data",
"Import organizational data (first import)" and "File rules and validation errors"; docs/viva-rules.md
gives each rule with its source, and `catalogue.py` lists the rules the validation reports.
"""

from __future__ import annotations

import enum
import re


class ValueKind(enum.Enum):
    """How a column's values are written in data.csv and checked."""

    EMAIL = "email"
    STRING = "string"
    INTEGER = "integer"
    DOUBLE = "double"
    DATE = "date"


# metadata.json type tokens. Only EmailType is documented for HR data; the others are inferred from
# the business-data sample and are overridable with the `field_types` setting (README says so).
EMAIL_TYPE = "EmailType"
STRING_TYPE = "StringType"
INTEGER_TYPE = "IntegerType"
DOUBLE_TYPE = "DoubleType"
DATE_MDY_TYPE = "DateTime_MMDDYYYY"
DATE_DMY_TYPE = "DateTime_DDMMYYYY"

TYPE_TOKENS: dict[str, ValueKind] = {
    EMAIL_TYPE: ValueKind.EMAIL,
    STRING_TYPE: ValueKind.STRING,
    INTEGER_TYPE: ValueKind.INTEGER,
    DOUBLE_TYPE: ValueKind.DOUBLE,
    DATE_MDY_TYPE: ValueKind.DATE,
    DATE_DMY_TYPE: ValueKind.DATE,
}


class DateOrder(enum.Enum):
    """The order of day and month in data.csv dates; the value is the `date_order` setting's token."""

    MDY = "MDY"
    DMY = "DMY"

    @property
    def type_token(self) -> str:
        """The metadata.json type token of date fields written in this order."""
        return DATE_MDY_TYPE if self is DateOrder.MDY else DATE_DMY_TYPE

    @property
    def display(self) -> str:
        """The format as Microsoft's pages write it."""
        return "MM/DD/YYYY" if self is DateOrder.MDY else "DD/MM/YYYY"

    @property
    def parts(self) -> tuple[str, str, str]:
        """The names of the date's parts in the order they are written."""
        return ("month", "day", "year") if self is DateOrder.MDY else ("day", "month", "year")

    @property
    def slices(self) -> dict[str, tuple[int, int]]:
        """Where each part sits in the zero-padded text (MM/DD/YYYY or DD/MM/YYYY)."""
        first, second, _ = self.parts
        return {first: (0, 2), second: (3, 5), "year": (6, 10)}

    @property
    def pattern(self) -> str:
        """The date as Viva reads it: one or two digit day and month, four-digit year, optionally
        followed by a time (Viva ignores text after the date)."""
        first, second, _ = self.parts
        return rf"^(?P<{first}>[0-9]{{1,2}})/(?P<{second}>[0-9]{{1,2}})/(?P<year>[0-9]{{4}})(?:[ T].*)?$"

    @classmethod
    def of_type_token(cls, token: str) -> DateOrder | None:
        """The date order a metadata.json type token stands for; None for tokens of other types."""
        return next((order for order in cls if order.type_token == token), None)


DEFAULT_DATE_ORDER = DateOrder.MDY

PERSON_ID = "PersonId"
MANAGER_ID = "ManagerId"
ORGANIZATION = "Organization"
EFFECTIVE_DATE = "EffectiveDate"

# Required on every row (ManagerId may be blank only for the top of the hierarchy).
REQUIRED_FIELDS = (PERSON_ID, MANAGER_ID, ORGANIZATION, EFFECTIVE_DATE)

# Reserved Viva names and the type their values must have. Source columns whose names differ from
# these only in case, `_`, `-` or spaces are mapped onto them.
RESERVED_FIELDS: dict[str, ValueKind] = {
    PERSON_ID: ValueKind.EMAIL,
    MANAGER_ID: ValueKind.EMAIL,
    ORGANIZATION: ValueKind.STRING,
    EFFECTIVE_DATE: ValueKind.DATE,
    "LevelDesignation": ValueKind.STRING,
    "FunctionType": ValueKind.STRING,
    "HireDate": ValueKind.DATE,
    "HourlyRate": ValueKind.DOUBLE,
    "Layer": ValueKind.INTEGER,
    "SupervisorIndicator": ValueKind.STRING,
    "WeeklyBadgeOnsiteDays": ValueKind.DOUBLE,
    "Location": ValueKind.STRING,
    "CountryOrRegion": ValueKind.STRING,
}

# Names Viva computes itself; an upload may not use them as field names.
SYSTEM_FIELDS = frozenset(
    {
        "PeopleHistoricalId",
        "StartDate",
        "EndDate",
        "Domain",
        "PopulationType",
        "TimeZone",
        "StandardTimeZone",
        "WorkdayStart",
        "WorkDayEnd",
        "WeekendDays",
        "InferredTeamSize",
        "ObjectId",
        "IsActive",
    }
)
SYSTEM_PREFIX = "Microsoft_"

MAX_COLUMNS = 105
MAX_VALUE_BYTES = 128 * 1024

# The strictest of the documented header rules: letters, digits and underscore, starting with a letter.
HEADER_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

# A practical address check (RFC 5322 is far looser): one @, a dotted domain, no spaces.
_DOMAIN_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
EMAIL_PATTERN = rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})+$"
INTEGER_PATTERN = r"^-?[0-9]+$"
# Plain decimal notation: no thousands separators, currency signs or exponents.
DOUBLE_PATTERN = r"^-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$"

# Viva recommends 13 monthly snapshots per person for a first import.
RECOMMENDED_MONTHLY_SNAPSHOTS = 13


def normalized_name(name: str) -> str:
    """Reduce a column name to the letters and digits Viva's reserved-name match compares."""
    return re.sub(r"[\s_\-]", "", name).casefold()


RESERVED_BY_NORMALIZED_NAME = {normalized_name(name): name for name in RESERVED_FIELDS}


def header_problem(name: str) -> str | None:
    """Why `name` cannot be a data.csv header or Viva field name, or None when it can."""
    if not name:
        return "the header is empty"
    if name in SYSTEM_FIELDS or name.casefold() in {field.casefold() for field in SYSTEM_FIELDS}:
        return f"'{name}' is a Viva system field"
    if name.startswith(SYSTEM_PREFIX):
        return f"names starting with '{SYSTEM_PREFIX}' are reserved for Viva"
    if not HEADER_PATTERN.match(name):
        return "headers must start with a letter and hold only ASCII letters, digits and underscores"
    return None
