"""From a stream's JSON Schema to data.csv columns (the metadata.json mapping is built from them in
`package.py`)."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from typing import Any

from target_viva_insights import rules
from target_viva_insights.errors import ConfigurationError
from target_viva_insights.rules import DateOrder, ValueKind


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

    @property
    def kind(self) -> ValueKind:
        return rules.TYPE_TOKENS.get(self.token, ValueKind.STRING)


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
    """`column_mapping` wins; else the reserved Viva name the source name matches; else the name itself."""
    if source in column_mapping:
        return column_mapping[source]
    return rules.RESERVED_BY_NORMALIZED_NAME.get(rules.normalized_name(source), source)


def default_token(field: str, source_type: SourceType, date_order: DateOrder) -> str:
    if field in (rules.PERSON_ID, rules.MANAGER_ID):
        return rules.EMAIL_TYPE
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
) -> list[Column]:
    """The data.csv columns for a stream schema, in schema order, after the user's settings.

    Args:
        schema: the stream's JSON Schema; each property becomes a column unless excluded.
        column_mapping: source column -> Viva field name; unmapped columns whose names match a reserved
            Viva name (ignoring case, `_`, `-` and spaces) take that name, the others keep theirs.
        field_types: Viva field name -> metadata.json type token, instead of the token the schema
            type gives.
        exclude_columns: source columns to leave out.
        date_order: the order of the dates written, which decides the date fields' type token.

    Returns:
        One Column per kept property, with its source name, Viva field name, type token and the type
        the schema declares.

    Raises:
        MappingError: `column_mapping` or `exclude_columns` names a column the schema does not have,
            or two source columns map to the same Viva field.
    """
    column_mapping = column_mapping or {}
    field_types = field_types or {}
    excluded = set(exclude_columns)
    unknown = sorted((set(column_mapping) | excluded) - set(schema.get("properties", {})))
    if unknown:
        raise MappingError(
            f"column_mapping/exclude_columns name columns the stream does not have: {', '.join(unknown)}"
        )
    columns = []
    for source, property_schema in schema.get("properties", {}).items():
        if source in excluded:
            continue
        source_type, nullable = source_type_of(property_schema)
        field = viva_field_name(source, column_mapping)
        token = field_types.get(field) or default_token(field, source_type, date_order)
        columns.append(Column(source, field, token, source_type, nullable))
    _reject_duplicate_fields(columns)
    return columns


def _reject_duplicate_fields(columns: list[Column]) -> None:
    sources_by_field: dict[str, list[str]] = {}
    for column in columns:
        sources_by_field.setdefault(column.field, []).append(column.source)
    clashes = {field: sources for field, sources in sources_by_field.items() if len(sources) > 1}
    if clashes:
        described = "; ".join(f"{field} <- {', '.join(sources)}" for field, sources in clashes.items())
        raise MappingError(
            "Viva allows one source column per field, but several map to the same field: "
            f"{described}. Rename with column_mapping or drop with exclude_columns."
        )
