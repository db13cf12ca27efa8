"""Viva Insights organizational-data rules: the one place that states them.

The target's pre-flight (`validation.py`), the metadata builder (`mapping.py`) and the emulator all
read these facts from here. Sources: Microsoft's pages "Prepare organizational data" (attribute
reference), "File rules and validation errors" and "Import organizational data (first import)";
docs/viva-rules.md quotes each rule, and `catalogue.py` gives each finding its severity.
"""

from __future__ import annotations

import datetime
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
# the business-data sample and are overridable with the `field_types` setting or, better, taken from the
# customer's own template (setting `metadata_template`).
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
# The attribute reference names the two date types so ("Admin can select DataType as either
# DateTime_MM/DD/YYYY or DateTime_DD/MM/YYYY"): known tokens too.
DATE_TYPE_LABELS = {"DateTime_MM/DD/YYYY": "MDY", "DateTime_DD/MM/YYYY": "DMY"}
TYPE_TOKENS.update(dict.fromkeys(DATE_TYPE_LABELS, ValueKind.DATE))
# What a token we do not know most likely holds, by the words in it (checked in this order).
_TOKEN_WORDS = (
    ("email", ValueKind.EMAIL),
    ("date", ValueKind.DATE),
    ("int", ValueKind.INTEGER),
    ("double", ValueKind.DOUBLE),
    ("float", ValueKind.DOUBLE),
    ("decimal", ValueKind.DOUBLE),
    ("number", ValueKind.DOUBLE),
)


def kind_of_token(token: str) -> ValueKind:
    """The kind of values a type token holds: ours by the table, others by the words in them.

    A token from the customer's template or `field_types` (`int32`, `DateTime_YYYYMMDD`) is judged as
    what it says; one that says nothing we know is text, which every value is."""
    known = TYPE_TOKENS.get(token)
    if known is not None:
        return known
    lowered = token.casefold()
    return next((kind for word, kind in _TOKEN_WORDS if word in lowered), ValueKind.STRING)


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
        """The date order a metadata.json type token stands for; None for tokens of other types and
        for date tokens that do not say it (their field is read in the package's default order)."""
        exact = next((order for order in cls if order.type_token == token), None)
        if exact is not None or token in DATE_TYPE_LABELS:
            return exact or cls(DATE_TYPE_LABELS[token])
        if kind_of_token(token) is not ValueKind.DATE:
            return None
        squeezed = re.sub(r"[^a-z]", "", token.casefold())
        month, day = squeezed.find("mm"), squeezed.find("dd")
        if month < 0 or day < 0:
            return None
        return cls.MDY if month < day else cls.DMY


DEFAULT_DATE_ORDER = DateOrder.MDY

PERSON_ID = "PersonId"
MANAGER_ID = "ManagerId"
ORGANIZATION = "Organization"
EFFECTIVE_DATE = "EffectiveDate"
HIRE_DATE = "HireDate"

# Dates that are valid but unlikely to be meant (warnings, this project's own checks): an
# EffectiveDate before this or more than this many years ahead, a HireDate after today, and the
# placeholders HR systems write for "unknown" or "no end" in any date field.
EARLIEST_PLAUSIBLE_EFFECTIVE_DATE = datetime.date(1920, 1, 1)
EFFECTIVE_DATE_YEARS_AHEAD = 2
PLACEHOLDER_DATES = (datetime.date(1900, 1, 1), datetime.date(1970, 1, 1), datetime.date(9999, 12, 31))


def years_after(day: datetime.date, years: int) -> datetime.date:
    """The same day `years` later; 29 February becomes 28 February in a year without it."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


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
    HIRE_DATE: ValueKind.DATE,
    "HourlyRate": ValueKind.DOUBLE,
    "Layer": ValueKind.INTEGER,
    "SupervisorIndicator": ValueKind.STRING,
    "WeeklyBadgeOnsiteDays": ValueKind.DOUBLE,
    "Location": ValueKind.STRING,
    "CountryOrRegion": ValueKind.STRING,
}

# Names Viva computes or reserves itself; a custom target field may not use them ("File rules and
# validation errors", 11/25/2024, which added the last three; "Don't upload TimeZone as a column").
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
        "MetricDate",
        "PrimaryCollaborator_PersonId",
        "SecondaryCollaborator_PersonId",
    }
)
SYSTEM_PREFIX = "Microsoft_"
_SYSTEM_FIELDS_FOLDED = frozenset(name.casefold() for name in SYSTEM_FIELDS)
# Fields the attribute reference renamed: the old name is now an ordinary custom attribute.
RENAMED_FIELDS = {"OnsiteDays": "WeeklyBadgeOnsiteDays"}

# Documented ranges of reserved numeric fields ("Must be a number between 0 and 7").
VALUE_RANGES: dict[str, tuple[float, float]] = {"WeeklyBadgeOnsiteDays": (0.0, 7.0)}
LAYER = "Layer"  # "their distance from the top leader": never negative
SUPERVISOR_INDICATOR = "SupervisorIndicator"
SUPERVISOR_INDICATOR_VALUES = ("IC", "Mngr", "Mngr+")

MAX_COLUMNS = 105
MAX_VALUE_BYTES = 128 * 1024

# Header characters: the rules section of "File rules and validation errors" allows ASCII letters,
# digits and underscore (a leading digit too); the page's error table also allows these symbols.
HEADER_PATTERN = re.compile(r"^[A-Za-z0-9_]+$")
TABLE_SYMBOLS = frozenset("~!@#$%^&*+><:[]?")

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


class NameProblem(enum.Enum):
    """What is wrong with the characters of a header or field name."""

    EMPTY = "the name is empty"
    TABLE_SYMBOL = (
        "holds a symbol that the error table of 'File rules and validation errors' allows but its rules "
        "section does not (only ASCII letters, digits and underscore)"
    )
    ILLEGAL_CHARACTER = "may hold only ASCII letters, digits and underscores (no spaces)"


def name_problem(name: str) -> NameProblem | None:
    """Whether `name` is a legal header or Viva field name as far as its characters go."""
    if not name:
        return NameProblem.EMPTY
    if HEADER_PATTERN.match(name):
        return None
    if all(HEADER_PATTERN.match(char) or char in TABLE_SYMBOLS for char in name):
        return NameProblem.TABLE_SYMBOL
    return NameProblem.ILLEGAL_CHARACTER


def is_system_field(name: str) -> bool:
    """A name Viva keeps for itself (matched regardless of case), or one starting with Microsoft_."""
    return name.casefold() in _SYSTEM_FIELDS_FOLDED or name.startswith(SYSTEM_PREFIX)


def hides_microsoft_mark(name: str) -> bool:
    """A name holding Microsoft_ later on: Viva keeps the attribute but will not make it available."""
    return SYSTEM_PREFIX in name and not name.startswith(SYSTEM_PREFIX)
