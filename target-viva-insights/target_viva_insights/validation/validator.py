"""Viva's documented data rules, checked offline on the text of data.csv.

One validator serves the target's pre-flight (fed the formatted batches it writes), the
`viva-insights validate` command and the emulator (both fed an existing zip through
`validate_package`), so every path judges the same text with the same rules from `rules.py`.
All per-cell checks are pyarrow.compute expressions over whole columns.
"""

from __future__ import annotations

import datetime
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from target_viva_insights import rules
from target_viva_insights.catalogue import Rule
from target_viva_insights.dates import NULL_TEXT, date_forms, viva_date_days, year_first_ambiguous
from target_viva_insights.import_mode import ImportMode
from target_viva_insights.ledger.held import HeldOrganization, HeldPersonIds
from target_viva_insights.package import (
    DATA_FILE,
    METADATA_FILE,
    CsvField,
    PackageError,
    open_package,
    read_header,
    read_text_batches,
)
from target_viva_insights.rules import DateOrder, ValueKind
from target_viva_insights.template import MetadataTemplate
from target_viva_insights.validation.hierarchy import Hierarchy
from target_viva_insights.validation.report import MAX_ISSUES_PER_RULE, Issue, ValidationReport

# What Viva already holds: a HeldOrganization (the delivery ledger), or just PersonIds (any iterable
# of addresses or an Arrow array of them).
KnownPeople: TypeAlias = HeldOrganization | Iterable[str] | pa.Array | None

SHOWN_VALUE_CHARS = 200
# Per-batch distinct values are merged every so many batches: fewer calls, little memory.
DISTINCT_MERGE_EVERY = 16
# Below this head count every attribute looks unique per person; the warning would be noise.
MIN_PEOPLE_FOR_UNIQUENESS_WARNING = 10

VALUE_PATTERNS = {
    ValueKind.EMAIL: (rules.EMAIL_PATTERN, "not a valid email address"),
    ValueKind.INTEGER: (rules.INTEGER_PATTERN, "not a valid integer (digits only)"),
    ValueKind.DOUBLE: (rules.DOUBLE_PATTERN, "not a valid number (plain decimal like 23.75, no separators)"),
}
NAME_PROBLEM_RULES = {
    rules.NameProblem.EMPTY: Rule.HEADER_EMPTY,
    rules.NameProblem.TABLE_SYMBOL: Rule.HEADER_SYMBOL,
    rules.NameProblem.ILLEGAL_CHARACTER: Rule.HEADER_CHARACTERS,
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
        known_people: KnownPeople = None,
        template: MetadataTemplate | None = None,
    ) -> None:
        """Judge the header and mapping now; rows follow with `add_batch`, the org chart with `finish`.

        Args:
            fields: data.csv's columns in file order, as metadata.json maps them.
            date_order: how to read dates whose type token does not name an order.
            import_mode: full (IsBootstrap true) or incremental.
            source: the name reports give the data.
            known_people: what Viva already holds (from earlier imports; the delivery ledger, or a
                list of PersonIds): in an incremental import managers among them exist, chains of
                managers go on through them, and their months count for monthly coverage.
            template: the customer's metadata template; its tokens count as known ones.
        """
        self.fields = list(fields)
        self.date_order = date_order
        self.import_mode = import_mode
        self.template = template
        self.report = ValidationReport(source)
        self._by_name = {field.name: field for field in self.fields}
        self._known_tokens = set(rules.TYPE_TOKENS) | (template.tokens if template else set())
        self._check_layout()
        self._hierarchy = (
            Hierarchy(
                has_manager=rules.MANAGER_ID in self._by_name,
                is_bootstrap=import_mode is ImportMode.FULL,
                held=held_organization(known_people),
            )
            if rules.PERSON_ID in self._by_name
            else None
        )
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
            self._check_names(field)
            self._check_token(field)
            self._check_reserved_type(field)
        for required in self.required_fields:
            if required in self._by_name:
                continue
            if required == rules.EFFECTIVE_DATE:
                self._finding(
                    Rule.EFFECTIVE_DATE_ABSENT,
                    f"no {required} column: Viva takes the upload date as every row's {required}",
                )
            else:
                self._finding(
                    Rule.MISSING_REQUIRED_FIELD, f"the required field {required} is not in the data"
                )

    def _check_names(self, field: CsvField) -> None:
        """Characters of the source header and the Viva field name; system names of the field name."""
        labels = {field.header: "header"}
        labels.setdefault(field.name, "field name")  # one finding when both are the same name
        for name, label in labels.items():
            problem = rules.name_problem(name)
            if problem is not None:
                rule = NAME_PROBLEM_RULES[problem]
                self._finding(rule, f"{label}: {problem.value}", column=field.header, value=name)
        if rules.is_system_field(field.name):
            self._finding(
                Rule.SYSTEM_FIELD,
                f"{field.name} is a Viva system field (or starts with {rules.SYSTEM_PREFIX}); rename it",
                column=field.header,
                value=field.name,
            )
        elif rules.hides_microsoft_mark(field.name):
            self._finding(
                Rule.MICROSOFT_NAME,
                f"attributes containing {rules.SYSTEM_PREFIX} are not available in Viva Insights",
                column=field.header,
                value=field.name,
            )
        if field.name in rules.RENAMED_FIELDS:
            self._finding(
                Rule.RENAMED_FIELD,
                f"{field.name} is now {rules.RENAMED_FIELDS[field.name]}; under the old name it is "
                "an ordinary custom attribute",
                column=field.header,
                value=field.name,
            )

    def _check_token(self, field: CsvField) -> None:
        """Unknown tokens warn (only EmailType is documented); the template's tokens are known."""
        if field.token not in self._known_tokens:
            known = ", ".join(sorted(self._known_tokens))
            self._finding(
                Rule.UNKNOWN_TYPE,
                f"type token not known here (values judged as {field.kind.value}); known: {known}",
                column=field.header,
                value=field.token,
            )
        if self.template is None:
            return
        expected = self.template.token_for(field.name)
        if expected is None:
            self._finding(
                Rule.FIELD_NOT_IN_TEMPLATE,
                f"the metadata template ({self.template.source}) does not map {field.name}: its type "
                "token is our assumption",
                column=field.header,
                value=field.token,
            )
        elif expected != field.token:
            self._finding(
                Rule.TYPE_NOT_FROM_TEMPLATE,
                f"mapped as {field.token}; the metadata template maps {field.name} as {expected}",
                column=field.header,
                value=field.token,
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
        if expected is None or field.kind is expected or field.token not in self._known_tokens:
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
        self._check_documented_values(columns, blanks, first_row)
        for field, values, blank in zip(self.fields, columns, blanks, strict=True):
            self._track_values(field, values, blank)
        if self._hierarchy is not None:
            person = self._addresses(columns, blanks, rules.PERSON_ID)
            assert person is not None  # the hierarchy exists only with a PersonId column
            self._hierarchy.add(
                person,
                self._addresses(columns, blanks, rules.MANAGER_ID),
                days.get(rules.EFFECTIVE_DATE, _upload_days(table.num_rows)),
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
                    self._warn_implausible_dates(field, columns[index], known, first_row)
                    continue
                order = DateOrder.of_type_token(field.token) or self.date_order
                days[field.name] = viva_date_days(columns[index], order)
                forms = ", ".join(form.label for form in date_forms(order))
                message = f"not a valid date; a {order.display} field takes {forms}"
                valid = pc.is_valid(days[field.name])
                self._report_invalid(index, valid, message, columns, blanks, first_row)
                self._warn_year_first(field, columns[index], order, first_row)
            if field.kind is ValueKind.DATE:
                self._warn_implausible_dates(field, columns[index], days[field.name], first_row)
        return days

    def _warn_implausible_dates(
        self, field: CsvField, values: pa.Array, days: pa.Array, first_row: int
    ) -> None:
        """Valid dates unlikely to be meant: placeholders in any date field, an EffectiveDate far in the
        past or future, a HireDate after today. Warnings: the report names row and column."""
        placeholder = pc.fill_null(pc.is_in(days, value_set=_PLACEHOLDER_DAYS), False)
        # The message names no date: the log shows it, and which placeholder it is would be a value.
        message = "a placeholder date HR systems write for unknown or no end (see docs/viva-rules.md)"
        self._report_rows(Rule.PLACEHOLDER_DATE, message, field, values, placeholder, first_row)
        today = datetime.date.today()
        if field.name == rules.EFFECTIVE_DATE:
            latest = rules.years_after(today, rules.EFFECTIVE_DATE_YEARS_AHEAD)
            earliest = rules.EARLIEST_PLAUSIBLE_EFFECTIVE_DATE
            outside = pc.or_(
                pc.less(days, pa.scalar(earliest, pa.date32())),
                pc.greater(days, pa.scalar(latest, pa.date32())),
            )
            mask = pc.and_not(pc.fill_null(outside, False), placeholder)
            message = f"EffectiveDate before {earliest:%Y-%m-%d} or after {latest:%Y-%m-%d} (today + 2 years)"
            self._report_rows(Rule.EFFECTIVE_DATE_IMPLAUSIBLE, message, field, values, mask, first_row)
        elif field.name == rules.HIRE_DATE:
            future = pc.fill_null(pc.greater(days, pa.scalar(today, pa.date32())), False)
            mask = pc.and_not(future, placeholder)
            message = "HireDate after today"
            self._report_rows(Rule.HIRE_DATE_IN_FUTURE, message, field, values, mask, first_row)

    def _warn_year_first(self, field: CsvField, values: pa.Array, order: DateOrder, first_row: int) -> None:
        ambiguous = year_first_ambiguous(values, order)
        message = "read as YYYY-DD-MM, as Viva reads year-first dates in a DD/MM/YYYY field"
        self._report_rows(Rule.DATE_READ_AS_YYYY_DD_MM, message, field, values, ambiguous, first_row)

    def _check_documented_values(
        self, columns: list[pa.Array], blanks: list[pa.Array], first_row: int
    ) -> None:
        """The ranges and values the attribute reference states for reserved fields."""
        for index, field in enumerate(self.fields):
            values, present = columns[index], pc.invert(blanks[index])
            if field.name in rules.VALUE_RANGES and field.kind in (ValueKind.DOUBLE, ValueKind.INTEGER):
                low, high = rules.VALUE_RANGES[field.name]
                number = _numbers(values)
                outside = pc.or_(pc.less(number, low), pc.greater(number, high))
                message = f"{field.name} must be a number between {low:g} and {high:g}"
                self._report_rows(Rule.VALUE_OUT_OF_RANGE, message, field, values, _true(outside), first_row)
            elif field.name == rules.LAYER and field.kind is ValueKind.INTEGER:
                negative = pc.less(_numbers(values), 0)
                message = "Layer is the distance from the top leader (the CEO is at Layer 0): not negative"
                self._report_rows(Rule.LAYER_NEGATIVE, message, field, values, _true(negative), first_row)
            elif field.name == rules.SUPERVISOR_INDICATOR:
                known = pc.is_in(values, value_set=pa.array(rules.SUPERVISOR_INDICATOR_VALUES))
                other = pc.and_(present, pc.invert(known))
                described = ", ".join(rules.SUPERVISOR_INDICATOR_VALUES)
                message = f"Viva describes SupervisorIndicator as one of {described}"
                self._report_rows(Rule.SUPERVISOR_INDICATOR, message, field, values, _true(other), first_row)

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
            self._check_new_people(self._hierarchy)
        if self.report.rows_checked == 0:
            self._finding(Rule.EMPTY_FILE, "data.csv has no rows")
        return self.report

    def _check_new_people(self, hierarchy: Hierarchy) -> None:
        """An incremental import that adds employees carries their ManagerId and Organization too
        ("If you're adding data for new employees, include PersonId, ManagerId, Organization, and
        EffectiveDate"): judged only when the people Viva already holds are known."""
        if self.import_mode is ImportMode.FULL:
            return
        absent = [name for name in (rules.MANAGER_ID, rules.ORGANIZATION) if name not in self._by_name]
        new_people = hierarchy.new_people_count() if absent else None
        if new_people:
            self._finding(
                Rule.MISSING_REQUIRED_FIELD,
                f"{new_people} people are not among those Viva already holds (new employees), and new "
                f"employees need {' and '.join(absent)} as well",
            )

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


_PLACEHOLDER_DAYS = pa.array(rules.PLACEHOLDER_DATES, pa.date32())


def held_organization(known: KnownPeople) -> HeldOrganization | None:
    """`known_people` as the hierarchy checks take it."""
    if known is None or isinstance(known, HeldOrganization):
        return known
    return HeldPersonIds(known)


def _numbers(values: pa.Array) -> pa.Array:
    """float64 of the values that are plain numbers (the type rule names the others); null elsewhere."""
    plain = pc.fill_null(pc.match_substring_regex(values, rules.DOUBLE_PATTERN), False)
    return pc.cast(pc.if_else(plain, values, NULL_TEXT), pa.float64())


def _true(mask: pa.Array) -> pa.Array:
    return pc.fill_null(mask, False)


def _upload_days(rows: int) -> pa.Array:
    """Without an EffectiveDate column, Viva dates every row with the upload: today."""
    return pa.array([datetime.date.today()] * rows, pa.date32())


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


def validate_package(
    zip_path: Path,
    date_order: DateOrder | None = None,
    *,
    known_people: KnownPeople = None,
    template: MetadataTemplate | None = None,
) -> ValidationReport:
    """Validate a Viva HR package: zip layout, metadata.json, header and every row of data.csv.

    Args:
        zip_path: the package (a zip holding data.csv and metadata.json).
        date_order: how to read dates whose type token names no order; by default the order of the
            mapping's first date type that names one.
        known_people: what Viva already holds (earlier imports), for an incremental package.
        template: the customer's metadata template, whose tokens count as known.

    Returns:
        The findings; a package that cannot be read as one is a single error of the package rule that
        failed (`package-members`, `invalid-metadata`, ...), not an exception.
    """
    source = f"{Path(zip_path).name}"
    try:
        with open_package(zip_path) as package:
            return _validate_data_csv(
                package.data,
                package.fields,
                date_order or package.date_order,
                package.import_mode,
                source,
                known_people=known_people,
                template=template,
            )
    except PackageError as exc:
        return _package_failure(source, exc.rule, str(exc))
    except zipfile.BadZipFile as exc:
        return _package_failure(source, Rule.PACKAGE, f"not a zip file: {exc}")


def _package_failure(source: str, rule: Rule, message: str) -> ValidationReport:
    report = ValidationReport(source)
    report.add(Issue(rule, message))
    return report


def validate_data_csv(
    data: IO[bytes],
    fields: list[CsvField],
    *,
    date_order: DateOrder,
    import_mode: ImportMode,
    known_people: KnownPeople = None,
    template: MetadataTemplate | None = None,
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
        PackageError: the header is not UTF-8 or does not name the columns `fields` maps.
    """
    return _validate_data_csv(
        data, fields, date_order, import_mode, DATA_FILE, known_people=known_people, template=template
    )


def _validate_data_csv(
    data: IO[bytes],
    fields: list[CsvField],
    date_order: DateOrder,
    import_mode: ImportMode,
    source: str,
    *,
    known_people: KnownPeople,
    template: MetadataTemplate | None,
) -> ValidationReport:
    header = read_header(data)
    by_header = {field.header: field for field in fields}
    _check_header_matches_mapping(header, by_header)
    validator = DataValidator(
        [by_header[name] for name in header],
        date_order=date_order,
        import_mode=import_mode,
        source=source,
        known_people=known_people,
        template=template,
    )
    next_row = 2
    try:
        for batch in read_text_batches(data, header):
            validator.add_batch(pa.Table.from_batches([batch]), next_row)
            next_row += batch.num_rows
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        rule = _read_failure_rule(exc)
        message = f"{DATA_FILE} cannot be read after row {next_row - 1}: {_without_row_text(exc)}"
        validator.report.add(Issue(rule, message))
    return validator.finish()


def _without_row_text(error: Exception) -> str:
    """Arrow ends a CSV parse error with the offending row's text: personal data, kept out of messages."""
    text = str(error)
    if text.startswith("CSV parse error:"):
        head, _, _ = text.partition(": ")  # "CSV parse error"
        detail = text[len(head) + 2 :]
        return f"{head}: {detail.split(': ', 1)[0]}"
    return text


def _check_header_matches_mapping(header: list[str], by_header: dict[str, CsvField]) -> None:
    """Same columns in data.csv and metadata.json; the order is free ("Attributes can be in any order")."""
    if set(header) == set(by_header):
        return
    unmapped = [name for name in header if name not in by_header]
    absent = [name for name in by_header if name not in set(header)]
    parts = []
    if unmapped:
        parts.append(f"not mapped in {METADATA_FILE}: {', '.join(unmapped)}")
    if absent:
        parts.append(f"mapped but not in {DATA_FILE}: {', '.join(absent)}")
    raise PackageError(
        f"the {DATA_FILE} header and the columns mapped in {METADATA_FILE} differ ({'; '.join(parts)})",
        Rule.HEADER_MAPPING_MISMATCH,
    )


def _read_failure_rule(exc: Exception) -> Rule:
    text = str(exc)
    if isinstance(exc, UnicodeDecodeError) or "UTF8" in text or "UTF-8" in text:
        return Rule.NOT_UTF8
    if "Expected" in text and "columns" in text:
        return Rule.RAGGED_ROW
    return Rule.UNREADABLE_CSV
