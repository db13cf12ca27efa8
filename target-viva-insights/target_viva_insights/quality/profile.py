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
    codes = _person_codes(_trimmed(pa.chunked_array([people]) if isinstance(people, pa.Array) else people), 0)
    touched = np.unique(codes[comparison.to_send & (codes >= 0)])
    added = np.unique(codes[comparison.new_people & (codes >= 0)])
    counts = comparison.summary()
    return Changes(
        people_added=counts["people_added"],
        people_removed=counts["people_absent"],
        people_changed=int(np.setdiff1d(touched, added).size),
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
    today = reference_day or datetime.datetime.now(datetime.timezone.utc).date()
    names = [column.name for column in columns]
    text = {name: _trimmed(table.column(name)) for name in names}
    person_name = _person_column(names, kind)
    rows = table.num_rows
    person = _person_codes(text.get(person_name) if person_name else None, rows)
    people = int(np.unique(person[person >= 0]).size)
    by_name = {column.name: column for column in columns}
    day = _days(text, by_name.get(rules.EFFECTIVE_DATE))
    latest = _latest_rows(person, day)
    attributes = [
        _attribute(text[column.name], column, person, people, kind)
        for column in columns
        if column.name != person_name
    ]
    manager_name = M365_MANAGER_COLUMN if kind is InputKind.M365_CSV else rules.MANAGER_ID
    org = None
    if person_name and manager_name in text:
        org = _org_tree(text[person_name], text[manager_name], latest, _layers(text.get(rules.LAYER), latest))
    hire = None
    if HIRE_DATE in by_name:
        hire = _hire_dates(_days(text, by_name[HIRE_DATE]), text[HIRE_DATE], latest, today)
    gates = []
    if kind is InputKind.M365_CSV:
        gates = [_gate(name, text.get(name), person, people) for name in M365_GATED_COLUMNS]
    return QualityProfile(
        source=source,
        kind=kind,
        rows=rows,
        people=people,
        effective_dates=int(np.unique(day[day != MISSING]).size) if day is not None else 0,
        columns=names,
        months=_people_per_month(person, day),
        attributes=attributes,
        org=org,
        hire=hire,
        gates=gates,
        reference_day=today,
    )


def _trimmed(values: pa.ChunkedArray) -> pa.Array:
    """Text with surrounding blanks removed; null for an empty cell."""
    combined = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_dictionary(combined.type):
        combined = combined.cast(pa.string())
    stripped = pc.utf8_trim_whitespace(combined)
    return pc.if_else(pc.equal(stripped, ""), pa.scalar(None, pa.string()), stripped)


def _person_column(names: Sequence[str], kind: InputKind) -> str | None:
    candidates = M365_PERSON_COLUMNS if kind is InputKind.M365_CSV else (rules.PERSON_ID,)
    return next((name for name in candidates if name in names), None)


def _person_codes(values: pa.Array | None, rows: int) -> np.ndarray:
    """A dense code per distinct person (-1 for a blank one); each row is a person without a column."""
    if values is None:
        return np.arange(rows, dtype=np.int64)
    encoded = pc.dictionary_encode(values)
    return np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _days(text: Mapping[str, pa.Array], column: Column | None) -> np.ndarray | None:
    """Days since 1970 of a date column (ISO or the Viva forms of its date order); None without it,
    and NaT-like `MISSING` where a cell is blank or unreadable."""
    if column is None or column.name not in text:
        return None
    values = text[column.name]
    iso = real_days(pc.utf8_slice_codeunits(values, 0, 10))
    days = pc.coalesce(iso, viva_date_days(values, column.date_order))
    as_int = pc.cast(pc.cast(days, pa.int32()), pa.int64())
    return np.asarray(pc.fill_null(as_int, MISSING).to_numpy(zero_copy_only=False), dtype=np.int64)


def _latest_rows(person: np.ndarray, day: np.ndarray | None) -> np.ndarray:
    """The position of each person's latest row (by EffectiveDate, then file order)."""
    positions = np.arange(person.size)
    known = person >= 0
    when = day if day is not None else np.zeros(person.size, dtype=np.int64)
    order = np.lexsort((positions[known], when[known], person[known]))
    sorted_people = person[known][order]
    last = np.r_[sorted_people[1:] != sorted_people[:-1], True] if sorted_people.size else np.zeros(0, bool)
    return np.asarray(positions[known][order][last], dtype=np.int64)


def distinct_pairs(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The distinct (first, second) pairs of two non-negative-or-small int64 arrays, as two rows.

    One 1-D unique over a combined key: much faster than numpy's unique over the columns of a 2-D array.
    """
    if not first.size:
        return np.zeros((2, 0), dtype=np.int64)
    low = int(second.min())
    width = int(second.max()) - low + 1
    keys = np.unique((first - int(first.min())) * width + (second - low))
    return np.stack([keys // width + int(first.min()), keys % width + low])


def _people_per_month(person: np.ndarray, day: np.ndarray | None) -> list[MonthPoint]:
    """Distinct people with a row whose EffectiveDate falls in each month, months without rows included."""
    if day is None:
        return []
    usable = (day != MISSING) & (person >= 0)
    if not usable.any():
        return []
    month = day[usable].astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    pairs = distinct_pairs(month, person[usable])
    months, counts = np.unique(pairs[0], return_counts=True)
    by_month = dict(zip(months.tolist(), counts.tolist(), strict=True))
    points: list[MonthPoint] = []
    for value in range(int(months[0]), int(months[-1]) + 1):
        count = int(by_month.get(value, 0))
        change, share = None, 0.0
        if points and points[-1].people:
            share = (count - points[-1].people) / points[-1].people
            if abs(share) >= SUDDEN_CHANGE_SHARE:
                change = Change.JUMP if share > 0 else Change.DROP
        year, month_index = divmod(value, 12)
        points.append(MonthPoint(datetime.date(1970 + year, month_index + 1, 1), count, change, share))
    return points


def _attribute(
    values: pa.Array, column: Column, person: np.ndarray, people: int, kind: InputKind
) -> AttributeProfile:
    rows = len(values)
    filled = pc.is_valid(values)
    filled_rows = int(pc.sum(filled).as_py() or 0)
    encoded = pc.dictionary_encode(values)
    labels = encoded.dictionary
    code = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    usable = (code >= 0) & (person >= 0)
    pairs = distinct_pairs(code[usable], person[usable])
    group_people = np.bincount(pairs[0], minlength=len(labels))
    covered = int(np.unique(pairs[1]).size)
    small = group_people < PRIVACY_MINIMUM
    order = np.argsort(-group_people, kind="stable")[:TOP_GROUPS]
    shown = column.kind in LABELLED_KINDS
    largest = []
    for i in order:
        label = str(labels[int(i)].as_py())
        named = shown and group_people[i] >= PRIVACY_MINIMUM and may_name(label)
        largest.append(Group(label if named else None, int(group_people[i])))
    warnings = []
    unique = len(labels)
    if column.kind is ValueKind.STRING and unique > MAX_UNIQUE_VALUES:
        warnings.append(AttributeWarning.TOO_MANY_VALUES)
    if rows and 1 - filled_rows / rows >= MISSING_SHARE_WARNING:
        warnings.append(AttributeWarning.MOSTLY_MISSING)
    if column.kind in LABELLED_KINDS and small.any():
        warnings.append(AttributeWarning.SMALL_GROUPS)
    if unique == 1:
        warnings.append(AttributeWarning.CONSTANT)
    gated = kind is InputKind.M365_CSV and column.name in M365_GATED_COLUMNS
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
        placeholders=_placeholders(values, column),
        people_covered=covered,
        people=people,
        warnings=warnings,
    )


def may_name(label: str) -> bool:
    """Whether a group's value may be shown: not when it looks like an address or a date, which are a
    person's own values even in a text column (a manager's address shared by their reports)."""
    return "@" not in label and DATE_LIKE.match(label) is None


def _placeholders(values: pa.Array, column: Column) -> dict[str, int]:
    """How often each placeholder for "unknown" stands in the column: the listed texts, and the
    placeholder dates (read as dates in a date column, matched in their usual written forms elsewhere)."""
    found: dict[str, int] = {}
    forms = {text: text for text in PLACEHOLDER_TEXTS}
    if column.kind is not ValueKind.DATE:
        for day in PLACEHOLDER_DATES:
            for form in ("%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y"):
                forms[day.strftime(form)] = day.isoformat()
    matched = pc.filter(values, pc.is_in(values, value_set=pa.array(list(forms), pa.string())))
    if len(matched):
        for entry in pc.value_counts(matched).to_pylist():
            key = forms[entry["values"]]
            found[key] = found.get(key, 0) + int(entry["counts"])
    if column.kind is ValueKind.DATE:
        days = _days({column.name: values}, column)
        assert days is not None
        for day in PLACEHOLDER_DATES:
            count = int(np.count_nonzero(days == (day - EPOCH).days))
            if count:
                found[day.isoformat()] = count
    order = [*PLACEHOLDER_TEXTS, *(day.isoformat() for day in PLACEHOLDER_DATES)]
    return {key: found[key] for key in order if key in found}


def _layers(values: pa.Array | None, latest: np.ndarray) -> np.ndarray | None:
    if values is None:
        return None
    chosen = pc.take(values, pa.array(latest))
    digits = pc.if_else(pc.match_substring_regex(chosen, rules.INTEGER_PATTERN), chosen, None)
    as_int = pc.cast(digits, pa.int64(), safe=False)
    return np.asarray(pc.fill_null(as_int, MISSING).to_numpy(zero_copy_only=False), dtype=np.int64)


NOT_IN_FILE = -2


def _org_tree(
    person_text: pa.Array, manager_text: pa.Array, latest: np.ndarray, layer: np.ndarray | None
) -> OrgTree:
    """Depth, span of control, breaks and loops of the reporting lines on each person's latest row."""
    taken = pa.array(latest)
    persons = pc.take(person_text, taken)
    managers = pc.take(manager_text, taken)
    index = pc.index_in(managers, value_set=persons)
    parent = np.asarray(pc.fill_null(index, NOT_IN_FILE).to_numpy(zero_copy_only=False), dtype=np.int64)
    parent[np.asarray(pc.is_null(managers).to_numpy(zero_copy_only=False))] = NO_MANAGER
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


def _hire_dates(
    days: np.ndarray | None, text: pa.Array, latest: np.ndarray, today: datetime.date
) -> HireDates:
    assert days is not None
    chosen = days[latest]
    dated = chosen != MISSING
    filled = np.asarray(pc.is_valid(text).to_numpy(zero_copy_only=False), dtype=bool)[latest]
    today_days = (today - EPOCH).days
    try:
        long_ago = today.replace(year=today.year - LONG_TENURE_YEARS)
    except ValueError:  # 29 February
        long_ago = today.replace(year=today.year - LONG_TENURE_YEARS, day=28)
    return HireDates(
        people=int(latest.size),
        dated=int(np.count_nonzero(dated)),
        long_tenure=int(np.count_nonzero(dated & (chosen <= (long_ago - EPOCH).days))),
        future=int(np.count_nonzero(dated & (chosen > today_days))),
        unreadable=int(np.count_nonzero(filled & ~dated)),
    )


def _gate(name: str, values: pa.Array | None, person: np.ndarray, people: int) -> Gate:
    if values is None:
        return Gate(name, 0, people, present=False)
    filled = np.asarray(pc.is_valid(values).to_numpy(zero_copy_only=False), dtype=bool) & (person >= 0)
    return Gate(name, int(np.unique(person[filled]).size), people, present=True)


def columns_of(headers: Iterable[str], tokens: Mapping[str, str]) -> list[Column]:
    """The columns of a file: each with the kind and date order of its metadata.json type token."""
    result = []
    for name in headers:
        token = tokens.get(name, rules.STRING_TYPE)
        order = DateOrder.of_type_token(token) or rules.DEFAULT_DATE_ORDER
        result.append(Column(name, rules.kind_of_token(token), order))
    return result
