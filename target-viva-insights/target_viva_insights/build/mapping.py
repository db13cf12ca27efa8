"""From a stream's JSON Schema to data.csv columns (the metadata.json mapping is built from them in
`package.py`).

Any tap should load with no target configuration, so the mapping fits what taps commonly send and
says so in the log: Singer metadata columns (`_sdc_*`) and technical columns of the source system
(`id`, `updated_at`, a file name) are left out, common HR-system names are taken as Viva fields
(`names.py`), names that are not legal headers are written in Viva's name form (`Job Title` ->
`JobTitle`), and Viva fields with a type of their own that arrive as text are written with that type
(their values are then checked against it). A column that looks like a date, an id or a timestamp but
keeps its own name is a warning naming the mapping to use. The user's settings always win, and a
setting that names nothing in this stream is a warning, so one configuration survives a change of tap.
"""

from __future__ import annotations

import dataclasses
import enum
import fnmatch
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from target_viva_insights import rules
from target_viva_insights.build import names
from target_viva_insights.errors import ConfigurationError
from target_viva_insights.log_text import printable
from target_viva_insights.rules import DateOrder, ValueKind
from target_viva_insights.validation.report import MAX_ISSUES_PER_RULE, Issue, Rule, ValidationReport

logger = logging.getLogger(__name__)

# Columns a tap adds about the extraction itself (file, line, time...), not about a person.
SINGER_METADATA_PATTERN = "_sdc_*"


class SourceType(enum.Enum):
    """What the stream schema promises about a property's values."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATE_TIME = "date-time"
    JSON = "json"  # objects, arrays and untyped properties: written as JSON text


@dataclasses.dataclass(frozen=True)
class Column:
    """One data.csv column. The CSV header is the Viva field name, so it is always a legal header."""

    source: str
    field: str
    token: str
    source_type: SourceType
    nullable: bool = True
    structured: bool = False  # the schema declares objects or arrays (written as JSON text)

    @property
    def kind(self) -> ValueKind:
        return rules.kind_of_token(self.token)

    @property
    def typed_from_text(self) -> bool:
        """A field Viva reads as a date or number whose values arrive as text (CSV and report taps)."""
        return self.source_type is SourceType.STRING and self.kind in TYPED_KINDS


# Kinds whose text Viva parses: a text column written as one of them is checked value by value.
TYPED_KINDS = frozenset({ValueKind.DATE, ValueKind.INTEGER, ValueKind.DOUBLE})
# The token that writes each kind the way Viva reads it (dates: `rules.DATE_ORDER_TOKENS`).
_TOKEN_OF_KIND = {
    ValueKind.STRING: rules.STRING_TYPE,
    ValueKind.INTEGER: rules.INTEGER_TYPE,
    ValueKind.DOUBLE: rules.DOUBLE_TYPE,
    ValueKind.EMAIL: rules.EMAIL_TYPE,
}


@dataclasses.dataclass(frozen=True)
class Note:
    """What the mapping decided on its own, or a setting it could not apply: one log line."""

    level: int  # logging.INFO or logging.WARNING
    message: str


@dataclasses.dataclass(frozen=True)
class ColumnPlan:
    """The data.csv columns of a stream, the notes that explain how they were chosen, and the findings
    about columns for the validation report (technical columns left out, columns that look unmapped)."""

    columns: list[Column]
    notes: list[Note]
    findings: list[Issue] = dataclasses.field(default_factory=list)
    technical: list[str] = dataclasses.field(default_factory=list)  # declared, but left out by name


class MappingError(ConfigurationError):
    """The configuration and the stream schema cannot give a consistent mapping."""


def source_type_of(property_schema: Mapping[str, Any]) -> tuple[SourceType, bool]:
    """The value type a JSON Schema property declares, and whether it admits null."""
    if "anyOf" in property_schema or "oneOf" in property_schema:
        members = property_schema.get("anyOf") or property_schema.get("oneOf") or []
        non_null = [member for member in members if member.get("type") != "null"]
        nullable = len(non_null) < len(members)
        if not non_null:
            return SourceType.STRING, True
        kind, member_nullable = source_type_of(non_null[0])
        return kind, nullable or member_nullable
    declared = property_schema.get("type", [])
    types = [declared] if isinstance(declared, str) else list(declared)
    nullable = "null" in types or not types
    types = [name for name in types if name != "null"]
    fmt = property_schema.get("format")
    if "string" in types and fmt in ("date", "date-time"):
        return (SourceType.DATE if fmt == "date" else SourceType.DATE_TIME), nullable
    if len(types) != 1:
        # Several alternatives: text is the only lossless common form.
        return (SourceType.STRING if types else SourceType.JSON), nullable
    by_name = {
        "string": SourceType.STRING,
        "integer": SourceType.INTEGER,
        "number": SourceType.NUMBER,
        "boolean": SourceType.BOOLEAN,
    }
    return by_name.get(types[0], SourceType.JSON), nullable


def viva_field_name(source: str, column_mapping: Mapping[str, str]) -> str:
    """`column_mapping` wins; else the reserved Viva name the source name matches; else the name itself.

    Common HR-system names (`names.py`) are applied by `plan_columns`, which sees all columns at once.
    """
    if source in column_mapping:
        return column_mapping[source]
    return rules.RESERVED_BY_NORMALIZED_NAME.get(rules.normalized_name(source), source)


def default_token(field: str, source_type: SourceType, date_order: DateOrder) -> str:
    """The metadata.json type of a field that `field_types` does not name.

    A reserved Viva field gets Viva's type whenever the tap sends text or numbers (a CSV tap sends a
    date or a Layer as text): the values are then checked against that type. Other fields follow
    the stream schema.
    """
    if field in (rules.PERSON_ID, rules.MANAGER_ID):
        return rules.EMAIL_TYPE
    reserved = rules.RESERVED_FIELDS.get(field)
    if reserved is not None and source_type not in (SourceType.JSON, SourceType.BOOLEAN):
        if reserved is ValueKind.DATE:
            return date_order.type_token
        return _TOKEN_OF_KIND[reserved]
    if source_type in (SourceType.DATE, SourceType.DATE_TIME):
        return date_order.type_token
    if source_type is SourceType.INTEGER:
        return rules.INTEGER_TYPE
    if source_type is SourceType.NUMBER:
        return rules.DOUBLE_TYPE
    return rules.STRING_TYPE


def build_columns(
    schema: Mapping[str, Any],
    *,
    column_mapping: Mapping[str, str] | None = None,
    field_types: Mapping[str, str] | None = None,
    exclude_columns: Iterable[str] = (),
    date_order: DateOrder = rules.DEFAULT_DATE_ORDER,
    template_tokens: Mapping[str, str] | None = None,
) -> list[Column]:
    """The data.csv columns for a stream schema, in schema order, after the user's settings.

    Logs what `plan_columns` decided on its own (metadata left out, names matched, text typed) and
    the settings it could not apply; its findings are for the validation report (`plan_columns`).

    Args:
        schema: the stream's JSON Schema; each property becomes a column unless excluded, and Singer
            metadata properties (`_sdc_*`) and technical columns (`names.technical_kind`) only when
            `column_mapping` names them.
        column_mapping: source column -> Viva field name. Other columns whose names match a reserved
            Viva name (ignoring case, `_`, `-` and spaces) take that name; then common HR-system names
            (`names.py`) take the Viva field they stand for, if no other column has it; the others
            keep their names, in Viva's name form when they are not legal headers as they are.
        field_types: Viva field name -> metadata.json type token, instead of the token `default_token`
            gives.
        exclude_columns: source columns or glob patterns to leave out; one that matches nothing is a
            warning.
        date_order: the order of the dates written, which decides the date fields' type token.
        template_tokens: Viva field name -> token of the customer's Viva template
            (`metadata_template`), instead of our own guess (`default_token`).

    Returns:
        One Column per kept property, with its source name, Viva field name, type token and the type
        the schema declares.

    Raises:
        MappingError: two source columns map to the same Viva field, or a column that looks like the
            EffectiveDate keeps its own name while the stream has no EffectiveDate.
    """
    plan = plan_columns(
        schema,
        column_mapping=column_mapping,
        field_types=field_types,
        exclude_columns=exclude_columns,
        date_order=date_order,
        template_tokens=template_tokens,
    )
    for note in plan.notes:
        logger.log(note.level, "%s", note.message)
    return plan.columns


def plan_columns(
    schema: Mapping[str, Any],
    *,
    column_mapping: Mapping[str, str] | None = None,
    field_types: Mapping[str, str] | None = None,
    exclude_columns: Iterable[str] = (),
    date_order: DateOrder = rules.DEFAULT_DATE_ORDER,
    template_tokens: Mapping[str, str] | None = None,
) -> ColumnPlan:
    """The columns and the notes for the log, without logging (see `build_columns`)."""
    column_mapping = dict(column_mapping or {})
    field_types = field_types or {}
    properties: Mapping[str, Any] = schema.get("properties", {})
    notes = _unknown_setting_notes(properties, column_mapping, list(exclude_columns))
    kept, metadata, technical = _kept_sources(properties, column_mapping, list(exclude_columns))
    findings = [_technical_finding(source, kind) for source, kind in technical]
    if metadata:
        notes.append(
            Note(
                logging.INFO,
                f"Singer metadata columns left out of data.csv: {', '.join(metadata)} "
                "(map one with column_mapping to keep it).",
            )
        )
    fields = {source: viva_field_name(source, column_mapping) for source in kept}
    respelled = [s for s in kept if s not in column_mapping and fields[s] != s]
    if respelled:
        described = ", ".join(f"{source} -> {fields[source]}" for source in respelled)
        notes.append(Note(logging.INFO, f"Columns named like Viva fields in another spelling: {described}."))
    for match in names.synonym_matches(
        [source for source in kept if fields[source] == source and source not in column_mapping],
        taken_fields=fields.values(),
    ):
        fields[match.source] = match.field
        notes.append(Note(logging.INFO, match.describe()))
    unmapped = [
        source
        for source in kept
        if fields[source] == source and source not in column_mapping and source not in rules.RESERVED_FIELDS
    ]
    notes.extend(_apply_name_form(unmapped, fields))
    columns = []
    for source in kept:
        property_schema = properties[source]
        source_type, nullable = source_type_of(property_schema)
        field = fields[source]
        token = field_types.get(field) or (template_tokens or {}).get(field)
        if token:
            notes.extend(_unknown_token_notes(field, token, "field_types" if field in field_types else None))
        token = token or default_token(field, source_type, date_order)
        columns.append(Column(source, field, token, source_type, nullable, _is_structured(property_schema)))
    _reject_duplicate_fields(columns, column_mapping)
    findings.extend(_look_findings(columns, set(unmapped)))
    notes.extend(_type_notes(columns))
    return ColumnPlan(columns, notes, findings, [source for source, _ in technical])


def _apply_name_form(unmapped: list[str], fields: dict[str, str]) -> list[Note]:
    """Rewrite in `fields` the names that are not legal headers but are after the plain rule, and
    return the note that states the rule.

    Legal names are never rewritten: an attribute keeps the name it has in Viva from one run to the
    next."""
    renamed = []
    for source in unmapped:
        if rules.name_problem(source) is None:
            continue
        form = names.viva_name_form(source)
        if form is not None:
            fields[source] = form
            renamed.append(source)
    if not renamed:
        return []
    described = ", ".join(f"{source} -> {fields[source]}" for source in renamed)
    return [
        Note(
            logging.INFO,
            f"Column names that are not Viva names are written in Viva's name form "
            f"({names.NAME_FORM_RULE}): {described}. Set column_mapping to name one otherwise.",
        )
    ]


def _technical_finding(source: str, kind: names.TechnicalKind) -> Issue:
    keep = names.fix_snippet(mapping={source: names.viva_name_form(source) or source})
    return Issue(
        Rule.TECHNICAL_COLUMN,
        f"left out of data.csv: the name says it is {kind.value}, not an HR attribute; to keep it, "
        f"name it in column_mapping: {keep}",
        column=source,
    )


# What a column that keeps its own name could be instead: the Viva fields of its look.
_FIELDS_OF_LOOK = {
    names.Look.DATE: (rules.EFFECTIVE_DATE, "HireDate"),
    names.Look.ID: (rules.PERSON_ID, rules.MANAGER_ID),
    names.Look.TIMESTAMP: (),
}


def _look_findings(columns: list[Column], unmapped: set[str]) -> list[Issue]:
    """Warnings for unmapped columns that look like a date, a timestamp or an id; a stop for one that
    looks like the EffectiveDate while the stream has none."""
    taken = {column.field for column in columns}
    findings = []
    for column in columns:
        if column.source not in unmapped:
            continue
        look = names.look_of(
            column.source,
            declared_date=column.source_type is SourceType.DATE,
            declared_timestamp=column.source_type is SourceType.DATE_TIME,
        )
        if look is None:
            continue
        if look is names.Look.EFFECTIVE_DATE:
            if rules.EFFECTIVE_DATE not in taken:
                raise MappingError(
                    f"column '{column.source}' looks like the EffectiveDate, which the stream does not "
                    "have, but keeps its own name: its dates would go up as a custom attribute. Map it: "
                    + names.fix_snippet(mapping={column.source: rules.EFFECTIVE_DATE})
                )
            look = names.Look.DATE
        candidates = [field for field in _FIELDS_OF_LOOK[look] if field not in taken]
        keep = names.fix_snippet(mapping={column.source: column.field}, exclude=[column.source])
        instead = ""
        if candidates:
            instead = (
                f"if it holds Viva's {candidates[0]}, map it: "
                f"{names.fix_snippet(mapping={column.source: candidates[0]})}; "
            )
        findings.append(
            Issue(
                Rule.COLUMN_NOT_MAPPED,
                f"'{column.source}' looks like {look.value} but is not mapped: it goes up as the custom "
                f"attribute {column.field}; {instead}to keep it so, or to leave it out: {keep}",
                column=column.field,
            )
        )
    return findings


def _kept_sources(
    properties: Mapping[str, Any], column_mapping: Mapping[str, str], exclude_columns: list[str]
) -> tuple[list[str], list[str], list[tuple[str, names.TechnicalKind]]]:
    """Source columns to write, the Singer metadata columns left out and the technical columns left
    out (either kind is kept when column_mapping names it)."""
    kept, metadata, technical = [], [], []
    for source in properties:
        if any(fnmatch.fnmatchcase(source, pattern) for pattern in exclude_columns):
            continue
        if source in column_mapping:
            kept.append(source)
            continue
        if fnmatch.fnmatchcase(source, SINGER_METADATA_PATTERN):
            metadata.append(source)
            continue
        kind = names.technical_kind(source)
        if kind is not None and rules.RESERVED_BY_NORMALIZED_NAME.get(rules.normalized_name(source)) is None:
            technical.append((source, kind))
            continue
        kept.append(source)
    return kept, metadata, technical


def _unknown_setting_notes(
    properties: Mapping[str, Any], column_mapping: Mapping[str, str], exclude_columns: list[str]
) -> list[Note]:
    """Settings that name no column of this stream: warnings, since another tap may well have it."""
    notes = []
    unmatched = [
        pattern
        for pattern in exclude_columns
        if not any(fnmatch.fnmatchcase(source, pattern) for source in properties)
    ]
    if unmatched:
        notes.append(
            Note(logging.WARNING, f"exclude_columns: nothing in this stream matches {', '.join(unmatched)}.")
        )
    unmapped = [source for source in column_mapping if source not in properties]
    if unmapped:
        notes.append(
            Note(logging.WARNING, f"column_mapping: this stream has no column {', '.join(unmapped)}.")
        )
    return notes


def _unknown_token_notes(field: str, token: str, setting: str | None) -> list[Note]:
    """A type token someone typed (in field_types or the metadata template) that is not one we know:
    a warning naming the field and the token, since a typo would otherwise pass as text."""
    if token in rules.TYPE_TOKENS:
        return []
    where = setting or "metadata_template"
    known = ", ".join(sorted(rules.TYPE_TOKENS))
    return [
        Note(
            logging.WARNING,
            f"{where}: the type token {printable(token)} of field {printable(field)} is not a known token "
            f"(its values are judged as {rules.kind_of_token(token).value}); known: {known}.",
        )
    ]


def _is_structured(property_schema: Mapping[str, Any]) -> bool:
    members = property_schema.get("anyOf") or property_schema.get("oneOf") or [property_schema]
    for member in members:
        declared = member.get("type", [])
        types = [declared] if isinstance(declared, str) else list(declared)
        if "object" in types or "array" in types:
            return True
    return False


def _type_notes(columns: list[Column]) -> list[Note]:
    notes = []
    from_text = [column for column in columns if column.typed_from_text]
    if from_text:
        described = ", ".join(f"{column.field} ({column.token})" for column in from_text)
        notes.append(
            Note(
                logging.INFO,
                f"Text columns written with their Viva type: {described}; every value is checked "
                "against it (ISO dates are rewritten in the date order).",
            )
        )
    structured = [column.source for column in columns if column.structured]
    if structured:
        notes.append(
            Note(
                logging.WARNING,
                f"Columns holding objects or arrays are written as JSON text: {', '.join(structured)}. "
                "Flatten them (flattening_enabled: true), pick fields with a stream map, or leave "
                "them out with exclude_columns.",
            )
        )
    return notes


def _reject_duplicate_fields(columns: list[Column], column_mapping: Mapping[str, str]) -> None:
    sources_by_field: dict[str, list[str]] = {}
    for column in columns:
        sources_by_field.setdefault(column.field, []).append(column.source)
    clashes = {field: sources for field, sources in sources_by_field.items() if len(sources) > 1}
    if clashes:
        described = "; ".join(f"{field} <- {', '.join(sources)}" for field, sources in clashes.items())
        field, sources = next(iter(clashes.items()))
        # The column the user did not map, and that is not named exactly like the field, gives way.
        unsure = [source for source in sources if source not in column_mapping and source != field]
        other = (unsure or sources)[-1]
        rename = names.viva_name_form(other) or field
        if rename == field:
            rename = f"{field}2"
        raise MappingError(
            "Viva allows one source column per field, but several map to the same field: "
            f"{described}. Rename with column_mapping or drop with exclude_columns: "
            + names.fix_snippet(mapping={other: rename}, exclude=[other])
        )


# ---- after validation: what the findings mean for the mapping ---------------------------------------

_RULE_OF_KIND = {
    ValueKind.DATE: Rule.INVALID_DATE,
    ValueKind.INTEGER: Rule.INVALID_INTEGER,
    ValueKind.DOUBLE: Rule.INVALID_DOUBLE,
}
_WHAT_KIND_IS = {ValueKind.DATE: "dates", ValueKind.INTEGER: "whole numbers", ValueKind.DOUBLE: "numbers"}
_FIRST_ROWS_SHOWN = 5


def findings_notes(
    columns: Sequence[Column], report: ValidationReport, column_mapping: Mapping[str, str]
) -> list[Note]:
    """Log lines that tie the validation's findings to the mapping: a text column whose values did or
    did not all parse as their Viva type, and a missing required field with the columns that did
    arrive and the likely matches. Rows only, never values (those stay in the report file)."""
    notes = [_text_typing_note(column, report) for column in columns if column.typed_from_text]
    sources = [column.source for column in columns]
    for issue in report.errors:
        if issue.rule is not Rule.MISSING_REQUIRED_FIELD:
            continue
        field = next((name for name in rules.REQUIRED_FIELDS if f" {name} " in issue.message), None)
        if field is not None:
            notes.append(Note(logging.ERROR, names.missing_field_message(field, sources, column_mapping)))
    return notes


def _text_typing_note(column: Column, report: ValidationReport) -> Note:
    rule = _RULE_OF_KIND[column.kind]
    rows = sorted(
        issue.row
        for issue in report.issues
        if issue.rule is rule and issue.column == column.field and issue.row is not None
    )
    what = _WHAT_KIND_IS[column.kind]
    if not rows:
        return Note(
            logging.INFO,
            f"{column.field} arrived as text; every value is one of Viva's {what}: "
            f"written as {column.token}.",
        )
    capped = report.counts[(rule.severity, rule)] > MAX_ISSUES_PER_RULE
    plural = len(rows) > 1
    count = f"{len(rows)}{' or more' if capped else ''} value{'s are' if plural else ' is'}"
    shown = ", ".join(str(row) for row in rows[:_FIRST_ROWS_SHOWN])
    more = ", ..." if len(rows) > _FIRST_ROWS_SHOWN else ""
    return Note(
        logging.ERROR,
        f"{column.field} arrived as text: {count} not {what} (data.csv row{'s' if plural else ''} "
        f"{shown}{more}; the values are in the validation report). Correct them at the source, or "
        f"leave the column out: {names.fix_snippet(exclude=[column.source])}",
    )


# Findings about a column's name, which a setting fixes.
_NAME_RULES = frozenset(
    {
        Rule.HEADER_EMPTY,
        Rule.HEADER_CHARACTERS,
        Rule.HEADER_SYMBOL,
        Rule.SYSTEM_FIELD,
        Rule.MICROSOFT_NAME,
        Rule.RENAMED_FIELD,
        Rule.DUPLICATE_HEADER,
        Rule.DUPLICATE_FIELD,
        Rule.TOO_MANY_COLUMNS,
    }
)


def name_fix(issue: Issue, columns: Sequence[Column]) -> str | None:
    """The setting that fixes a finding about a column's name, as JSON to paste; None for other findings.

    The finding names the data.csv header (the Viva field); the setting names the tap's column."""
    if issue.rule not in _NAME_RULES:
        return None
    if issue.rule is Rule.TOO_MANY_COLUMNS:
        surplus = [column.source for column in columns[rules.MAX_COLUMNS :]]
        return names.fix_snippet(exclude=surplus) if surplus else None
    folded = (issue.column or "").casefold()
    matching = [column for column in columns if column.field.casefold() == folded]
    if not matching:
        return None
    column = matching[-1]  # of names that differ in case only, the later one gives way
    field = column.field
    if issue.rule is Rule.RENAMED_FIELD:
        rename = rules.RENAMED_FIELDS.get(field, field)
    elif issue.rule in (Rule.DUPLICATE_HEADER, Rule.DUPLICATE_FIELD):
        rename = f"{field}2"
    elif issue.rule in (Rule.SYSTEM_FIELD, Rule.MICROSOFT_NAME):
        base = names.viva_name_form(field.replace(rules.SYSTEM_PREFIX, "")) or "Attribute"
        rename = base if issue.rule is Rule.MICROSOFT_NAME else f"Hr{base}"
    else:
        rename = names.viva_name_form(field) or f"Attribute{columns.index(column) + 1}"
    return names.fix_snippet(mapping={column.source: rename}, exclude=[column.source])
