"""Viva's documented data rules, checked offline on the text of data.csv.

One validator serves the target's pre-flight (fed the formatted batches it writes), the
`viva-insights validate` command and the emulator (both fed an existing zip through
`validate_package`), so every path judges the same text with the same rules from `rules.py`.
All per-cell checks are pyarrow.compute expressions over whole columns.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from target_viva_insights import rules
from target_viva_insights.hierarchy import Hierarchy
from target_viva_insights.report import MAX_ISSUES_PER_RULE, Issue, Severity, ValidationReport
from target_viva_insights.rules import ValueKind

DATA_FILE = "data.csv"
METADATA_FILE = "metadata.json"
READ_BLOCK_BYTES = 8 << 20
SHOWN_VALUE_CHARS = 200
# Below this head count every attribute looks unique per person; the warning would be noise.
MIN_PEOPLE_FOR_UNIQUENESS_WARNING = 10

VALUE_PATTERNS = {
    ValueKind.EMAIL: (rules.EMAIL_PATTERN, "not a valid email address"),
    ValueKind.INTEGER: (rules.INTEGER_PATTERN, "not a valid integer (digits only)"),
    ValueKind.DOUBLE: (rules.DOUBLE_PATTERN, "not a valid number (plain decimal like 23.75, no separators)"),
}


@dataclasses.dataclass(frozen=True)
class CsvField:
    """A data.csv column as metadata.json maps it."""

    header: str
    name: str
    token: str

    @property
    def kind(self) -> ValueKind:
        return rules.TYPE_TOKENS.get(self.token, ValueKind.STRING)


class DataValidator:
    """Checks header and mapping at once, each batch of rows as it comes, the whole org at the end."""

    def __init__(
        self, fields: Sequence[CsvField], *, date_order: str, is_bootstrap: bool, source: str = DATA_FILE
    ) -> None:
        self.fields = list(fields)
        self.date_order = date_order
        self.is_bootstrap = is_bootstrap
        self.report = ValidationReport(source)
        self._by_name = {field.name: field for field in self.fields}
        self._check_layout()
        has_person = rules.PERSON_ID in self._by_name and rules.EFFECTIVE_DATE in self._by_name
        self._hierarchy = Hierarchy(has_manager=rules.MANAGER_ID in self._by_name) if has_person else None
        self._value_range: dict[str, tuple[str, str] | None] = {field.header: None for field in self.fields}
        # Only group attributes (text) are judged for too many distinct values; ids and numbers may be unique.
        self._distinct: dict[str, pa.Array] = {
            field.header: pa.array([], pa.string()) for field in self.fields if field.kind is ValueKind.STRING
        }

    @property
    def required_fields(self) -> tuple[str, ...]:
        """A full import needs the four required fields; an incremental one PersonId and EffectiveDate."""
        if self.is_bootstrap:
            return rules.REQUIRED_FIELDS
        return (rules.PERSON_ID, rules.EFFECTIVE_DATE)

    # -- header and mapping --------------------------------------------------------------------------

    def _check_layout(self) -> None:
        if len(self.fields) > rules.MAX_COLUMNS:
            self._error(
                "too-many-columns", f"{len(self.fields)} columns; Viva accepts at most {rules.MAX_COLUMNS}"
            )
        self._check_unique([field.header for field in self.fields], "duplicate-header", "header")
        self._check_unique([field.name for field in self.fields], "duplicate-field", "Viva field")
        for field in self.fields:
            for label, name in (("header", field.header), ("field name", field.name)):
                problem = rules.header_problem(name)
                if problem:
                    self._error(
                        "illegal-name", f"illegal {label}: {problem}", column=field.header, value=name
                    )
            if field.token not in rules.TYPE_TOKENS:
                self._error(
                    "unknown-type",
                    f"unknown type token; known: {', '.join(rules.TYPE_TOKENS)}",
                    column=field.header,
                    value=field.token,
                )
            self._check_reserved_type(field)
        for required in self.required_fields:
            if required not in self._by_name:
                self._error("missing-required-field", f"the required field {required} is not in the data")

    def _check_unique(self, names: list[str], rule: str, label: str) -> None:
        seen: set[str] = set()
        for name in names:
            if name in seen:
                self._error(rule, f"{label} appears more than once", column=name, value=name)
            seen.add(name)

    def _check_reserved_type(self, field: CsvField) -> None:
        expected = rules.RESERVED_FIELDS.get(field.name)
        if expected is None or field.kind is expected or field.token not in rules.TYPE_TOKENS:
            return
        self._error(
            "reserved-field-type",
            f"Viva's {field.name} holds {expected.value} values but is mapped as {field.token}; "
            "declare the type in the tap's schema or set field_types",
            column=field.header,
            value=field.token,
        )

    # -- rows ------------------------------------------------------------------------------------------

    def add_batch(self, table: pa.Table, first_row: int) -> None:
        """Check one batch of text columns (named by header, in header order); `first_row` is its CSV line."""
        self.report.rows_checked += table.num_rows
        days = None
        for field, column in zip(self.fields, table.columns, strict=True):
            values = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
            blank = _blank(values)
            self._check_text(field, values, first_row)
            if field.name in self.required_fields and field.name != rules.MANAGER_ID:
                self._report_rows(
                    "blank-required",
                    f"{field.name} is required on every row",
                    field,
                    values,
                    blank,
                    first_row,
                )
            self._check_kind(field, values, blank, first_row)
            if field.name == rules.EFFECTIVE_DATE:
                days = viva_date_days(values, self.date_order)
            self._track_values(field, values, blank)
        if self._hierarchy is not None:
            self._hierarchy.add(
                _nulled(self._column(table, rules.PERSON_ID)),
                _nulled(self._column(table, rules.MANAGER_ID)),
                days if days is not None else pa.nulls(table.num_rows, pa.date32()),
                first_row,
            )

    def _column(self, table: pa.Table, name: str) -> pa.Array | None:
        field = self._by_name.get(name)
        if field is None:
            return None
        return table.column(self.fields.index(field)).combine_chunks()

    def _check_text(self, field: CsvField, values: pa.Array, first_row: int) -> None:
        has_newline = pc.fill_null(pc.match_substring_regex(values, r"[\r\n]"), False)
        self._report_rows(
            "newline", "values may not contain line breaks", field, values, has_newline, first_row
        )
        too_long = pc.fill_null(pc.greater(pc.binary_length(values), rules.MAX_VALUE_BYTES), False)
        self._report_rows(
            "value-too-long",
            f"value longer than {rules.MAX_VALUE_BYTES} bytes",
            field,
            values,
            too_long,
            first_row,
        )

    def _check_kind(self, field: CsvField, values: pa.Array, blank: pa.Array, first_row: int) -> None:
        if field.kind is ValueKind.DATE:
            valid = pc.is_valid(viva_date_days(values, self.date_order))
            expected = "MM/DD/YYYY" if self.date_order == "MDY" else "DD/MM/YYYY"
            message = f"not a valid date; expected {expected}"
        elif field.kind in VALUE_PATTERNS:
            pattern, message = VALUE_PATTERNS[field.kind]
            valid = pc.fill_null(pc.match_substring_regex(values, pattern), False)
        else:
            return
        invalid = pc.and_(pc.invert(blank), pc.invert(valid))
        self._report_rows(f"invalid-{field.kind.value}", message, field, values, invalid, first_row)

    def _track_values(self, field: CsvField, values: pa.Array, blank: pa.Array) -> None:
        """Remember enough to tell single-valued columns and columns with one value per person."""
        present = pc.filter(values, pc.invert(blank))
        if len(present) == 0:
            return
        low_high = pc.min_max(present)
        low, high = low_high["min"].as_py(), low_high["max"].as_py()
        known = self._value_range[field.header]
        self._value_range[field.header] = (
            (low, high) if known is None else (min(known[0], low), max(known[1], high))
        )
        if field.header in self._distinct:
            merged = pc.unique(pa.concat_arrays([self._distinct[field.header], pc.unique(present)]))
            self._distinct[field.header] = merged

    # -- the end ---------------------------------------------------------------------------------------

    def finish(self) -> ValidationReport:
        if self._hierarchy is not None:
            self._hierarchy.judge(self.report)
            self._warn_uninformative_columns(self._hierarchy.person_count())
        if self.report.rows_checked == 0:
            self._error("empty-file", "data.csv has no rows")
        return self.report

    def _warn_uninformative_columns(self, persons: int) -> None:
        if self.report.rows_checked < 2:
            return
        for field in self.fields:
            value_range = self._value_range[field.header]
            if value_range is not None and value_range[0] == value_range[1]:
                self.report.add(
                    Issue(
                        Severity.WARNING,
                        "single-value-column",
                        "every row has the same value: the attribute cannot tell groups apart",
                        column=field.header,
                        value=value_range[0],
                    )
                )
        if persons < MIN_PEOPLE_FOR_UNIQUENESS_WARNING:
            return
        for header, distinct in self._distinct.items():
            if len(distinct) == persons:
                self.report.add(
                    Issue(
                        Severity.WARNING,
                        "value-per-person",
                        f"{persons} distinct values for {persons} people: an identifier, not a group "
                        "attribute (Viva cannot report on groups of one)",
                        column=header,
                    )
                )

    # -- reporting helpers -----------------------------------------------------------------------------

    def _error(self, rule: str, message: str, *, column: str | None = None, value: str | None = None) -> None:
        self.report.add(Issue(Severity.ERROR, rule, message, column=column, value=value))

    def _report_rows(
        self, rule: str, message: str, field: CsvField, values: pa.Array, mask: pa.Array, first_row: int
    ) -> None:
        if not pc.any(mask).as_py():
            return
        positions = pc.indices_nonzero(mask)
        total = len(positions)
        shown = positions.slice(0, MAX_ISSUES_PER_RULE)
        texts = pc.take(values, shown).to_pylist()
        sample = [
            Issue(
                Severity.ERROR,
                rule,
                message,
                row=first_row + int(position),
                column=field.header,
                value=_shown(text),
            )
            for position, text in zip(shown.to_pylist(), texts, strict=True)
        ]
        self.report.add_found(total, sample)


def _blank(values: pa.Array) -> pa.Array:
    return pc.fill_null(pc.equal(pc.utf8_trim_whitespace(values), ""), True)


def _nulled(values: pa.Array | None) -> pa.Array | None:
    """Blank cells as nulls, so they code as 'no address'."""
    if values is None:
        return None
    return pc.if_else(_blank(values), pa.scalar(None, pa.string()), values)


def _shown(text: str | None) -> str | None:
    if text is None or len(text) <= SHOWN_VALUE_CHARS:
        return text
    return text[:SHOWN_VALUE_CHARS] + "…"


def viva_date_days(values: pa.Array, date_order: str) -> pa.Array:
    """date32 for text in Viva's date format for `date_order` (text after the date ignored), else null."""
    parts = pc.extract_regex(values, rules.DATE_PATTERNS[date_order])
    year, month, day = (pc.struct_field(parts, name) for name in ("year", "month", "day"))
    iso = pc.binary_join_element_wise(year, pc.utf8_lpad(month, 2, "0"), pc.utf8_lpad(day, 2, "0"), "-")
    parsed = pc.strptime(iso, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls impossible days over (02/30 becomes March 1st); a real date prints back unchanged.
    real = pc.fill_null(pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), iso), False)
    return pc.if_else(real, pc.cast(parsed, pa.date32()), pa.scalar(None, pa.date32()))


# -- existing packages (the `validate` command and the emulator) -----------------------------------------


class PackageError(ValueError):
    """The zip itself is not a Viva package (wrong files, unreadable metadata)."""


def validate_package(zip_path: Path, date_order: str | None = None) -> ValidationReport:
    """Validate a Viva HR package: zip layout, metadata.json, header and every row of data.csv."""
    source = f"{Path(zip_path).name}"
    try:
        with zipfile.ZipFile(zip_path) as archive:
            _check_members(archive)
            metadata = _read_metadata(archive)
            fields, is_bootstrap = _fields_from_metadata(metadata)
            order = date_order or _date_order_of(fields)
            with archive.open(DATA_FILE) as data:
                return _validate_data_csv(data, fields, order, is_bootstrap, source)
    except (PackageError, zipfile.BadZipFile) as exc:
        report = ValidationReport(source)
        report.add(Issue(Severity.ERROR, "package", str(exc)))
        return report


def _check_members(archive: zipfile.ZipFile) -> None:
    names = sorted(info.filename for info in archive.infolist() if not info.is_dir())
    if names != sorted([DATA_FILE, METADATA_FILE]):
        raise PackageError(
            f"the zip must hold exactly {DATA_FILE} and {METADATA_FILE} at its root; it holds: "
            f"{', '.join(names) or 'nothing'}"
        )
    for name in names:
        if archive.getinfo(name).file_size == 0:
            raise PackageError(f"{name} is empty")


def _read_metadata(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        metadata = json.loads(archive.read(METADATA_FILE).decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackageError(f"{METADATA_FILE} is not valid UTF-8 JSON: {exc}") from exc
    if not isinstance(metadata, dict):
        raise PackageError(f"{METADATA_FILE} must hold a JSON object")
    if metadata.get("DatasetType") != "HR":
        raise PackageError(f'{METADATA_FILE}: "DatasetType" must be "HR"')
    if metadata.get("IsBootstrap") not in ("true", "false"):
        raise PackageError(f'{METADATA_FILE}: "IsBootstrap" must be the string "true" or "false"')
    if not isinstance(metadata.get("Mapping"), dict) or not metadata["Mapping"]:
        raise PackageError(f'{METADATA_FILE}: "Mapping" must be a non-empty object')
    return metadata


def _fields_from_metadata(metadata: dict[str, Any]) -> tuple[list[CsvField], bool]:
    fields = []
    for header, target in metadata["Mapping"].items():
        if not isinstance(target, dict) or not target.get("name") or not target.get("type"):
            raise PackageError(
                f'{METADATA_FILE}: the mapping of column "{header}" needs a "name" and a "type"'
            )
        fields.append(CsvField(header, str(target["name"]), str(target["type"])))
    return fields, metadata["IsBootstrap"] == "true"


def _date_order_of(fields: list[CsvField]) -> str:
    orders = {
        rules.DATE_TOKEN_ORDER[field.token] for field in fields if field.token in rules.DATE_TOKEN_ORDER
    }
    if len(orders) > 1:
        raise PackageError("metadata.json mixes MM/DD/YYYY and DD/MM/YYYY date types")
    return orders.pop() if orders else "MDY"


def validate_data_csv(
    path: Path, fields: list[CsvField], *, date_order: str, is_bootstrap: bool
) -> ValidationReport:
    """Validate a data.csv file on disk whose columns `fields` describe."""
    with path.open("rb") as data:
        return _validate_data_csv(data, fields, date_order, is_bootstrap, DATA_FILE)


def _validate_data_csv(
    data: Any, fields: list[CsvField], date_order: str, is_bootstrap: bool, source: str
) -> ValidationReport:
    header = _read_header(data)
    mapped = [field.header for field in fields]
    if header != mapped:
        raise PackageError(
            f"the {DATA_FILE} header ({', '.join(header)}) does not match the columns mapped in "
            f"{METADATA_FILE} ({', '.join(mapped)}): same names, same order, one entry per column"
        )
    by_header = {field.header: field for field in fields}
    validator = DataValidator(
        [by_header[name] for name in header], date_order=date_order, is_bootstrap=is_bootstrap, source=source
    )
    read_options = pacsv.ReadOptions(column_names=header, skip_rows=0, block_size=READ_BLOCK_BYTES)
    convert_options = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    next_row = 2
    try:
        reader = pacsv.open_csv(data, read_options=read_options, convert_options=convert_options)
        for batch in reader:
            validator.add_batch(pa.Table.from_batches([batch]), next_row)
            next_row += batch.num_rows
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        validator.report.add(
            Issue(
                Severity.ERROR,
                "unreadable-csv",
                f"{DATA_FILE} cannot be read after row {next_row - 1}: {exc}",
            )
        )
    return validator.finish()


def _read_header(data: Any) -> list[str]:
    """The first line of data.csv as column names; leaves `data` positioned at the first row."""
    first = data.readline()
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PackageError(f"the {DATA_FILE} header is not UTF-8") from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    return next(csv.reader([text.rstrip("\r\n")]), [])
