"""data.csv's columns as Microsoft 365 attributes, and their values as the admin center reads them.

The target writes data.csv with Viva's field names (`mapping.py`, `names.py`: `column_mapping`, the
reserved-name match and the HR-system synonyms have already run). Here each of those fields takes the
name of its attribute on Microsoft's page "Organizational data in Microsoft 365 attributes": a legacy Viva
field (PersonId -> Microsoft_PersonEmail, FunctionType -> Microsoft_JobDiscipline, ...), or a column named
like one of the page's own attributes in any spelling (`first_name` -> Microsoft_FirstName). Every other
column is a custom attribute under its own name, and a name the user gave with `column_mapping` is kept
exactly as given (it is what the admin mapped in the admin center), unless it is a legacy Viva field name,
which stands for its Microsoft attribute. EffectiveDate is not a column of this file: each upload
describes people as they are now.

Values: dates MM/DD/YYYY whatever data.csv's date order, numbers without thousands separators or a
currency sign, and the SupervisorIndicator words Microsoft defines (IC, Mngr, Mngr+).
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Iterable, Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from target_viva_insights import rules
from target_viva_insights.dates import viva_date_days
from target_viva_insights.rules import DateOrder, ValueKind

PREFIX = "Microsoft_"
PERSON_EMAIL = "Microsoft_PersonEmail"
MANAGER_EMAIL = "Microsoft_ManagerEmail"
ORGANIZATION = "Microsoft_Organization"
LAYER = "Microsoft_Layer"
HOURLY_RATE = "Microsoft_HourlyRate"
HIRE_DATE = "Microsoft_HireDate"
SUPERVISOR_INDICATOR = "Microsoft_SupervisorIndicator"
GLINT_EMPLOYMENT_STATUS = "Microsoft_GlintEmploymentStatus"
FIRST_NAME = "Microsoft_FirstName"
LAST_NAME = "Microsoft_LastName"
DISPLAY_NAME = "Microsoft_DisplayName"
NAME_GROUP = (FIRST_NAME, LAST_NAME, DISPLAY_NAME)

# Cell values with a meaning of their own in an upload: a blank cell keeps what the tenant holds.
DELETE_TOKEN = "''"  # noqa: S105 - a cell value, not a secret
LAYER_DELETE_TOKEN = "-1"  # noqa: S105 - a cell value, not a secret

# The attributes of Microsoft's page and the kind of their values.
ATTRIBUTES: dict[str, ValueKind] = {
    PERSON_EMAIL: ValueKind.EMAIL,
    MANAGER_EMAIL: ValueKind.EMAIL,
    ORGANIZATION: ValueKind.STRING,
    "Microsoft_LevelDesignation": ValueKind.STRING,
    "Microsoft_JobDiscipline": ValueKind.STRING,
    LAYER: ValueKind.INTEGER,
    HIRE_DATE: ValueKind.DATE,
    HOURLY_RATE: ValueKind.DOUBLE,
    SUPERVISOR_INDICATOR: ValueKind.STRING,
    "Microsoft_CompanyOfficeLocation": ValueKind.STRING,
    "Microsoft_OfficeStreet": ValueKind.STRING,
    "Microsoft_OfficeCity": ValueKind.STRING,
    "Microsoft_OfficeState": ValueKind.STRING,
    "Microsoft_OfficeCountryOrRegion": ValueKind.STRING,
    "Microsoft_OfficePostalCode": ValueKind.STRING,
    "Microsoft_PostOfficeBox": ValueKind.STRING,
    FIRST_NAME: ValueKind.STRING,
    LAST_NAME: ValueKind.STRING,
    DISPLAY_NAME: ValueKind.STRING,
    "Microsoft_JobTitle": ValueKind.STRING,
    "Microsoft_SecondaryJobTitle": ValueKind.STRING,
    "Microsoft_Company": ValueKind.STRING,
    "Microsoft_CompanyCode": ValueKind.STRING,
    "Microsoft_UserSkillNames": ValueKind.STRING,
    GLINT_EMPLOYMENT_STATUS: ValueKind.STRING,
    "Microsoft_DotLineManagersEmailAndLabel": ValueKind.STRING,
    "Microsoft_AssistantsEmail": ValueKind.STRING,
}

# Legacy Viva field -> attribute, where the names differ by more than the prefix.
LEGACY_FIELDS: dict[str, str] = {
    rules.PERSON_ID: PERSON_EMAIL,
    rules.MANAGER_ID: MANAGER_EMAIL,
    rules.ORGANIZATION: ORGANIZATION,
    "LevelDesignation": "Microsoft_LevelDesignation",
    "FunctionType": "Microsoft_JobDiscipline",
    "Layer": LAYER,
    "HireDate": HIRE_DATE,
    "HourlyRate": HOURLY_RATE,
    rules.SUPERVISOR_INDICATOR: SUPERVISOR_INDICATOR,
    # Viva reads Location as the person's office; the attribute page lists it with the office fields.
    "Location": "Microsoft_CompanyOfficeLocation",
}
# Attributes a column may name without the prefix (`first_name`, `JobTitle`): the ones the page lists
# beside the legacy fields, with no Viva field of their own.
_SHORT_NAMES = (
    FIRST_NAME,
    LAST_NAME,
    DISPLAY_NAME,
    "Microsoft_JobTitle",
    "Microsoft_SecondaryJobTitle",
    "Microsoft_Company",
    "Microsoft_CompanyCode",
    "Microsoft_CompanyOfficeLocation",
    "Microsoft_OfficeStreet",
    "Microsoft_OfficeCity",
    "Microsoft_OfficeState",
    "Microsoft_OfficeCountryOrRegion",
    "Microsoft_OfficePostalCode",
    "Microsoft_PostOfficeBox",
    "Microsoft_UserSkillNames",
    GLINT_EMPLOYMENT_STATUS,
)
_BY_NORMALIZED_NAME: dict[str, str] = {
    **{rules.normalized_name(name): name for name in ATTRIBUTES},
    **{rules.normalized_name(name.removeprefix(PREFIX)): name for name in _SHORT_NAMES},
    **{rules.normalized_name(field): name for field, name in LEGACY_FIELDS.items()},
}


class SupervisorLevel(str, enum.Enum):
    """Microsoft_SupervisorIndicator's values."""

    IC = "IC"
    MNGR = "Mngr"
    MNGR_PLUS = "Mngr+"


class GlintEmploymentStatus(str, enum.Enum):
    """Microsoft_GlintEmploymentStatus's values."""

    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"


# Words HR systems use for the three levels, compared after `_folded` (case, spaces, `_` and `-` ignored).
SUPERVISOR_SYNONYMS: dict[str, SupervisorLevel] = {
    "ic": SupervisorLevel.IC,
    "individualcontributor": SupervisorLevel.IC,
    "nonmanager": SupervisorLevel.IC,
    "mngr": SupervisorLevel.MNGR,
    "mgr": SupervisorLevel.MNGR,
    "manager": SupervisorLevel.MNGR,
    "peoplemanager": SupervisorLevel.MNGR,
    "mngr+": SupervisorLevel.MNGR_PLUS,
    "mgr+": SupervisorLevel.MNGR_PLUS,
    "manager+": SupervisorLevel.MNGR_PLUS,
    "managerofmanagers": SupervisorLevel.MNGR_PLUS,
}


def _folded(value: str) -> str:
    return rules.normalized_name(value)


@dataclasses.dataclass(frozen=True)
class M365Column:
    """One column of the upload: the data.csv field it comes from, its header and its values' kind."""

    field: str
    name: str
    kind: ValueKind

    @property
    def is_attribute(self) -> bool:
        """One of Microsoft's attributes (else a custom attribute)."""
        return self.name in ATTRIBUTES

    @property
    def delete_token(self) -> str:
        return LAYER_DELETE_TOKEN if self.name == LAYER else DELETE_TOKEN


@dataclasses.dataclass(frozen=True)
class M365Plan:
    """The upload's columns, in data.csv's order, and log lines that say what was decided."""

    columns: list[M365Column]
    notes: list[tuple[int, str]]

    @property
    def header(self) -> list[str]:
        return [column.name for column in self.columns]

    def header_csv(self) -> bytes:
        """The header-only CSV the admin uploads once in the admin center to map the columns."""
        return (",".join(self.header) + "\n").encode("utf-8")


def attribute_name(field: str, column_mapping: Mapping[str, str] | None = None) -> str:
    """The upload header of a data.csv field (see the module's docstring for the order of the rules)."""
    if field.startswith(PREFIX):
        return field
    if field in LEGACY_FIELDS:
        return LEGACY_FIELDS[field]
    if field in (column_mapping or {}).values():
        return field
    return _BY_NORMALIZED_NAME.get(rules.normalized_name(field), field)


def supervisor_levels(values: Iterable[str | None]) -> dict[str, SupervisorLevel] | None:
    """Each distinct non-blank value -> Microsoft's level, or None when one of them is not a known word."""
    levels: dict[str, SupervisorLevel] = {}
    for value in values:
        if value is None or not value.strip():
            continue
        level = SUPERVISOR_SYNONYMS.get(_folded(value))
        if level is None:
            return None
        levels[value] = level
    return levels


def plan_columns(
    fields: Mapping[str, ValueKind],
    *,
    column_mapping: Mapping[str, str] | None = None,
    supervisor_values: Iterable[str | None] = (),
) -> M365Plan:
    """The upload's columns for data.csv's fields.

    Args:
        fields: data.csv's header -> the kind of its values (the metadata.json type's kind), in file order.
        column_mapping: the target's setting; a name it gives that is not a legacy Viva field is kept.
        supervisor_values: the distinct values of data.csv's SupervisorIndicator: the column becomes
            Microsoft_SupervisorIndicator only when each is one of Microsoft's levels or a known word for
            one; otherwise it goes as the custom attribute SupervisorIndicator.

    Returns:
        The columns (EffectiveDate left out) and the notes for the log.

    Raises:
        ValueError: two fields take the same header.
    """
    columns: list[M365Column] = []
    notes: list[tuple[int, str]] = []
    for field, kind in fields.items():
        if field == rules.EFFECTIVE_DATE:
            continue
        name = attribute_name(field, column_mapping)
        if name == SUPERVISOR_INDICATOR and field == rules.SUPERVISOR_INDICATOR:
            name, note = _supervisor_column(supervisor_values)
            notes.append(note)
        columns.append(M365Column(field, name, ATTRIBUTES.get(name, kind)))
    renamed = [f"{column.field} -> {column.name}" for column in columns if column.field != column.name]
    if renamed:
        notes.append((logging.INFO, f"Microsoft 365 attribute names: {', '.join(renamed)}."))
    custom = [column.name for column in columns if not column.is_attribute]
    if custom:
        notes.append((logging.INFO, f"Custom attributes (their own names): {', '.join(custom)}."))
    _reject_duplicates(columns)
    return M365Plan(columns, notes)


def _supervisor_column(values: Iterable[str | None]) -> tuple[str, tuple[int, str]]:
    levels = supervisor_levels(values)
    if levels is None:
        return rules.SUPERVISOR_INDICATOR, (
            logging.WARNING,
            "SupervisorIndicator holds values other than IC, Mngr and Mngr+ (or a known word for one: "
            f"{', '.join(sorted(SUPERVISOR_SYNONYMS))}): sent as the custom attribute SupervisorIndicator, "
            "not as Microsoft_SupervisorIndicator.",
        )
    rewritten = sorted(
        {f"{value} -> {level.value}" for value, level in levels.items() if value != level.value}
    )
    stated = f"; values rewritten: {', '.join(rewritten)}" if rewritten else ""
    return SUPERVISOR_INDICATOR, (logging.INFO, f"SupervisorIndicator -> {SUPERVISOR_INDICATOR}{stated}.")


def _reject_duplicates(columns: Sequence[M365Column]) -> None:
    by_name: dict[str, list[str]] = {}
    for column in columns:
        by_name.setdefault(column.name, []).append(column.field)
    clashes = {name: fields for name, fields in by_name.items() if len(fields) > 1}
    if clashes:
        described = "; ".join(f"{name} <- {', '.join(fields)}" for name, fields in clashes.items())
        raise ValueError(
            f"several columns take the same Microsoft 365 header: {described}; rename one with column_mapping"
        )


# ---- values ----------------------------------------------------------------------------------------

# A number written with thousands separators or a currency sign: `$1,250.50`, `-$12`, `1,000`.
_DECORATED_NUMBER = r"^(-?)\$?(-?)([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(\.[0-9]*)?$"


def formatted_values(values: pa.Array, column: M365Column, date_order: DateOrder) -> pa.Array:
    """A column's data.csv text as the upload writes it; blank (null or empty) stays null.

    Dates that read as dates in `date_order` become MM/DD/YYYY, numbers lose `,` and `$`, the
    SupervisorIndicator words become Microsoft's levels; anything else is left as it is, for the
    rules (`destinations/m365/rules.py`) to judge.
    """
    if pa.types.is_dictionary(values.type):
        values = pc.cast(values, pa.string())
    text = pc.if_else(pc.equal(pc.utf8_trim_whitespace(values), ""), pa.scalar(None, pa.string()), values)
    if column.kind is ValueKind.DATE:
        return mdy_dates(text, date_order)
    if column.kind in (ValueKind.DOUBLE, ValueKind.INTEGER):
        return plain_numbers(text)
    if column.name == SUPERVISOR_INDICATOR:
        return _supervisor_values(text)
    return text


def mdy_dates(text: pa.Array, date_order: DateOrder) -> pa.Array:
    """Dates in `date_order` as MM/DD/YYYY; text that is not such a date is left as it is."""
    days = viva_date_days(text, date_order)
    written = pc.strftime(pc.cast(days, pa.timestamp("s")), format="%m/%d/%Y")
    return pc.if_else(pc.is_valid(days), written, text)


def plain_numbers(text: pa.Array) -> pa.Array:
    """Numbers without thousands separators or a dollar sign (`$1,250.50` -> `1250.50`)."""
    decorated = pc.fill_null(pc.match_substring_regex(text, r"[$,]"), False)
    if not pc.any(decorated).as_py():
        return text
    stripped = pc.replace_substring_regex(text, _DECORATED_NUMBER, r"\1\2\3\4")
    plain = pc.replace_substring(stripped, ",", "")
    fits = pc.fill_null(pc.match_substring_regex(text, _DECORATED_NUMBER), False)
    return pc.if_else(fits, plain, text)


def _supervisor_values(text: pa.Array) -> pa.Array:
    distinct = pc.unique(text).to_pylist()
    levels = supervisor_levels(distinct) or {}
    if all(value == level.value for value, level in levels.items()):
        return text
    words = pa.array(list(levels), pa.string())
    rewritten = pa.array([level.value for level in levels.values()], pa.string())
    at = pc.index_in(text, value_set=words)
    return pc.if_else(pc.is_valid(at), pc.take(rewritten, at), text)
