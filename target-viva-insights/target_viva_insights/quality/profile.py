"""The aggregates of the data-quality report, computed from a data.csv with pyarrow.

Everything here is a count, a share or a group label that at least `PRIVACY_MINIMUM` people share: the
report made from a profile holds no record value (no address, no name, no date of a person). The
findings of the validation, which do hold values, are kept apart (`Finding`) and shown only on request.

Attribute figures are over all rows (share filled, placeholders) or over the people a value is given to
(groups); the org tree and HireDate are judged on each person's latest row, the organization as Viva
would show it on the file's last EffectiveDate.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from target_viva_insights import rules
from target_viva_insights.catalogue import Rule, Severity
from target_viva_insights.dates import real_days, viva_date_days
from target_viva_insights.ledger.store import Comparison
from target_viva_insights.quality.aggregates import (
    BLANK,
    PAIR_CAP,
    VALUE_CAP,
    AttributeTally,
    Growing,
    ValueCodes,
    as_numpy,
    trimmed_dictionary,
)
from target_viva_insights.rules import DateOrder, ValueKind
from target_viva_insights.validation.hierarchy import NO_MANAGER
from target_viva_insights.validation.report import Issue, ValidationReport

# Viva's privacy minimum: groups smaller than this are suppressed in its reports, and their labels are
# never shown here either.
PRIVACY_MINIMUM = 5
# vivainsights' validation thresholds for HR attributes.
MAX_UNIQUE_VALUES = 100
MISSING_SHARE_WARNING = 0.20
# The share of people a Microsoft 365 organizational attribute must cover to be used.
M365_COVERAGE_GATE = 0.95
M365_GATED_COLUMNS = ("Microsoft_ManagerEmail", "Microsoft_Organization")
M365_PERSON_COLUMNS = ("PersonId", "Microsoft_PersonId", "Microsoft_UserPrincipalName", "Microsoft_Email")
M365_MANAGER_COLUMN = "Microsoft_ManagerEmail"
# A month whose head count moves this much against the month before is marked: monthly HR snapshots
# move by a few percent; a tenth of the people at once is a lost or doubled extract more often than not.
SUDDEN_CHANGE_SHARE = 0.10
TOP_GROUPS = 5
HIRE_DATE = "HireDate"
LONG_TENURE_YEARS = 40
PLACEHOLDER_TEXTS = ("#N/A", "N/A", "NULL", "null", "none", "-", "TBD")
PLACEHOLDER_DATES = (datetime.date(1900, 1, 1), datetime.date(1970, 1, 1), datetime.date(9999, 12, 31))
# How a placeholder date is usually written in a column that is not a date column.
PLACEHOLDER_DATE_FORMS = ("%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y")
# Labels of these kinds are a person's own value (an address, a date, a rate): shown as counts only.
LABELLED_KINDS = frozenset({ValueKind.STRING, ValueKind.INTEGER})
# Span-of-control bins: (lowest, highest) direct reports, None for no upper bound.
SPAN_BINS = ((1, 1), (2, 3), (4, 6), (7, 10), (11, 15), (16, 25), (26, None))
EPOCH = datetime.date(1970, 1, 1)
# A blank or unreadable date, among days since EPOCH.
MISSING = np.iinfo(np.int64).min
MAX_EXAMPLES = 5
DATE_LIKE = re.compile(r"^\s*[0-9]{1,4}[-/.][0-9]{1,2}[-/.][0-9]{1,4}")


class InputKind(str, enum.Enum):
    """What the report was made from."""

    PACKAGE = "Viva HR package"
    HR_CSV = "HR data.csv"
    M365_CSV = "Microsoft 365 organizational data CSV"


class Change(str, enum.Enum):
    JUMP = "jump"
    DROP = "drop"


class AttributeWarning(str, enum.Enum):
    """vivainsights' warnings for an HR attribute."""

    TOO_MANY_VALUES = f"more than {MAX_UNIQUE_VALUES} unique values"
    MOSTLY_MISSING = f"{MISSING_SHARE_WARNING:.0%} or more missing"
    SMALL_GROUPS = f"groups under {PRIVACY_MINIMUM} people (suppressed by Viva's privacy minimum)"
    CONSTANT = "a constant column (one value)"
    BELOW_GATE = f"covers less than {M365_COVERAGE_GATE:.0%} of people (the Microsoft 365 gate)"


@dataclasses.dataclass(frozen=True)
class Group:
    """One value of an attribute and how many people have it; `label` None when it is not shown."""

    label: str | None
    people: int


@dataclasses.dataclass(frozen=True)
class AttributeProfile:
    name: str
    kind: ValueKind
    filled_rows: int
    rows: int
    unique_values: int
    largest_groups: list[Group]
    small_groups: int
    people_in_small_groups: int
    placeholders: dict[str, int]
    people_covered: int
    people: int
    warnings: list[AttributeWarning]
    # False when a bound of the aggregates (quality/aggregates.py) made the group figures estimates.
    exact: bool = True

    @property
    def filled_share(self) -> float:
        return self.filled_rows / self.rows if self.rows else 0.0

    @property
    def people_share(self) -> float:
        return self.people_covered / self.people if self.people else 0.0


@dataclasses.dataclass(frozen=True)
class MonthPoint:
    """People with a row in one EffectiveDate month; `change` marks a sudden move against the month before."""

    month: datetime.date
    people: int
    change: Change | None = None
    change_share: float = 0.0


@dataclasses.dataclass(frozen=True)
class OrgTree:
    """The reporting lines of each person's latest row."""

    people: int
    tops: int  # no manager: the top leader (and any co-leader)
    manager_not_in_file: int  # a manager that has no row of their own
    in_cycles: int
    depth_counts: dict[int, int]  # depth (0 = top) -> people
    unknown_depth: int  # above them the chain breaks (manager not in the file) or loops
    span_counts: list[tuple[str, int]]  # bin label -> managers
    managers: int
    layer_vs_depth: dict[tuple[int, int], int] | None  # (Layer, depth) -> people; None without Layer

    @property
    def layer_matches(self) -> int:
        return sum(n for (layer, depth), n in (self.layer_vs_depth or {}).items() if layer == depth)

    @property
    def layer_compared(self) -> int:
        return sum((self.layer_vs_depth or {}).values())


@dataclasses.dataclass(frozen=True)
class HireDates:
    people: int
    dated: int
    long_tenure: int  # LONG_TENURE_YEARS or more before the reference day
    future: int  # after the reference day
    unreadable: int


@dataclasses.dataclass(frozen=True)
class Finding:
    """One rule's findings in the validation: count, and the first few (with values) for examples."""

    rule: Rule
    count: int
    examples: list[Issue]

    @property
    def severity(self) -> Severity:
        return self.rule.severity


@dataclasses.dataclass(frozen=True)
class Gate:
    """A Microsoft 365 coverage gate: the share of people a column covers."""

    column: str
    people_covered: int
    people: int
    present: bool

    @property
    def share(self) -> float:
        return self.people_covered / self.people if self.people else 0.0

    @property
    def passed(self) -> bool:
        return self.present and self.share >= M365_COVERAGE_GATE


@dataclasses.dataclass(frozen=True)
class Changes:
    """What the file changes against the delivery ledger (what Viva holds after the last delivery)."""

    people_added: int
    people_removed: int  # held by Viva, absent from the file
    people_changed: int  # known people with at least one new or changed row
    rows_new: int
    rows_changed: int
    rows_unchanged: int
    last_delivery: str | None  # "ingestion ID of TIME"


@dataclasses.dataclass(frozen=True)
class Delivery:
    """Where the package goes and what is sent; `changes` None when no ledger was compared."""

    destination: str
    plan: str
    changes: Changes | None = None
    no_changes_reason: str = "no delivery ledger was compared"


def changes_of(
    comparison: Comparison, people: pa.Array | pa.ChunkedArray, last_delivery: str | None
) -> Changes:
    """The ledger comparison's counts, with the people whose rows are new or changed but who are known.

    Args:
        comparison: the ledger's comparison of data.csv (masks per row, in file order).
        people: data.csv's PersonId column, in the same order.
        last_delivery: what the ledger last recorded, as text.
    """
    builder = ProfileBuilder([Column(rules.PERSON_ID, ValueKind.STRING)], InputKind.PACKAGE, comparison)
    for chunk in people.chunks if isinstance(people, pa.ChunkedArray) else [people]:
        builder.add_batch(pa.record_batch([chunk], names=[rules.PERSON_ID]))
    changes = builder.changes(last_delivery)
    assert changes is not None  # a comparison and a PersonId column
    return changes


def _changes(comparison: Comparison, people_changed: int, last_delivery: str | None) -> Changes:
    counts = comparison.summary()
    return Changes(
        people_added=counts["people_added"],
        people_removed=counts["people_absent"],
        people_changed=people_changed,
        rows_new=counts["rows_new"],
        rows_changed=counts["rows_changed"],
        rows_unchanged=counts["rows_unchanged"],
        last_delivery=last_delivery,
    )


@dataclasses.dataclass
class QualityProfile:
    """Everything the report shows, as aggregates."""

    source: str
    kind: InputKind
    rows: int
    people: int
    effective_dates: int
    columns: list[str]
    months: list[MonthPoint]
    attributes: list[AttributeProfile]
    org: OrgTree | None
    hire: HireDates | None
    gates: list[Gate]
    reference_day: datetime.date
    findings: list[Finding] = dataclasses.field(default_factory=list)
    findings_judged: bool = False
    delivery: Delivery | None = None

    def with_findings(self, report: ValidationReport | None) -> QualityProfile:
        """The profile with the validation's findings by rule (the most severe and frequent first)."""
        if report is None:
            return self
        examples: dict[Rule, list[Issue]] = {}
        for issue in report.issues:
            kept = examples.setdefault(issue.rule, [])
            if len(kept) < MAX_EXAMPLES:
                kept.append(issue)
        found = [Finding(rule, count, examples.get(rule, [])) for (_, rule), count in report.counts.items()]
        found.sort(key=lambda f: (f.severity is not Severity.ERROR, -f.count, f.rule.id))
        return dataclasses.replace(self, findings=found, findings_judged=True)


# ---- reading ----------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Column:
    """A column of the table profiled: its Viva name, the kind its values are judged as, its date order."""

    name: str
    kind: ValueKind
    date_order: DateOrder = rules.DEFAULT_DATE_ORDER


def is_m365(headers: Sequence[str]) -> bool:
    """A Microsoft 365 organizational export: `Microsoft_*` headers and no EffectiveDate."""
    return rules.EFFECTIVE_DATE not in headers and any(h.startswith(rules.SYSTEM_PREFIX) for h in headers)


def profile_table(
    table: pa.Table,
    columns: Sequence[Column],
    *,
    source: str,
    kind: InputKind,
    reference_day: datetime.date | None = None,
) -> QualityProfile:
    """The aggregates of a table of text columns (empty cells as empty strings or nulls).

    Args:
        table: data.csv's rows, one text column per entry of `columns` (by name).
        columns: each column's Viva name and kind.
        source: the file's name, as the report shows it.
        kind: what the file is (a package, an HR CSV, a Microsoft 365 CSV).
        reference_day: "today" for tenure and future dates (default: the current UTC date).

    Returns:
        The profile, without findings (see `QualityProfile.with_findings`).
    """
    builder = ProfileBuilder(columns, kind)
    for batch in table.to_batches(max_chunksize=TABLE_BATCH_ROWS):
        builder.add_batch(batch)
    return builder.profile(source=source, reference_day=reference_day)


# The rows of a table handed to the builder at once (a file read in blocks comes in its own batches).
TABLE_BATCH_ROWS = 65_536
NOT_IN_FILE = -2


class ProfileBuilder:
    """The profile of data.csv, made batch by batch: memory is the aggregates (aggregates.py) and a
    few numbers per person, whatever the number of rows.

    Args:
        columns: each column's Viva name and kind (batches hold a text column per name).
        kind: what the file is.
        comparison: the delivery ledger's comparison of the same file, for `changes`.
        value_cap: the distinct values kept per attribute (the manager column keeps all of them).
        pair_cap: the (value, person) pairs counted exactly per attribute.
    """

    def __init__(
        self,
        columns: Sequence[Column],
        kind: InputKind,
        comparison: Comparison | None = None,
        *,
        value_cap: int = VALUE_CAP,
        pair_cap: int = PAIR_CAP,
    ) -> None:
        self._columns = list(columns)
        self._kind = kind
        names = [column.name for column in self._columns]
        self._by_name = {column.name: column for column in self._columns}
        self._person_name = _person_column(names, kind)
        self._manager_name = M365_MANAGER_COLUMN if kind is InputKind.M365_CSV else rules.MANAGER_ID
        self._persons = ValueCodes(cap=None)
        self._tallies = {
            column.name: _tally_for(
                column, None if column.name == self._manager_name else value_cap, pair_cap
            )
            for column in self._columns
            if column.name != self._person_name
        }
        self._rows = 0
        self._dates = np.zeros(0, dtype=np.int64)  # the distinct EffectiveDates, as days
        self._months: dict[int, Growing] = {}  # per month: whether each person has a row in it
        self._latest_day = Growing(np.int64, MISSING)
        self._latest_manager = Growing(np.int32, BLANK)
        self._latest_layer = Growing(np.int64, MISSING)
        self._latest_hire = Growing(np.int64, MISSING)
        self._latest_hire_filled = Growing(np.bool_, False)
        self._comparison = comparison
        self._to_send = comparison.to_send if comparison is not None else None
        self._touched = Growing(np.bool_, False)
        self._added = Growing(np.bool_, False)

    @property
    def _people(self) -> int:
        return self._persons.size if self._person_name else self._rows

    def add_batch(self, batch: pa.RecordBatch) -> None:
        """Count the next rows (text columns, plain or dictionary-encoded)."""
        size = batch.num_rows
        first = self._rows
        if self._person_name:
            trimmed, blank, indices = trimmed_dictionary(batch.column(self._person_name))
            person = self._persons.codes(trimmed, blank)[indices]
        else:
            person = np.arange(first, first + size, dtype=np.int64)
        self._rows += size
        people = self._people
        by_person = np.argsort(person, kind="stable")
        days: dict[str, np.ndarray] = {}
        codes: dict[str, np.ndarray] = {}
        for name, tally in self._tallies.items():
            trimmed, blank, indices = trimmed_dictionary(batch.column(name))
            column = self._by_name[name]
            value_days = None
            if column.kind is ValueKind.DATE or name in (rules.EFFECTIVE_DATE, HIRE_DATE):
                value_days = _days(trimmed, blank, column.date_order)
                days[name] = value_days[indices]
            if name == rules.LAYER:
                days[name] = _integers(trimmed)[indices]
            codes[name] = tally.add(
                trimmed,
                blank,
                indices,
                person,
                by_person,
                people,
                value_days if column.kind is ValueKind.DATE else None,
            )
        day = days.get(rules.EFFECTIVE_DATE)
        if day is not None:
            self._dates = np.union1d(self._dates, day[day != MISSING])
            self._count_months(person, day)
        hire_code = codes.get(HIRE_DATE)
        self._keep_latest(
            person,
            day,
            codes.get(self._manager_name),
            days.get(rules.LAYER),
            days.get(HIRE_DATE),
            hire_code != BLANK if hire_code is not None else None,
        )
        if self._to_send is not None and self._comparison is not None:
            known = person >= 0
            self._touched.ensure(people)[person[known & self._to_send[first : first + size]]] = True
            self._added.ensure(people)[person[known & self._comparison.new_people[first : first + size]]] = (
                True
            )

    def _count_months(self, person: np.ndarray, day: np.ndarray) -> None:
        usable = (day != MISSING) & (person >= 0)
        if not usable.any():
            return
        month = day[usable].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        who = person[usable]
        for value in np.unique(month).tolist():
            seen = self._months.setdefault(value, Growing(np.bool_, False))
            seen.ensure(self._people)[who[month == value]] = True

    def _keep_latest(
        self,
        person: np.ndarray,
        day: np.ndarray | None,
        manager: np.ndarray | None,
        layer: np.ndarray | None,
        hire: np.ndarray | None,
        hire_filled: np.ndarray | None,
    ) -> None:
        """Keep each person's latest row (by EffectiveDate, then file order) of the batch if it is at
        least as late as the one kept from earlier batches."""
        positions = np.nonzero(person >= 0)[0]
        if not positions.size:
            return
        who = person[positions]
        when = day[positions] if day is not None else np.zeros(positions.size, dtype=np.int64)
        order = np.lexsort((positions, when, who))
        last = order[np.r_[who[order][1:] != who[order][:-1], True]]
        rows, who, when = positions[last], who[last], when[last]
        latest_day = self._latest_day.ensure(self._people)
        later = when >= latest_day[who]
        rows, who = rows[later], who[later]
        latest_day[who] = when[later]
        for kept, values in (
            (self._latest_manager, manager),
            (self._latest_layer, layer),
            (self._latest_hire, hire),
            (self._latest_hire_filled, hire_filled),
        ):
            if values is not None:
                kept.ensure(self._people)[who] = values[rows]

    def profile(self, *, source: str, reference_day: datetime.date | None = None) -> QualityProfile:
        """The profile of the rows added (without findings; see `QualityProfile.with_findings`)."""
        today = reference_day or datetime.datetime.now(datetime.timezone.utc).date()
        people = self._people
        attributes = [
            self._attribute(column, people) for column in self._columns if column.name in self._tallies
        ]
        org = None
        if self._person_name and self._manager_name in self._tallies:
            layer = self._latest_layer.ensure(people)[:people] if rules.LAYER in self._tallies else None
            org = _org_tree(self._parents(people), layer)
        hire = None
        if HIRE_DATE in self._tallies:
            hire = _hire_dates(
                self._latest_hire.ensure(people)[:people],
                self._latest_hire_filled.ensure(people)[:people],
                today,
            )
        gates = []
        if self._kind is InputKind.M365_CSV:
            gates = [
                Gate(name, self._tallies[name].people_covered(people), people, present=True)
                if name in self._tallies
                else Gate(name, 0, people, present=False)
                for name in M365_GATED_COLUMNS
            ]
        return QualityProfile(
            source=source,
            kind=self._kind,
            rows=self._rows,
            people=people,
            effective_dates=int(self._dates.size),
            columns=[column.name for column in self._columns],
            months=self._people_per_month(),
            attributes=attributes,
            org=org,
            hire=hire,
            gates=gates,
            reference_day=today,
        )

    def changes(self, last_delivery: str | None) -> Changes | None:
        """What the file changes against the ledger; None without a comparison or a PersonId column."""
        if self._comparison is None or self._person_name != rules.PERSON_ID:
            return None
        people = self._people
        touched = self._touched.ensure(people)[:people] & ~self._added.ensure(people)[:people]
        return _changes(self._comparison, int(np.count_nonzero(touched)), last_delivery)

    def _parents(self, people: int) -> np.ndarray:
        """Each person's manager on their latest row, as a person code (or NO_MANAGER, NOT_IN_FILE)."""
        managers = self._tallies[self._manager_name].values.known
        as_person = as_numpy(pc.index_in(managers, value_set=self._persons.known), NOT_IN_FILE)
        manager = self._latest_manager.ensure(people)[:people]
        parent = np.full(people, NO_MANAGER, dtype=np.int64)
        named = manager >= 0
        parent[named] = as_person[manager[named]]
        return parent

    def _people_per_month(self) -> list[MonthPoint]:
        """Distinct people with a row whose EffectiveDate falls in each month, months without rows too."""
        if not self._months:
            return []
        by_month = {month: int(np.count_nonzero(seen.array)) for month, seen in self._months.items()}
        points: list[MonthPoint] = []
        for value in range(min(by_month), max(by_month) + 1):
            count = by_month.get(value, 0)
            change, share = None, 0.0
            if points and points[-1].people:
                share = (count - points[-1].people) / points[-1].people
                if abs(share) >= SUDDEN_CHANGE_SHARE:
                    change = Change.JUMP if share > 0 else Change.DROP
            year, month_index = divmod(value, 12)
            points.append(MonthPoint(datetime.date(1970 + year, month_index + 1, 1), count, change, share))
        return points

    def _attribute(self, column: Column, people: int) -> AttributeProfile:
        tally = self._tallies[column.name]
        labels = tally.values.known
        group_people = tally.people_per_value(people)
        covered = tally.people_covered(people)
        small = group_people < PRIVACY_MINIMUM
        order = np.argsort(-group_people, kind="stable")[:TOP_GROUPS]
        shown = column.kind in LABELLED_KINDS
        largest = []
        for i in order.tolist():
            label = str(labels[i].as_py())
            named = shown and group_people[i] >= PRIVACY_MINIMUM and may_name(label)
            largest.append(Group(label if named else None, int(group_people[i])))
        rows, filled_rows, unique = self._rows, tally.filled_rows, tally.unique_values
        warnings = []
        if column.kind is ValueKind.STRING and unique > MAX_UNIQUE_VALUES:
            warnings.append(AttributeWarning.TOO_MANY_VALUES)
        if rows and 1 - filled_rows / rows >= MISSING_SHARE_WARNING:
            warnings.append(AttributeWarning.MOSTLY_MISSING)
        if column.kind in LABELLED_KINDS and small.any():
            warnings.append(AttributeWarning.SMALL_GROUPS)
        if unique == 1:
            warnings.append(AttributeWarning.CONSTANT)
        gated = self._kind is InputKind.M365_CSV and column.name in M365_GATED_COLUMNS
        if gated and (not people or covered / people < M365_COVERAGE_GATE):
            warnings.append(AttributeWarning.BELOW_GATE)
        return AttributeProfile(
            name=column.name,
            kind=column.kind,
            filled_rows=filled_rows,
            rows=rows,
            unique_values=unique,
            largest_groups=largest,
            small_groups=int(small.sum()),
            people_in_small_groups=int(group_people[small].sum()),
            placeholders=_placeholders(tally, column),
            people_covered=covered,
            people=people,
            warnings=warnings,
            exact=tally.exact,
        )


def _tally_for(column: Column, value_cap: int | None, pair_cap: int) -> AttributeTally:
    """An attribute's tally, looking for the placeholder texts (and dates, in their usual written forms
    outside a date column; a date column's placeholder dates are matched as dates)."""
    forms = list(PLACEHOLDER_TEXTS)
    days: list[int] = []
    if column.kind is ValueKind.DATE:
        days = [(day - EPOCH).days for day in PLACEHOLDER_DATES]
    else:
        forms += [day.strftime(form) for day in PLACEHOLDER_DATES for form in PLACEHOLDER_DATE_FORMS]
    return AttributeTally(pa.array(forms, pa.string()), days, cap=value_cap, pair_cap=pair_cap)


def _placeholders(tally: AttributeTally, column: Column) -> dict[str, int]:
    """How often each placeholder for "unknown" stands in the column, written forms of a placeholder
    date counted as that date."""
    key_of = {text: text for text in PLACEHOLDER_TEXTS}
    if column.kind is not ValueKind.DATE:
        for day in PLACEHOLDER_DATES:
            for form in PLACEHOLDER_DATE_FORMS:
                key_of[day.strftime(form)] = day.isoformat()
    found: dict[str, int] = {}
    for text, count in tally.placeholder_rows.items():
        found[key_of[text]] = found.get(key_of[text], 0) + count
    if column.kind is ValueKind.DATE:
        for day, count in zip(PLACEHOLDER_DATES, tally.placeholder_day_rows.tolist(), strict=True):
            if count:
                found[day.isoformat()] = count
    order = [*PLACEHOLDER_TEXTS, *(day.isoformat() for day in PLACEHOLDER_DATES)]
    return {key: found[key] for key in order if key in found}


def _person_column(names: Sequence[str], kind: InputKind) -> str | None:
    candidates = M365_PERSON_COLUMNS if kind is InputKind.M365_CSV else (rules.PERSON_ID,)
    return next((name for name in candidates if name in names), None)


def _days(values: pa.Array, blank: np.ndarray, date_order: DateOrder) -> np.ndarray:
    """Days since 1970 of date texts (ISO or the Viva forms of the date order), `MISSING` where a text
    is blank or unreadable."""
    if blank.any():  # as null: an empty text would take the dates off their fast path
        values = pc.if_else(pa.array(blank), pa.scalar(None, pa.string()), values)
    iso = real_days(pc.utf8_slice_codeunits(values, 0, 10))
    days = pc.coalesce(iso, viva_date_days(values, date_order))
    return as_numpy(pc.cast(pc.cast(days, pa.int32()), pa.int64()), MISSING)


def _integers(values: pa.Array) -> np.ndarray:
    """Whole numbers of texts (a Layer), `MISSING` for anything else."""
    digits = pc.if_else(pc.match_substring_regex(values, rules.INTEGER_PATTERN), values, None)
    return as_numpy(pc.cast(digits, pa.int64(), safe=False), MISSING)


def may_name(label: str) -> bool:
    """Whether a group's value may be shown: not when it looks like an address or a date, which are a
    person's own values even in a text column (a manager's address shared by their reports)."""
    return "@" not in label and DATE_LIKE.match(label) is None


def _org_tree(parent: np.ndarray, layer: np.ndarray | None) -> OrgTree:
    """Depth, span of control, breaks and loops of the reporting lines on each person's latest row.

    Args:
        parent: each person's manager as a person (NO_MANAGER, NOT_IN_FILE).
        layer: each person's Layer on that row (MISSING if none), when the file has the column.
    """
    size = parent.size
    depth = np.full(size, -1, dtype=np.int64)
    depth[parent == NO_MANAGER] = 0
    for _ in range(size):
        pending = (depth < 0) & (parent >= 0)
        reached = pending.copy()
        reached[pending] = depth[parent[pending]] >= 0
        if not reached.any():
            break
        depth[reached] = depth[parent[reached]] + 1
    in_cycles = _cycle_members(parent, depth)
    known = depth >= 0
    reports = np.bincount(parent[parent >= 0], minlength=size)
    spans = []
    for low, high in SPAN_BINS:
        chosen = (reports >= low) if high is None else ((reports >= low) & (reports <= high))
        label = f"{low}+" if high is None else (str(low) if low == high else f"{low}-{high}")
        spans.append((label, int(np.count_nonzero(chosen))))
    layer_vs_depth = None
    if layer is not None:
        both = known & (layer != MISSING)
        pairs, counts = np.unique(np.stack([layer[both], depth[both]]), axis=1, return_counts=True)
        layer_vs_depth = {
            (int(a), int(b)): int(n) for (a, b), n in zip(pairs.T.tolist(), counts.tolist(), strict=True)
        }
    depths, depth_people = np.unique(depth[known], return_counts=True)
    return OrgTree(
        people=size,
        tops=int(np.count_nonzero(parent == NO_MANAGER)),
        manager_not_in_file=int(np.count_nonzero(parent == NOT_IN_FILE)),
        in_cycles=in_cycles,
        depth_counts=dict(zip(depths.tolist(), depth_people.tolist(), strict=True)),
        unknown_depth=int(np.count_nonzero(~known)),
        span_counts=spans,
        managers=int(np.count_nonzero(reports)),
        layer_vs_depth=layer_vs_depth,
    )


def _cycle_members(parent: np.ndarray, depth: np.ndarray) -> int:
    """People on a reporting loop: of those whose chain never reaches a top, the ones left after
    peeling off, again and again, everyone nobody unresolved reports to (each person has one manager,
    so what remains is exactly the loops)."""
    alive = (depth < 0) & (parent >= 0)
    while True:
        incoming = np.bincount(parent[alive], minlength=parent.size) if alive.any() else np.zeros(parent.size)
        leaves = alive & (incoming == 0)
        # A chain that ends at a manager not in the file is no loop either.
        ends = alive.copy()
        ends[alive] = ~alive[parent[alive]]
        drop = leaves | ends
        if not drop.any():
            return int(np.count_nonzero(alive))
        alive &= ~drop


def _hire_dates(chosen: np.ndarray, filled: np.ndarray, today: datetime.date) -> HireDates:
    """HireDate on each person's latest row: `chosen` as days (MISSING if none), `filled` if not blank."""
    dated = chosen != MISSING
    today_days = (today - EPOCH).days
    try:
        long_ago = today.replace(year=today.year - LONG_TENURE_YEARS)
    except ValueError:  # 29 February
        long_ago = today.replace(year=today.year - LONG_TENURE_YEARS, day=28)
    return HireDates(
        people=int(chosen.size),
        dated=int(np.count_nonzero(dated)),
        long_tenure=int(np.count_nonzero(dated & (chosen <= (long_ago - EPOCH).days))),
        future=int(np.count_nonzero(dated & (chosen > today_days))),
        unreadable=int(np.count_nonzero(filled & ~dated)),
    )


def columns_of(headers: Iterable[str], tokens: Mapping[str, str]) -> list[Column]:
    """The columns of a file: each with the kind and date order of its metadata.json type token."""
    result = []
    for name in headers:
        token = tokens.get(name, rules.STRING_TYPE)
        order = DateOrder.of_type_token(token) or rules.DEFAULT_DATE_ORDER
        result.append(Column(name, rules.kind_of_token(token), order))
    return result
