"""Viva's documented data rules, checked offline on the text of data.csv.

One validator serves the target's pre-flight (fed the formatted batches it writes), the
`viva-insights validate` command and the emulator (both fed an existing zip through
`validate_package`), so every path judges the same text with the same rules from `rules.py`.
All per-cell checks are pyarrow.compute expressions over whole columns.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc

from target_viva_insights import rules
from target_viva_insights.catalogue import Rule
from target_viva_insights.dates import viva_date_days
from target_viva_insights.hierarchy import Hierarchy
from target_viva_insights.package import (
    DATA_FILE,
    METADATA_FILE,
    CsvField,
    PackageError,
    open_package,
    read_header,
    read_text_batches,
)
from target_viva_insights.report import MAX_ISSUES_PER_RULE, Issue, ValidationReport
from target_viva_insights.rules import DateOrder, ValueKind
from target_viva_insights.settings import ImportMode

SHOWN_VALUE_CHARS = 200
# Per-batch distinct values are merged every so many batches: fewer calls, little memory.
DISTINCT_MERGE_EVERY = 16
NULL_TEXT = pa.scalar(None, pa.string())
# Below this head count every attribute looks unique per person; the warning would be noise.
MIN_PEOPLE_FOR_UNIQUENESS_WARNING = 10

VALUE_PATTERNS = {
    ValueKind.EMAIL: (rules.EMAIL_PATTERN, "not a valid email address"),
    ValueKind.INTEGER: (rules.INTEGER_PATTERN, "not a valid integer (digits only)"),
    ValueKind.DOUBLE: (rules.DOUBLE_PATTERN, "not a valid number (plain decimal like 23.75, no separators)"),
}
INVALID_VALUE_RULES = {
    ValueKind.EMAIL: Rule.INVALID_EMAIL,
    ValueKind.INTEGER: Rule.INVALID_INTEGER,
    ValueKind.DOUBLE: Rule.INVALID_DOUBLE,
    ValueKind.DATE: Rule.INVALID_DATE,
}


class DataValidator:
    """Checks header and mapping at once, each batch of rows as it comes, the whole org at the end.

    Args:
        fields: data.csv's columns as metadata.json maps them, in file order.
        date_order: how the dates are written.
        import_mode: FULL requires all four required fields, INCREMENTAL only PersonId and EffectiveDate.
        source: the name the report gives the file.
    """

    def __init__(
        self,
        fields: Sequence[CsvField],
        *,
        date_order: DateOrder,
        import_mode: ImportMode,
        source: str = DATA_FILE,
    ) -> None:
        self.fields = list(fields)
        self.date_order = date_order
        self.import_mode = import_mode
        self.report = ValidationReport(source)
        self._by_name = {field.name: field for field in self.fields}
        self._check_layout()
        has_person = rules.PERSON_ID in self._by_name and rules.EFFECTIVE_DATE in self._by_name
        self._hierarchy = Hierarchy(has_manager=rules.MANAGER_ID in self._by_name) if has_person else None
        self._value_range: dict[str, tuple[str, str] | None] = {field.header: None for field in self.fields}
        # Only group attributes (text) are judged for too many distinct values; ids and numbers may be unique.
        self._distinct_pending: dict[str, list[pa.Array]] = {}
        self._distinct: dict[str, pa.Array] = {
            field.header: pa.array([], pa.string()) for field in self.fields if field.kind is ValueKind.STRING
        }

    @property
    def required_fields(self) -> tuple[str, ...]:
        """A full import needs the four required fields; an incremental one PersonId and EffectiveDate."""
        if self.import_mode is ImportMode.FULL:
            return rules.REQUIRED_FIELDS
        return (rules.PERSON_ID, rules.EFFECTIVE_DATE)

    # -- header and mapping --------------------------------------------------------------------------

    def _check_layout(self) -> None:
        if len(self.fields) > rules.MAX_COLUMNS:
            self._finding(
                Rule.TOO_MANY_COLUMNS, f"{len(self.fields)} columns; Viva accepts at most {rules.MAX_COLUMNS}"
            )
        self._check_unique([field.header for field in self.fields], Rule.DUPLICATE_HEADER, "header")
        self._check_unique([field.name for field in self.fields], Rule.DUPLICATE_FIELD, "Viva field")
        for field in self.fields:
            labels = {field.header: "header"}
            labels.setdefault(field.name, "field name")  # one finding when both are the same name
            for name, label in labels.items():
                problem = rules.header_problem(name)
                if problem:
                    self._finding(
                        Rule.ILLEGAL_NAME, f"illegal {label}: {problem}", column=field.header, value=name
                    )
            if field.token not in rules.TYPE_TOKENS:
                self._finding(
                    Rule.UNKNOWN_TYPE,
                    f"unknown type token; known: {', '.join(rules.TYPE_TOKENS)}",
                    column=field.header,
                    value=field.token,
                )
            self._check_reserved_type(field)
        for required in self.required_fields:
            if required not in self._by_name:
                self._finding(
                    Rule.MISSING_REQUIRED_FIELD, f"the required field {required} is not in the data"
                )

    def _check_unique(self, names: list[str], rule: Rule, label: str) -> None:
        # Viva matches names without regard to case: Dept and dept would be one column there.
        seen: set[str] = set()
        for name in names:
            if name.casefold() in seen:
                self._finding(
                    rule, f"{label} appears more than once (names differ in case only)", column=name
                )
            seen.add(name.casefold())

    def _check_reserved_type(self, field: CsvField) -> None:
        expected = rules.RESERVED_FIELDS.get(field.name)
        if expected is None or field.kind is expected or field.token not in rules.TYPE_TOKENS:
            return
        self._finding(
            Rule.RESERVED_FIELD_TYPE,
            f"Viva's {field.name} holds {expected.value} values but is mapped as {field.token}; "
            "declare the type in the tap's schema or set field_types",
            column=field.header,
            value=field.token,
        )

    # -- rows ------------------------------------------------------------------------------------------

    def add_batch(
        self, table: pa.Table, first_row: int, known_days: Mapping[str, pa.Array] | None = None
    ) -> None:
        """Check one batch of rows.

        Checks that apply to many columns run once over all of them (a chunked array, one chunk per
        column): a compute call has a fixed cost whatever its size (bench/README.md), and a batch would
        otherwise make hundreds. Details per column are worked out only when such a check finds something.

        Args:
            table: text columns named by header, in header order (null or empty for a blank cell).
            first_row: the data.csv line of the table's first row (the header is line 1).
            known_days: date fields whose days are already known, by field name (date32, as the
                formatting converted them from ISO dates); a field whose every value is known is not
                parsed again.
        """
        if table.num_rows == 0:
            return
        self.report.rows_checked += table.num_rows
        columns = [_one_chunk(column) for column in table.columns]
        blanks = _split(_blank(pa.chunked_array(columns, type=pa.string())), table.num_rows)
        self._check_text(columns, first_row)
        self._check_required(columns, blanks, first_row)
        days = self._check_kinds(columns, blanks, first_row, known_days or {})
        for field, values, blank in zip(self.fields, columns, blanks, strict=True):
            self._track_values(field, values, blank)
        if self._hierarchy is not None:
            self._hierarchy.add(
                self._addresses(columns, blanks, rules.PERSON_ID),
                self._addresses(columns, blanks, rules.MANAGER_ID),
                days.get(rules.EFFECTIVE_DATE, pa.nulls(table.num_rows, pa.date32())),
                first_row,
            )

    def _addresses(self, columns: list[pa.Array], blanks: list[pa.Array], name: str) -> pa.Array | None:
        """The PersonId or ManagerId column with blank cells as nulls, so they code as 'no address'."""
        field = self._by_name.get(name)
        if field is None:
            return None
        index = self.fields.index(field)
        values, blank = columns[index], blanks[index]
        return values if blank.true_count == 0 else pc.if_else(blank, NULL_TEXT, values)

    def _check_text(self, columns: list[pa.Array], first_row: int) -> None:
        """No line breaks and at most 128 KB in any value."""
        everything = pa.chunked_array(columns, type=pa.string())
        too_long = pc.greater(pc.binary_length(everything), rules.MAX_VALUE_BYTES)
        if not pc.any(too_long).as_py() and not any(_may_hold_line_break(values) for values in columns):
            return
        for field, values in zip(self.fields, columns, strict=True):
            has_newline = pc.fill_null(pc.match_substring_regex(values, r"[\r\n]"), False)
            self._report_rows(
                Rule.NEWLINE, "values may not contain line breaks", field, values, has_newline, first_row
            )
            too_long = pc.fill_null(pc.greater(pc.binary_length(values), rules.MAX_VALUE_BYTES), False)
            message = f"value longer than {rules.MAX_VALUE_BYTES} bytes"
            self._report_rows(Rule.VALUE_TOO_LONG, message, field, values, too_long, first_row)

    def _check_required(self, columns: list[pa.Array], blanks: list[pa.Array], first_row: int) -> None:
        """Required fields are non-blank (a blank ManagerId is judged with the org chart)."""
        required = [
            index
            for index, field in enumerate(self.fields)
            if field.name in self.required_fields and field.name != rules.MANAGER_ID
        ]
        if not required or not pc.any(pa.chunked_array([blanks[i] for i in required])).as_py():
            return
        for index in required:
            field = self.fields[index]
            message = f"{field.name} is required on every row"
            self._report_rows(Rule.BLANK_REQUIRED, message, field, columns[index], blanks[index], first_row)

    def _check_kinds(
        self,
        columns: list[pa.Array],
        blanks: list[pa.Array],
        first_row: int,
        known_days: Mapping[str, pa.Array],
    ) -> dict[str, pa.Array]:
        """Report values that are not of their field's kind; returns the parsed days of date fields."""
        days: dict[str, pa.Array] = {}
        for kind, (pattern, message) in VALUE_PATTERNS.items():
            members = [index for index, field in enumerate(self.fields) if field.kind is kind]
            if not members:
                continue
            matches = pc.match_substring_regex(pa.chunked_array([columns[i] for i in members]), pattern)
            for index, valid in zip(members, _split(matches, len(columns[0])), strict=True):
                self._report_invalid(index, pc.fill_null(valid, False), message, columns, blanks, first_row)
        for index, field in enumerate(self.fields):
            if field.kind is ValueKind.DATE:
                known = known_days.get(field.name)
                if known is not None and known.null_count == 0:
                    days[field.name] = known  # every value was written from a real date
                    continue
                days[field.name] = viva_date_days(columns[index], self.date_order)
                message = f"not a valid date; expected {self.date_order.display}"
                valid = pc.is_valid(days[field.name])
                self._report_invalid(index, valid, message, columns, blanks, first_row)
        return days

    def _report_invalid(
        self,
        index: int,
        valid: pa.Array,
        message: str,
        columns: list[pa.Array],
        blanks: list[pa.Array],
        first_row: int,
    ) -> None:
        field = self.fields[index]
        invalid = pc.and_not(pc.invert(valid), blanks[index])
        self._report_rows(INVALID_VALUE_RULES[field.kind], message, field, columns[index], invalid, first_row)

    def _track_values(self, field: CsvField, values: pa.Array, blank: pa.Array) -> None:
        """Remember enough to tell single-valued columns and columns with one value per person.

        A column that is not judged for distinct values is settled once two of its values differ.
        """
        known = self._value_range[field.header]
        if known is not None and known[0] != known[1] and field.header not in self._distinct:
            return
        non_blank = values if blank.true_count == 0 else pc.if_else(blank, NULL_TEXT, values)
        low_high = pc.min_max(non_blank)
        low, high = low_high["min"].as_py(), low_high["max"].as_py()
        if low is None:
            return
        self._value_range[field.header] = (
            (low, high) if known is None else (min(known[0], low), max(known[1], high))
        )
        if field.header in self._distinct and low != high:
            pending = self._distinct_pending.setdefault(field.header, [])
            pending.append(pc.unique(values))
            if len(pending) >= DISTINCT_MERGE_EVERY:
                self._merge_distinct(field.header)

    def _merge_distinct(self, header: str) -> None:
        arrays = [self._distinct[header], *self._distinct_pending.pop(header, [])]
        self._distinct[header] = pc.unique(pa.concat_arrays(arrays))

    # -- the end ---------------------------------------------------------------------------------------

    def finish(self) -> ValidationReport:
        """Judge what needs every row (duplicates, managers, loops, snapshots) and close the report.

        Returns:
            Every finding of the header, the rows and the organization.
        """
        for header in list(self._distinct_pending):
            self._merge_distinct(header)
        if self._hierarchy is not None:
            self._hierarchy.judge(self.report)
            self._warn_uninformative_columns(self._hierarchy.person_count())
        if self.report.rows_checked == 0:
            self._finding(Rule.EMPTY_FILE, "data.csv has no rows")
        return self.report

    def _warn_uninformative_columns(self, persons: int) -> None:
        if self.report.rows_checked < 2:
            return
        for field in self.fields:
            value_range = self._value_range[field.header]
            if value_range is not None and value_range[0] == value_range[1]:
                self.report.add(
                    Issue(
                        Rule.SINGLE_VALUE_COLUMN,
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
                        Rule.VALUE_PER_PERSON,
                        f"{persons} distinct values for {persons} people: an identifier, not a group "
                        "attribute (Viva cannot report on groups of one)",
                        column=header,
                    )
                )

    # -- reporting helpers -----------------------------------------------------------------------------

    def _finding(
        self, rule: Rule, message: str, *, column: str | None = None, value: str | None = None
    ) -> None:
        self.report.add(Issue(rule, message, column=column, value=value))

    def _report_rows(
        self, rule: Rule, message: str, field: CsvField, values: pa.Array, mask: pa.Array, first_row: int
    ) -> None:
        if not pc.any(mask).as_py():
            return
        positions = pc.indices_nonzero(mask)
        total = len(positions)
        shown = positions.slice(0, MAX_ISSUES_PER_RULE)
        texts = pc.take(values, shown).to_pylist()
        sample = [
            Issue(
                rule,
                message,
                row=first_row + int(position),
                column=field.header,
                value=_shown(text),
            )
            for position, text in zip(shown.to_pylist(), texts, strict=True)
        ]
        self.report.add_found(total, sample)


def _may_hold_line_break(values: pa.Array) -> bool:
    """A byte search of the column's character data: far cheaper than a regex per value (bench/README.md).

    The data buffer of a sliced array holds bytes of other rows too; a hit there only costs the
    exact per-value check."""
    data = values.buffers()[2]
    if data is None:
        return False
    raw = bytes(memoryview(data))
    return b"\n" in raw or b"\r" in raw


def _split(result: pa.ChunkedArray, rows: int) -> list[pa.Array]:
    """A result computed over columns laid end to end, cut back into one array per column."""
    whole = result.combine_chunks()
    return [whole.slice(start, rows) for start in range(0, len(whole), rows)]


def _one_chunk(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _blank(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Null, empty or nothing but whitespace."""
    empty_or_space = pc.or_(pc.equal(pc.binary_length(values), 0), pc.utf8_is_space(values))
    return pc.fill_null(empty_or_space, True)


def _shown(text: str | None) -> str | None:
    if text is None or len(text) <= SHOWN_VALUE_CHARS:
        return text
    return text[:SHOWN_VALUE_CHARS] + "…"


# -- existing packages (the `validate` command and the emulator) -----------------------------------------


def validate_package(zip_path: Path, date_order: DateOrder | None = None) -> ValidationReport:
    """Validate a Viva HR package: zip layout, metadata.json, header and every row of data.csv.

    Args:
        zip_path: the package (a zip holding data.csv and metadata.json).
        date_order: how to read data.csv's dates; by default the order metadata.json's date types name.

    Returns:
        The findings; a package that cannot be read as one is a single `package` error, not an exception.
    """
    source = f"{Path(zip_path).name}"
    try:
        with open_package(zip_path) as package:
            order = date_order or package.date_order
            return _validate_data_csv(package.data, package.fields, order, package.import_mode, source)
    except (PackageError, zipfile.BadZipFile) as exc:
        report = ValidationReport(source)
        report.add(Issue(Rule.PACKAGE, str(exc)))
        return report


def validate_data_csv(
    data: IO[bytes], fields: list[CsvField], *, date_order: DateOrder, import_mode: ImportMode
) -> ValidationReport:
    """Validate an open data.csv (header line first) whose columns `fields` describe.

    Args:
        data: data.csv, at its start.
        fields: its columns as metadata.json maps them, in file order.
        date_order: how its dates are written.
        import_mode: FULL requires all four required fields, INCREMENTAL only PersonId and EffectiveDate.

    Returns:
        The findings; a file that cannot be parsed past some row is an `unreadable-csv` error.

    Raises:
        PackageError: the header is not UTF-8 or does not match `fields`.
    """
    return _validate_data_csv(data, fields, date_order, import_mode, DATA_FILE)


def _validate_data_csv(
    data: IO[bytes], fields: list[CsvField], date_order: DateOrder, import_mode: ImportMode, source: str
) -> ValidationReport:
    header = read_header(data)
    mapped = [field.header for field in fields]
    if header != mapped:
        raise PackageError(
            f"the {DATA_FILE} header ({', '.join(header)}) does not match the columns mapped in "
            f"{METADATA_FILE} ({', '.join(mapped)}): same names, same order, one entry per column"
        )
    by_header = {field.header: field for field in fields}
    validator = DataValidator(
        [by_header[name] for name in header], date_order=date_order, import_mode=import_mode, source=source
    )
    next_row = 2
    try:
        for batch in read_text_batches(data, header):
            validator.add_batch(pa.Table.from_batches([batch]), next_row)
            next_row += batch.num_rows
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        validator.report.add(
            Issue(
                Rule.UNREADABLE_CSV,
                f"{DATA_FILE} cannot be read after row {next_row - 1}: {_without_row_text(exc)}",
            )
        )
    return validator.finish()


def _without_row_text(error: Exception) -> str:
    """Arrow ends a CSV parse error with the offending row's text: personal data, kept out of messages."""
    text = str(error)
    if text.startswith("CSV parse error:"):
        head, _, _ = text.partition(": ")  # "CSV parse error"
        detail = text[len(head) + 2 :]
        return f"{head}: {detail.split(': ', 1)[0]}"
    return text
