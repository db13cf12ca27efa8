"""What a tap's column names most likely mean in Viva: HR-system synonyms and near misses.

Taps name the same thing differently: a database table says `work_email`, a Workday report
`Email_-_Primary_Work`, a spreadsheet export `Work Email`. Names are compared after
`rules.normalized_name` (case, spaces, `_` and `-` ignored), so each synonym below covers all of
its spellings. Names that differ from a Viva field only in spelling (`hire_date`, `person_id`) need no entry:
`rules.RESERVED_BY_NORMALIZED_NAME` matches them. Only unambiguous names are listed: `employee_id` is
usually a number, not the address Viva's PersonId is, and `start_date` would collide with Viva's
system field StartDate. dBase and other legacy exports cut names short (`EMP_EMAIL`, `MGR_EMAIL`,
`EFF_DATE`, `HIRE_DT`): those short forms are listed where they can mean one field only. `SYNONYMS` is
keyed by the Viva HR field names, so every destination that fills those fields reads the same table.

The module also tells what a column that keeps its own name looks like: a technical column of the
source system (`id`, `updated_at`, a file name), left out by default; a date, an id or a timestamp
that probably wanted a mapping; and the Viva form of a name that is not a legal header as it is.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import fnmatch
import itertools
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping

from target_viva_insights import rules

# Viva field -> common HR-system names for it, most specific first (the first present one wins).
SYNONYMS: dict[str, tuple[str, ...]] = {
    rules.PERSON_ID: (
        "work_email",
        "work_email_address",
        "email_primary_work",  # Workday: Email_-_Primary_Work
        "primary_work_email",
        "business_email",
        "employee_email",
        "person_email",
        "worker_email",
        # Other HRIS exports and dBase/legacy short forms.
        "employee_work_email",
        "official_email",
        "company_email",
        "corporate_email",
        "office_email",
        "primary_email",
        "email_work",
        "emp_email",
        "empl_email",
        "ee_email",
        "wrk_email",
        "email_address",
        "email",
        "user_principal_name",
        "upn",
    ),
    rules.MANAGER_ID: (
        "manager_email",
        "manager_work_email",
        "manager_email_address",
        "manager_email_primary_work",
        "supervisor_email",
        "line_manager_email",
        "reports_to_email",
        "manager_upn",
        "supervisor_work_email",
        "direct_manager_email",
        "reporting_manager_email",
        "mgr_email",
        "mgr_work_email",
        "mgr_upn",
        "supv_email",
    ),
    rules.ORGANIZATION: (
        "org",
        "organisation",
        "department",
        "department_name",
        "dept",
        "org_unit",
        "organization_unit",
        "organizational_unit",
        "supervisory_organization",  # Workday
        "business_unit",
        "org_name",
        "organization_name",
        "organisation_name",
        "org_unit_name",
        "home_department",  # ADP Workforce Now
        "department_description",
        "dept_name",
        "dept_desc",
    ),
    rules.EFFECTIVE_DATE: (
        "effective_from",
        "as_of_date",
        "snapshot_date",
        "valid_from",
        "effective_start_date",  # Oracle HCM
        "valid_from_date",
        "as_of",
        "snapshot_dt",
        "effective_dt",
        "eff_date",
        "eff_dt",  # PeopleSoft EFFDT
    ),
    "HireDate": (
        "original_hire_date",
        "date_of_hire",
        "hired_on",
        "date_hired",
        "hired_date",
        "employment_start_date",
        "date_of_joining",
        "joining_date",
        "original_hire_dt",
        "orig_hire_dt",  # PeopleSoft
        "hire_dt",
    ),
    "FunctionType": (
        "function",
        "job_function",
        "job_family",
        "job_family_group",
        "function_name",
        "job_function_name",
        "job_family_name",
    ),
    "LevelDesignation": (
        "level",
        "job_level",
        "management_level",  # Workday
        "career_level",
        "grade",
        "job_grade",
        "pay_grade",
        "grade_level",
        "job_band",
        "lvl",
    ),
    "Layer": (
        "management_layer",
        "org_layer",
        "mgmt_layer",
    ),
    "SupervisorIndicator": ("manager_indicator",),
    "Location": (
        "work_location",
        "office_location",
        "office",
        "site",
        "location_name",
        "work_location_name",
        "office_name",
        "site_name",
        "work_site",
        "loc",
    ),
    "CountryOrRegion": (
        "country",
        "country_region",
        "country_name",
        "work_country",
        "country_code",
        "work_country_code",
        "cntry",
        "ctry",
    ),
    "HourlyRate": (
        "hourly_pay_rate",
        "hourly_wage",
        "hourly_pay",
        "hrly_rate",
    ),
    "WeeklyBadgeOnsiteDays": (
        "badge_onsite_days",
        "weekly_onsite_days",
    ),
}

_FIELD_BY_SYNONYM: dict[str, str] = {
    rules.normalized_name(synonym): field for field, synonyms in SYNONYMS.items() for synonym in synonyms
}
_PRIORITY: dict[str, int] = {
    rules.normalized_name(synonym): rank
    for synonyms in SYNONYMS.values()
    for rank, synonym in enumerate(synonyms)
}


@dataclasses.dataclass(frozen=True)
class NameMatch:
    """A source column taken as a Viva field because its name is a common HR name for that field."""

    source: str
    field: str

    def describe(self) -> str:
        return (
            f"column '{self.source}' is taken as {self.field} (a common HR-system name for it); "
            f"set column_mapping to map it otherwise"
        )


def synonym_field(source: str) -> str | None:
    """The Viva field a common HR-system column name stands for, or None."""
    return _FIELD_BY_SYNONYM.get(rules.normalized_name(source))


def synonym_matches(sources: Iterable[str], taken_fields: Iterable[str]) -> list[NameMatch]:
    """Columns to take as Viva fields by their common names, at most one per field.

    `taken_fields` are fields already given by `column_mapping` or by a source column named like the
    field itself: a synonym never takes their place. When several columns name the same field, the
    most specific name wins (`work_email` over `email`); the others keep their own names.
    """
    taken = set(taken_fields)
    best: dict[str, str] = {}
    for source in sources:
        field = synonym_field(source)
        if field is None or field in taken:
            continue
        current = best.get(field)
        if current is None or _rank(source) < _rank(current):
            best[field] = source
    return [NameMatch(source, field) for field, source in best.items()]


def _rank(source: str) -> int:
    return _PRIORITY[rules.normalized_name(source)]


def likely_matches(field: str, sources: Iterable[str], limit: int = 3) -> list[str]:
    """Source columns whose names look like `field` (difflib on normalized names), closest first."""
    by_normalized: dict[str, str] = {}
    for source in sources:
        by_normalized.setdefault(rules.normalized_name(source), source)
    candidates = [rules.normalized_name(field), *(rules.normalized_name(s) for s in SYNONYMS.get(field, ()))]
    scores: dict[str, float] = {}
    for normalized, source in by_normalized.items():
        score = max(difflib.SequenceMatcher(None, normalized, candidate).ratio() for candidate in candidates)
        if score >= 0.6:
            scores[source] = score
    return sorted(scores, key=lambda source: -scores[source])[:limit]


def missing_field_message(field: str, sources: Iterable[str], column_mapping: Mapping[str, str]) -> str:
    """Why `field` is missing, the columns that did arrive and the ones that probably hold it."""
    arrived = list(sources)
    matches = likely_matches(field, arrived)
    listed = ", ".join(arrived) if arrived else "none"
    message = f"the required field {field} is not in the data; the stream's columns are: {listed}."
    if matches:
        example = fix_snippet(mapping={matches[0]: field})
        message += f" Likely matches: {', '.join(matches)}. Map the one that holds it, e.g. {example}"
    elif field in column_mapping.values():
        message += (
            " column_mapping maps a column onto it that the stream does not have. Map the column that "
            f"holds it: {fix_snippet(mapping={'<column>': field})}"
        )
    else:
        message += f" Map the column that holds it: {fix_snippet(mapping={'<column>': field})}"
    return message


def fix_snippet(*, mapping: Mapping[str, str] | None = None, exclude: Iterable[str] = ()) -> str:
    """The settings that fix a column, as JSON the user can paste: column_mapping, exclude_columns or both
    ("A or B" when both are given)."""
    parts = []
    if mapping:
        parts.append(json.dumps({"column_mapping": dict(mapping)}, ensure_ascii=False))
    excluded = list(exclude)
    if excluded:
        parts.append(json.dumps({"exclude_columns": excluded}, ensure_ascii=False))
    return " or ".join(parts)


# ---- the Viva form of a name ------------------------------------------------------------------------

NAME_FORM_RULE = "words joined, each starting with a capital; other characters and accents dropped"
# A word: a run of capitals not followed by a lower-case letter (ID, EMP), a capitalised or lower-case
# word (Employee, title), or digits.
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def words_of(name: str) -> list[str]:
    """The words of a column name: split at spaces, punctuation and changes of case, accents removed."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return _WORD.findall(ascii_name)


def viva_name_form(name: str) -> str | None:
    """`name` in Viva's name form (PascalCase ASCII letters and digits), or None when no letter or
    digit is left. A word in one case is capitalised (ID -> Id, email -> Email); a mixed-case one keeps
    its inner capitals."""
    words = words_of(name)
    if not words:
        return None
    return "".join(word.capitalize() if word.isupper() or word.islower() else word for word in words)


# ---- technical columns ------------------------------------------------------------------------------


class TechnicalKind(enum.Enum):
    """Why a column is about the source system rather than about a person."""

    DATABASE_ID = "a database id"
    RECORD_TIME = "a record's creation or update time"
    TOOL_METADATA = "metadata another integration tool adds"
    ROW_NUMBER = "a row number"
    FILE_NAME = "a file name"


# Exact names, compared after `rules.normalized_name`.
_TECHNICAL_NAMES: dict[TechnicalKind, tuple[str, ...]] = {
    TechnicalKind.DATABASE_ID: (
        "id",
        "_id",
        "uuid",
        "guid",
        "oid",
        "pk",
        "rowid",
        "row_id",
        "record_id",
        "__v",
    ),
    TechnicalKind.RECORD_TIME: (
        "created_at",
        "updated_at",
        "modified_at",
        "deleted_at",
        "inserted_at",
        "created_on",
        "updated_on",
        "modified_on",
        "created_time",
        "updated_time",
        "modified_time",
        "last_modified",
        "last_modified_at",
        "last_modified_date",  # Salesforce LastModifiedDate
        "last_updated",
        "last_updated_at",
        "date_created",
        "date_modified",
        "created_date",  # Salesforce CreatedDate
        "system_modstamp",  # Salesforce SystemModstamp
    ),
    TechnicalKind.ROW_NUMBER: (
        "row",
        "row_number",
        "row_num",
        "row_no",
        "rownum",
        "line_number",
        "line_num",
        "line_no",
        "lineno",
        "index",
        "level_0",  # pandas reset_index
        "__index_level_0__",  # a pandas index written by pyarrow
    ),
    TechnicalKind.FILE_NAME: (
        "file",
        "file_name",
        "file_path",
        "source_file",
        "source_file_name",
        "source_filename",
        "source_path",
        "s3_key",
    ),
}
# Glob patterns on the name as it is: the metadata columns other tools add, like Singer's `_sdc_*`.
_TECHNICAL_PATTERNS: dict[str, TechnicalKind] = {
    "_airbyte_*": TechnicalKind.TOOL_METADATA,
    "_ab_*": TechnicalKind.TOOL_METADATA,  # Airbyte file sources: _ab_source_file_url
    "_fivetran_*": TechnicalKind.TOOL_METADATA,
    "_dlt_*": TechnicalKind.TOOL_METADATA,
    "__hevo_*": TechnicalKind.TOOL_METADATA,
    "_smart_source_*": TechnicalKind.TOOL_METADATA,  # tap-spreadsheets-anywhere: file and line
    "Unnamed: *": TechnicalKind.ROW_NUMBER,  # a spreadsheet's unnamed index column, as pandas reads it
}
_TECHNICAL_BY_NAME: dict[str, TechnicalKind] = {
    rules.normalized_name(name): kind for kind, listed in _TECHNICAL_NAMES.items() for name in listed
}


def technical_kind(source: str) -> TechnicalKind | None:
    """What kind of technical column `source` is by its name, or None for a column about people."""
    kind = _TECHNICAL_BY_NAME.get(rules.normalized_name(source))
    if kind is not None:
        return kind
    return next(
        (kind for pattern, kind in _TECHNICAL_PATTERNS.items() if fnmatch.fnmatchcase(source, pattern)), None
    )


# ---- columns that look like they wanted a mapping --------------------------------------------------


class Look(enum.Enum):
    """What a column that keeps its own name looks like, by its name and declared type."""

    EFFECTIVE_DATE = "an EffectiveDate"
    DATE = "a date"
    TIMESTAMP = "a timestamp"
    ID = "an id"


_EFFECTIVE_WORDS = frozenset({"eff", "effective", "effdt", "asof", "snapshot"})
_DATE_WORDS = frozenset({"date", "dt", "dte", "dob", "doj"})
_TIMESTAMP_WORDS = frozenset({"timestamp", "ts", "datetime"})  # not "time": Full Time is an attribute
_ID_WORDS = frozenset({"id", "nbr", "num", "no", "number", "uuid", "guid", "key"})


def look_of(source: str, *, declared_date: bool = False, declared_timestamp: bool = False) -> Look | None:
    """What `source` looks like: an EffectiveDate, another date, a timestamp, an id, or nothing.

    Args:
        source: the column's name.
        declared_date: the stream schema declares `format: date`.
        declared_timestamp: the stream schema declares `format: date-time`.
    """
    words = [word.casefold() for word in words_of(source)]
    dated = declared_date or declared_timestamp or bool(_DATE_WORDS & set(words))
    as_of = ("as", "of") in itertools.pairwise(words)
    effective = bool(_EFFECTIVE_WORDS & set(words)) or as_of
    # "Effective Salary" is no date: an effective word counts with a date word, or on its own.
    if effective and (dated or set(words) <= _EFFECTIVE_WORDS | {"as", "of"}):
        return Look.EFFECTIVE_DATE
    if declared_timestamp or _TIMESTAMP_WORDS & set(words) or (words[-1:] == ["at"] and len(words) > 1):
        return Look.TIMESTAMP
    if dated:
        return Look.DATE
    if words and words[-1] in _ID_WORDS:
        return Look.ID
    return None
