"""Checks that need every row at once: duplicates, managers, reporting loops, monthly snapshots.

Rows are kept as four integer arrays (person code, manager code, day, row number), about 16 bytes a
row, so a million-row file costs ~16 MB whatever the width of data.csv. Email addresses are coded with
one growing Arrow dictionary. The org chart is evaluated the way Viva reads effective-dated data: a
person's latest row on or before a date holds on that date.
"""

from __future__ import annotations

import dataclasses
import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from target_viva_insights import rules
from target_viva_insights.report import MAX_ISSUES_PER_RULE, Issue, Severity, ValidationReport

NO_MANAGER = -1
ABSENT = -2
# Reporting chains longer than this are followed one step at a time (rare; org charts are shallow).
DOUBLING_ROUNDS = 6
EPOCH = datetime.date(1970, 1, 1)


@dataclasses.dataclass
class _Rows:
    person: np.ndarray
    manager: np.ndarray
    day: np.ndarray
    row: np.ndarray


class EmailCodes:
    """Dense integer codes for email addresses, shared by the PersonId and ManagerId columns."""

    def __init__(self) -> None:
        self.values = pa.array([], type=pa.string())

    def encode(self, emails: pa.Array) -> np.ndarray:
        """Codes for `emails`; -1 where the address is missing."""
        codes = pc.index_in(emails, value_set=self.values)
        unseen = pc.and_(pc.is_null(codes), pc.is_valid(emails))
        if pc.any(unseen).as_py():
            self.values = pa.concat_arrays([self.values, pc.unique(pc.filter(emails, unseen))])
            codes = pc.index_in(emails, value_set=self.values)
        return pc.fill_null(codes, -1).to_numpy(zero_copy_only=False).astype(np.int32)

    def email(self, code: int) -> str:
        return str(self.values[code].as_py())


class Hierarchy:
    """Collects (PersonId, ManagerId, EffectiveDate) per row and judges the organization at the end."""

    def __init__(self, *, has_manager: bool) -> None:
        self.has_manager = has_manager
        self.codes = EmailCodes()
        self._chunks: list[_Rows] = []

    def add(self, person: pa.Array, manager: pa.Array | None, days: pa.Array, first_row: int) -> None:
        """`person`/`manager`: addresses (null when blank); `days`: date32 (null when invalid)."""
        size = len(person)
        manager_codes = (
            self.codes.encode(manager) if manager is not None else np.full(size, NO_MANAGER, np.int32)
        )
        day_numbers = pc.fill_null(pc.cast(days, pa.int32()), np.iinfo(np.int32).min)
        self._chunks.append(
            _Rows(
                person=self.codes.encode(person),
                manager=manager_codes,
                day=day_numbers.to_numpy(zero_copy_only=False).astype(np.int32),
                row=np.arange(first_row, first_row + size, dtype=np.int64),
            )
        )

    def person_count(self) -> int:
        return int(np.unique(self._usable_rows().person).size)

    def judge(self, report: ValidationReport) -> None:
        rows = self._usable_rows()
        if rows.person.size == 0:
            return
        self._check_duplicates(rows, report)
        if self.has_manager:
            self._check_managers_exist(rows, report)
            self._check_snapshots(rows, report)
        self._check_monthly_snapshots(rows, report)

    def _usable_rows(self) -> _Rows:
        """Rows with a person and a valid date: the others already failed a per-row rule."""
        if not self._chunks:
            empty = np.array([], dtype=np.int32)
            return _Rows(empty, empty, empty, empty.astype(np.int64))
        merged = _Rows(*(np.concatenate([getattr(c, f) for c in self._chunks]) for f in _ROW_FIELDS))
        self._chunks = [merged]
        keep = (merged.person >= 0) & (merged.day != np.iinfo(np.int32).min)
        return _Rows(*(getattr(merged, f)[keep] for f in _ROW_FIELDS))

    # -- one row per person and date -------------------------------------------------------------

    def _check_duplicates(self, rows: _Rows, report: ValidationReport) -> None:
        order = np.lexsort((rows.row, rows.day, rows.person))
        person, day = rows.person[order], rows.day[order]
        same_as_previous = (person[1:] == person[:-1]) & (day[1:] == day[:-1])
        repeats = np.nonzero(same_as_previous)[0] + 1
        if repeats.size == 0:
            return
        first_of_group = _first_of_runs(same_as_previous)
        samples = []
        conflicts = []
        for position in repeats[:MAX_ISSUES_PER_RULE]:
            first = order[first_of_group[position - 1]]
            current = order[position]
            email, date = self.codes.email(int(rows.person[current])), _date_text(int(rows.day[current]))
            samples.append(
                Issue(
                    Severity.ERROR,
                    "duplicate-person-date",
                    f"a second row for {rules.PERSON_ID} {email} and {rules.EFFECTIVE_DATE} {date} "
                    f"(first on row {rows.row[first]})",
                    row=int(rows.row[current]),
                    column=rules.PERSON_ID,
                    value=email,
                )
            )
            if self.has_manager and rows.manager[current] != rows.manager[first]:
                conflicts.append(
                    Issue(
                        Severity.ERROR,
                        "several-managers",
                        f"{email} has more than one {rules.MANAGER_ID} on {rules.EFFECTIVE_DATE} {date} "
                        f"(row {rows.row[first]} says otherwise)",
                        row=int(rows.row[current]),
                        column=rules.MANAGER_ID,
                        value=self._email_or_blank(int(rows.manager[current])),
                    )
                )
        report.add_found(int(repeats.size), samples)
        report.add_found(len(conflicts), conflicts)

    # -- managers ------------------------------------------------------------------------------------

    def _check_managers_exist(self, rows: _Rows, report: ValidationReport) -> None:
        has_manager = rows.manager >= 0
        unknown = has_manager & ~np.isin(rows.manager, np.unique(rows.person))
        positions = np.nonzero(unknown)[0]
        samples = [
            Issue(
                Severity.ERROR,
                "manager-not-a-person",
                f"the manager has no row of their own ({rules.PERSON_ID}); every manager must be in the file",
                row=int(rows.row[index]),
                column=rules.MANAGER_ID,
                value=self.codes.email(int(rows.manager[index])),
            )
            for index in positions[:MAX_ISSUES_PER_RULE]
        ]
        report.add_found(int(positions.size), samples)

    def _check_snapshots(self, rows: _Rows, report: ValidationReport) -> None:
        """Walk the dates in order and judge the org chart at each.

        Change rows carry a person's latest row forward (Viva's reading of effective dates); when every
        date is a month start the file holds monthly snapshots, and each one is a complete org chart.
        """
        complete_snapshots = _all_month_starts(rows.day)
        order = np.lexsort((rows.row, rows.day))
        days = rows.day[order]
        boundaries = np.nonzero(np.diff(days))[0] + 1
        starts = np.concatenate(([0], boundaries))
        ends = np.concatenate((boundaries, [days.size]))
        population = len(self.codes.values)
        manager_of = np.full(population, ABSENT, dtype=np.int64)
        row_of = np.zeros(population, dtype=np.int64)
        seen_loops: set[frozenset[int]] = set()
        reported_tops: set[int] = set()
        loop_issues: list[Issue] = []
        top_issues: list[Issue] = []
        for start, end in zip(starts, ends, strict=True):
            chunk = order[start:end]
            if complete_snapshots:
                manager_of.fill(ABSENT)
            manager_of[rows.person[chunk]] = rows.manager[chunk]
            row_of[rows.person[chunk]] = rows.row[chunk]
            date = _date_text(int(days[start]))
            top_issues.extend(self._extra_tops(manager_of, row_of, date, reported_tops))
            loop_issues.extend(self._loops(manager_of, row_of, date, seen_loops))
        report.add_found(len(top_issues), top_issues)
        report.add_found(len(loop_issues), loop_issues)

    def _extra_tops(
        self, manager_of: np.ndarray, row_of: np.ndarray, date: str, reported: set[int]
    ) -> list[Issue]:
        """Only the top of the hierarchy may have a blank ManagerId."""
        tops = np.nonzero(manager_of == NO_MANAGER)[0]
        if tops.size <= 1:
            return []
        issues = []
        for person in tops:
            if int(person) in reported:
                continue
            reported.add(int(person))
            issues.append(
                Issue(
                    Severity.ERROR,
                    "manager-missing",
                    f"{tops.size} people have no {rules.MANAGER_ID} as of {date}; only the top of the "
                    "hierarchy may have none",
                    row=int(row_of[person]),
                    column=rules.MANAGER_ID,
                    value=self.codes.email(int(person)),
                )
            )
        return issues

    def _loops(
        self, manager_of: np.ndarray, row_of: np.ndarray, date: str, seen: set[frozenset[int]]
    ) -> list[Issue]:
        """People whose chain of managers never reaches the top: pointer doubling, then exact walks."""
        step = np.where(manager_of >= 0, manager_of, -1)
        # A manager who has no row yet ends the chain here, like the top does.
        step = np.where((step >= 0) & (manager_of[np.maximum(step, 0)] == ABSENT), -1, step)
        jump = step.copy()
        for _ in range(DOUBLING_ROUNDS):
            jump = np.where(jump >= 0, jump[np.maximum(jump, 0)], -1)
        issues = []
        for person in np.nonzero(jump >= 0)[0]:
            cycle = _cycle_reached_from(int(person), step)
            if cycle is None or frozenset(cycle) in seen:
                continue
            seen.add(frozenset(cycle))
            chain = " -> ".join(self.codes.email(member) for member in [*cycle, cycle[0]])
            issues.extend(
                Issue(
                    Severity.ERROR,
                    "reporting-loop",
                    f"reporting loop as of {date}: {chain}",
                    row=int(row_of[member]),
                    column=rules.MANAGER_ID,
                    value=self.codes.email(int(step[member])),
                )
                for member in cycle
            )
        return issues

    # -- data-quality warnings -----------------------------------------------------------------------

    def _check_monthly_snapshots(self, rows: _Rows, report: ValidationReport) -> None:
        months = _month_numbers(rows.day)
        distinct_months = np.unique(months).size
        if distinct_months < rules.RECOMMENDED_MONTHLY_SNAPSHOTS:
            report.add(
                Issue(
                    Severity.WARNING,
                    "few-monthly-snapshots",
                    f"the data covers {distinct_months} month(s); Viva recommends "
                    f"{rules.RECOMMENDED_MONTHLY_SNAPSHOTS} monthly snapshots per person for a first import",
                    column=rules.EFFECTIVE_DATE,
                )
            )
        if not _all_month_starts(rows.day):
            return  # effective-dated change rows: gaps between changes are expected
        order = np.lexsort((months, rows.person))
        person, month = rows.person[order], months[order]
        new_person = np.concatenate(([True], person[1:] != person[:-1]))
        gap_after = (~new_person[1:]) & (month[1:] - month[:-1] > 1)
        gaps = np.nonzero(gap_after)[0] + 1
        samples = [
            Issue(
                Severity.WARNING,
                "missing-monthly-snapshot",
                "a month without a row for this person between two of their monthly snapshots",
                row=int(rows.row[order[index]]),
                column=rules.PERSON_ID,
                value=self.codes.email(int(person[index])),
            )
            for index in gaps[:MAX_ISSUES_PER_RULE]
        ]
        report.add_found(int(gaps.size), samples)

    def _email_or_blank(self, code: int) -> str:
        return self.codes.email(code) if code >= 0 else ""


_ROW_FIELDS = ("person", "manager", "day", "row")


def _first_of_runs(same_as_previous: np.ndarray) -> np.ndarray:
    """For each position 1..n-1 of a sorted array, the index where its run of equal keys starts."""
    starts = np.where(~same_as_previous, np.arange(1, same_as_previous.size + 1), 0)
    return np.maximum.accumulate(starts)


def _cycle_reached_from(person: int, step: np.ndarray) -> list[int] | None:
    """The loop that `person`'s chain of managers runs into, or None when the chain ends."""
    order_seen: dict[int, int] = {}
    current = person
    while current >= 0 and current not in order_seen:
        order_seen[current] = len(order_seen)
        current = int(step[current])
    if current < 0:
        return None
    members = list(order_seen)[order_seen[current] :]
    first = members.index(min(members))
    return members[first:] + members[:first]


def _date_text(day: int) -> str:
    return (EPOCH + datetime.timedelta(days=day)).isoformat()


def _month_numbers(days: np.ndarray) -> np.ndarray:
    dates = days.astype("datetime64[D]")
    return dates.astype("datetime64[M]").astype(np.int64)


def _all_month_starts(days: np.ndarray) -> bool:
    dates = days.astype("datetime64[D]")
    return bool(np.all(dates == dates.astype("datetime64[M]").astype("datetime64[D]")))
