"""What a tap's column names most likely mean in Viva: HR-system synonyms and near misses.

Taps name the same thing differently: a database table says `work_email`, a Workday report
`Email_-_Primary_Work`, a spreadsheet export `Work Email`. Names are compared after
`rules.normalized_name` (case, spaces, `_` and `-` ignored), so each synonym below covers all of
its spellings. Names that differ from a Viva field only in spelling (`hire_date`, `person_id`) need no entry:
`rules.RESERVED_BY_NORMALIZED_NAME` matches them. Only unambiguous names are listed: `employee_id` is
usually a number, not the address Viva's PersonId is, and `start_date` would collide with Viva's
system field StartDate.
"""

from __future__ import annotations

import dataclasses
import difflib
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
    ),
    rules.EFFECTIVE_DATE: (
        "effective_from",
        "as_of_date",
        "snapshot_date",
        "valid_from",
    ),
    "HireDate": (
        "original_hire_date",
        "date_of_hire",
        "hired_on",
    ),
    "FunctionType": (
        "function",
        "job_function",
        "job_family",
        "job_family_group",
    ),
    "LevelDesignation": (
        "level",
        "job_level",
        "management_level",  # Workday
        "career_level",
        "grade",
        "job_grade",
    ),
    "Layer": (
        "management_layer",
        "org_layer",
    ),
    "SupervisorIndicator": ("manager_indicator",),
    "Location": (
        "work_location",
        "office_location",
        "office",
        "site",
    ),
    "CountryOrRegion": (
        "country",
        "country_region",
        "country_name",
        "work_country",
    ),
    "HourlyRate": (
        "hourly_pay_rate",
        "hourly_wage",
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
        example = f"{{{matches[0]}: {field}}}"
        message += f" Likely matches: {', '.join(matches)} (set column_mapping, e.g. {example})."
    elif field in column_mapping.values():
        message += " column_mapping maps a column onto it that the stream does not have."
    else:
        message += f" Map the column that holds it with column_mapping: {{<column>: {field}}}."
    return message
