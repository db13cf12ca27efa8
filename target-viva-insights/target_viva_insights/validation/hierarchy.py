"""Checks that need every row at once: duplicates, managers, reporting loops, monthly snapshots.

Rows are kept as three int32 arrays (person code, manager code, day), 12 bytes a row, so a million-row
file costs ~12 MB whatever the width of data.csv; line numbers follow from positions. Email addresses
are coded with one growing Arrow dictionary. The org chart is evaluated the way Viva reads
effective-dated data: a person's latest row on or before a date holds on that date.
"""

from __future__ import annotations

import dataclasses
import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from target_viva_insights import rules
from target_viva_insights.catalogue import Rule
from target_viva_insights.ledger.digest_index import find_sorted
from target_viva_insights.ledger.held import (
    HeldChart,
    HeldOrganization,
    month_keys,
    months_of,
    split_month_keys,
)
from target_viva_insights.memory import release_freed_memory
from target_viva_insights.validation.report import MAX_ISSUES_PER_RULE, Issue, ValidationReport

MISSING_DAY = np.iinfo(np.int32).min
NO_MANAGER = -1
CODE_EVERY_ROWS = 20_000
# The most rows that wait to be coded: their addresses are held twice while they are coded.
CODE_AT_MOST_ROWS = 50_000
RELEASE_EVERY_CHUNKS = 4
ABSENT = -2
# Reporting chains longer than this are followed one step at a time (rare; org charts are shallow).
DOUBLING_ROUNDS = 6
EPOCH = datetime.date(1970, 1, 1)
MONTHS_AT_ONCE = 1 << 18  # rows whose months are matched with Viva's at a time


@dataclasses.dataclass
class _Rows:
    person: np.ndarray
    manager: np.ndarray
    day: np.ndarray
    first_line: int = 2
    origin: np.ndarray | None = None  # positions in the file, when unusable rows were left out

    def lines(self, positions: np.ndarray) -> np.ndarray:
        """data.csv line numbers of rows at `positions`."""
        base = positions if self.origin is None else self.origin[positions]
        return base + self.first_line

    def line(self, position: int) -> int:
        return int(self.lines(np.array([position]))[0])


class EmailCodes:
    """Dense integer codes for email addresses, shared by the PersonId and ManagerId columns."""

    def __init__(self) -> None:
        self.values = pa.array([], type=pa.string())

    def encode(self, emails: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Codes for `emails` (chunked: no copy of the addresses); -1 where the address is missing."""
        codes = pc.index_in(emails, value_set=self.values)
        unseen = pc.and_(pc.is_null(codes), pc.is_valid(emails))
        if pc.any(unseen).as_py():
            self.values = pa.concat_arrays([self.values, pc.unique(pc.filter(emails, unseen))])
            codes = pc.index_in(emails, value_set=self.values)
        return pc.fill_null(codes, -1).to_numpy(zero_copy_only=False).astype(np.int32)

    def email(self, code: int) -> str:
        return str(self.values[code].as_py())


class MonthCoverage:
    """Per person: first and last month with a row and how many rows; gathered batch by batch."""

    def __init__(self) -> None:
        self.months: set[int] = set()
        self.all_month_starts = True
        self.first = np.array([], dtype=np.int32)
        self.last = np.array([], dtype=np.int32)
        self.rows = np.array([], dtype=np.int32)

    def add(self, person: np.ndarray, day: np.ndarray, population: int) -> None:
        usable = (person >= 0) & (day != MISSING_DAY)
        person, day = person[usable], day[usable]
        self._grow(population)
        distinct_days, position = np.unique(day, return_inverse=True)
        distinct_dates = distinct_days.astype("datetime64[D]")
        distinct_months = distinct_dates.astype("datetime64[M]")
        self.all_month_starts &= bool(np.all(distinct_dates == distinct_months.astype("datetime64[D]")))
        months = distinct_months.astype(np.int32)[position]
        self.months.update(int(month) for month in np.unique(months))
        np.minimum.at(self.first, person, months)
        np.maximum.at(self.last, person, months)
        self.rows += np.bincount(person, minlength=population)

    def _grow(self, population: int) -> None:
        extra = population - self.first.size
        if extra > 0:
            self.first = np.concatenate((self.first, np.full(extra, np.iinfo(np.int32).max, np.int32)))
            self.last = np.concatenate((self.last, np.full(extra, np.iinfo(np.int32).min, np.int32)))
            self.rows = np.concatenate((self.rows, np.zeros(extra, np.int32)))


class Hierarchy:
    """Collects (PersonId, ManagerId, EffectiveDate) per row and judges the organization at the end.

    Args:
        has_manager: data.csv has a ManagerId column.
        is_bootstrap: a full import (the 13-month snapshot advice is about a first, full import).
        held: what Viva already holds (an incremental import's earlier imports): managers it holds
            exist, chains of managers continue through its people, its months count for coverage.
    """

    def __init__(
        self,
        *,
        has_manager: bool,
        is_bootstrap: bool = True,
        held: HeldOrganization | None = None,
    ) -> None:
        self.has_manager = has_manager
        self.is_bootstrap = is_bootstrap
        self.held = held
        self._held_chart: HeldChart | None = None
        self.codes = EmailCodes()
        self._chunks: list[_Rows] = []
        self._first_line: int | None = None
        self._pending: list[tuple[pa.Array, pa.Array | None, pa.Array]] = []
        self._pending_rows = 0
        self._rows: _Rows | None = None
        self.coverage = MonthCoverage()

    def add(self, person: pa.Array, manager: pa.Array | None, days: pa.Array, first_row: int) -> None:
        """`person`/`manager`: addresses (null when blank); `days`: date32 (null when invalid).

        Batches are coded a few at a time: each lookup hashes every address seen so far, so fewer,
        larger lookups cost far less (a few MB of addresses wait in the meantime). They wait until
        there are as many rows as known addresses (within CODE_EVERY_ROWS..CODE_AT_MOST_ROWS): hashing
        then costs about one step per row instead of growing with the organization's size.
        """
        if self._first_line is None:
            self._first_line = first_row
        self._pending.append((person, manager, days))
        self._pending_rows += len(person)
        if self._pending_rows >= min(max(CODE_EVERY_ROWS, len(self.codes.values)), CODE_AT_MOST_ROWS):
            self._code_pending()

    def _code_pending(self) -> None:
        if not self._pending:
            return
        pending, size = self._pending, self._pending_rows
        self._pending, self._pending_rows = [], 0
        days = pa.concat_arrays([batch[2] for batch in pending])
        if pending[0][1] is None:
            person = pa.chunked_array([batch[0] for batch in pending], type=pa.string())
            person_codes, manager_codes = self.codes.encode(person), np.full(size, NO_MANAGER, np.int32)
        else:  # one lookup for both columns: each lookup hashes every address seen so far
            both_columns = [batch[0] for batch in pending] + [batch[1] for batch in pending]
            both = self.codes.encode(pa.chunked_array(both_columns, type=pa.string()))
            person_codes, manager_codes = both[:size], both[size:]
        day_numbers = pc.fill_null(pc.cast(days, pa.int32()), MISSING_DAY)
        rows = _Rows(
            person=person_codes,
            manager=manager_codes,
            day=day_numbers.to_numpy(zero_copy_only=False).astype(np.int32),
        )
        self._chunks.append(rows)
        self.coverage.add(rows.person, rows.day, len(self.codes.values))

    def person_count(self) -> int:
        self._code_pending()
        return int(np.count_nonzero(self.coverage.rows))

    def new_people_count(self) -> int | None:
        """How many people of the file Viva does not hold yet; None without `held`."""
        chart = self._chart()
        if chart is None:
            return None
        present = np.zeros(len(self.codes.values), dtype=bool)
        present[: self.coverage.rows.size] = self.coverage.rows > 0
        return int(np.count_nonzero(present & ~chart.held))

    def _chart(self) -> HeldChart | None:
        """What Viva holds about the file's addresses, worked out once, after every row is coded."""
        if self.held is None:
            return None
        self._code_pending()
        if self._held_chart is None or self._held_chart.held.size != len(self.codes.values):
            self._held_chart = self.held.chart(self.codes.values)
        return self._held_chart

    def judge(self, report: ValidationReport) -> None:
        self._code_pending()
        rows = self._usable_rows()
        if rows.person.size == 0:
            return
        self._check_duplicates(rows, report)
        if self.has_manager:
            self._check_managers_exist(rows, report)
            self._check_snapshots(rows, report)
        self._check_monthly_snapshots(report)

    def _usable_rows(self) -> _Rows:
        """All rows with a person and a valid date (the others already failed a per-row rule), once."""
        if self._rows is None:
            merged = self._merged_chunks()
            keep = (merged.person >= 0) & (merged.day != MISSING_DAY)
            if not keep.all():
                origin = np.nonzero(keep)[0]
                merged = _Rows(merged.person[keep], merged.manager[keep], merged.day[keep], origin=origin)
            merged.first_line = self._first_line or 2
            self._rows = merged
        return self._rows

    def _merged_chunks(self) -> _Rows:
        """One array per field, filled chunk by chunk so that each chunk is freed as it is copied.

        The freed chunks' memory goes back to the system every few chunks: otherwise the heap keeps
        it, and the run's peak RSS counts every row twice.
        """
        release_freed_memory()  # what coding the last rows needed
        total = sum(chunk.person.size for chunk in self._chunks)
        merged = _Rows(*(np.empty(total, dtype=np.int32) for _ in range(3)))  # type: ignore[arg-type]
        start = 0
        copied = 0
        while self._chunks:
            chunk = self._chunks.pop(0)
            copied += 1
            if copied % RELEASE_EVERY_CHUNKS == 0:
                release_freed_memory()
            end = start + chunk.person.size
            merged.person[start:end], merged.manager[start:end], merged.day[start:end] = (
                chunk.person,
                chunk.manager,
                chunk.day,
            )
            start = end
        return merged

    # -- one row per person and date -------------------------------------------------------------

    def _check_duplicates(self, rows: _Rows, report: ValidationReport) -> None:
        if not _has_duplicate_pairs(rows):
            return
        order = np.lexsort((np.arange(rows.person.size), rows.day, rows.person))
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
            email = self.codes.email(int(rows.person[current]))
            samples.append(
                Issue(
                    Rule.DUPLICATE_PERSON_DATE,
                    f"a second row for the same {rules.PERSON_ID} and {rules.EFFECTIVE_DATE} "
                    f"(first on row {rows.line(first)})",
                    row=rows.line(current),
                    column=rules.PERSON_ID,
                    value=email,
                )
            )
            if self.has_manager and rows.manager[current] != rows.manager[first]:
                conflicts.append(
                    Issue(
                        Rule.SEVERAL_MANAGERS,
                        f"another {rules.MANAGER_ID} than row {rows.line(first)} for the same "
                        f"{rules.PERSON_ID} and {rules.EFFECTIVE_DATE}",
                        row=rows.line(current),
                        column=rules.MANAGER_ID,
                        value=self._email_or_blank(int(rows.manager[current])),
                    )
                )
        report.add_found(int(repeats.size), samples)
        report.add_found(len(conflicts), conflicts)

    # -- managers ------------------------------------------------------------------------------------

    def _check_managers_exist(self, rows: _Rows, report: ValidationReport) -> None:
        # One slot per address plus a last one, which NO_MANAGER (-1) indexes: a blank is not unknown.
        is_known = np.zeros(len(self.codes.values) + 1, dtype=bool)
        is_known[rows.person] = True
        is_known[NO_MANAGER] = True
        chart = self._chart()
        if chart is not None:
            is_known[:-1] |= chart.held
        unknown = ~is_known[rows.manager]
        positions = np.nonzero(unknown)[0]
        samples = [
            Issue(
                Rule.MANAGER_NOT_A_PERSON,
                f"the manager has no row of their own ({rules.PERSON_ID})"
                + ("" if chart is None else " and is not among the people Viva already holds")
                + ": Viva will know nothing else about them",
                row=rows.line(index),
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
        complete_snapshots = self.coverage.all_month_starts
        blocks = _date_blocks(rows.day)
        order = None if blocks is not None else np.argsort(rows.day, kind="stable")
        if order is not None:
            blocks = _date_blocks(rows.day[order])
        population = len(self.codes.values)
        manager_of = np.full(population, ABSENT, dtype=np.int64)
        row_of = np.zeros(population, dtype=np.int64)
        seen_loops: set[frozenset[int]] = set()
        reported_tops: set[int] = set()
        loop_issues: list[Issue] = []
        top_issues: list[Issue] = []
        assert blocks is not None
        for start, end in blocks:
            chunk = np.arange(start, end) if order is None else order[start:end]
            if complete_snapshots:
                manager_of.fill(ABSENT)
            manager_of[rows.person[chunk]] = rows.manager[chunk]
            row_of[rows.person[chunk]] = rows.lines(chunk)
            date = _date_text(int(rows.day[chunk[0]]))
            changed = rows.person[chunk]
            top_issues.extend(self._extra_tops(manager_of, row_of, changed, date, reported_tops))
            loop_issues.extend(self._loops(manager_of, row_of, date, seen_loops))
        for rule in (Rule.MANAGER_MISSING, Rule.CO_LEADER):
            found = [issue for issue in top_issues if issue.rule is rule]
            report.add_found(len(found), found)
        report.add_found(len(loop_issues), loop_issues)

    def _extra_tops(
        self,
        manager_of: np.ndarray,
        row_of: np.ndarray,
        changed: np.ndarray,
        date: str,
        reported: set[int],
    ) -> list[Issue]:
        """Only the top of the hierarchy may have a blank ManagerId: the one with the most direct reports.

        A carried-forward row without a manager counts only while the person still has reports: change
        rows never say that a former leader left, so their last row would otherwise stay a second top.
        """
        direct_reports = np.bincount(manager_of[manager_of >= 0], minlength=manager_of.size)
        without_manager = manager_of == NO_MANAGER
        current = np.zeros(manager_of.size, dtype=bool)
        current[changed] = True
        tops = np.nonzero(without_manager & (current | (direct_reports > 0)))[0]
        if tops.size <= 1:
            return []
        top = tops[np.argmax(direct_reports[tops])]
        issues = []
        for person in tops:
            if person == top or int(person) in reported:
                continue
            reported.add(int(person))
            leads = direct_reports[person] > 0
            issues.append(
                Issue(
                    Rule.CO_LEADER if leads else Rule.MANAGER_MISSING,
                    f"no {rules.MANAGER_ID} as of {date}; only the top of the hierarchy "
                    f"(row {int(row_of[top])}) may have none"
                    + (" (a second leader with direct reports: Viva may accept it)" if leads else ""),
                    row=int(row_of[person]),
                    column=rules.MANAGER_ID,
                    value="",
                )
            )
        return issues

    def _loops(
        self, manager_of: np.ndarray, row_of: np.ndarray, date: str, seen: set[frozenset[int]]
    ) -> list[Issue]:
        """People whose chain of managers never reaches the top: pointer doubling, then exact walks.

        A person without a row (yet) ends the chain, like the top does, unless Viva holds them: then
        the chain goes on through Viva's data (`held`), where a loop can close as well.
        """
        chart = self._chart()
        step = np.where(manager_of >= 0, manager_of, -1)
        absent = manager_of == ABSENT
        step[absent] = chart.manager[absent] if chart is not None else -1
        jump = step.copy()
        for _ in range(DOUBLING_ROUNDS):
            jump = np.where(jump >= 0, jump[np.maximum(jump, 0)], -1)
        issues: list[Issue] = []
        for person in np.nonzero(jump >= 0)[0]:
            cycle = _cycle_reached_from(int(person), step)
            if cycle is None or frozenset(cycle) in seen:
                continue
            seen.add(frozenset(cycle))
            in_file = [member for member in cycle if not absent[member]]
            if not in_file:
                continue  # a loop in Viva's data alone: this file neither made nor can mend it
            chain = self._loop_chain(cycle, absent, row_of, chart)
            # Rows, not addresses: the message reaches the log, the addresses stay in the value column.
            issues.extend(
                Issue(
                    Rule.REPORTING_LOOP,
                    f"reporting loop as of {date}: {chain} (each row's {rules.MANAGER_ID} is the "
                    f"{rules.PERSON_ID} of the next)",
                    row=int(row_of[member]),
                    column=rules.MANAGER_ID,
                    value=self.codes.email(int(step[member])),
                )
                for member in in_file
            )
        return issues

    @staticmethod
    def _loop_chain(cycle: list[int], absent: np.ndarray, row_of: np.ndarray, chart: HeldChart | None) -> str:
        """ "row 4 -> a person Viva holds -> (2 more people Viva holds) -> row 4"."""
        parts: list[str] = []
        for member in cycle:
            if not absent[member]:
                parts.append(f"row {int(row_of[member])}")
                continue
            parts.append("a person Viva holds")
            unnamed = int(chart.unnamed_on_the_way[member]) if chart is not None else 0
            if unnamed:
                parts.append(f"({unnamed} more {'person' if unnamed == 1 else 'people'} Viva holds)")
        first = parts[0]
        return " -> ".join([*parts, first])

    # -- data-quality warnings -----------------------------------------------------------------------

    def _check_monthly_snapshots(self, report: ValidationReport) -> None:
        coverage = self.coverage
        if self.is_bootstrap and len(coverage.months) < rules.RECOMMENDED_MONTHLY_SNAPSHOTS:
            report.add(
                Issue(
                    Rule.FEW_MONTHLY_SNAPSHOTS,
                    f"the data covers {len(coverage.months)} month(s); Viva recommends "
                    f"{rules.RECOMMENDED_MONTHLY_SNAPSHOTS} monthly snapshots per person for a first import",
                    column=rules.EFFECTIVE_DATE,
                )
            )
        if not coverage.all_month_starts:
            return  # effective-dated change rows: gaps between changes are expected
        people = np.nonzero(coverage.rows)[0]
        first, last, rows = coverage.first[people], coverage.last[people], coverage.rows[people]
        whole_picture = self._with_held_months(people)
        if whole_picture is not None:
            first, last, rows = whole_picture
        # One row per person and month (a repeat was already an error of its own).
        missing = (last - first + 1) - rows
        gappy = np.nonzero(missing > 0)[0]
        held_too = "" if whole_picture is None else ", counting the months Viva already holds"
        samples = [
            Issue(
                Rule.MISSING_MONTHLY_SNAPSHOT,
                f"{int(missing[index])} month(s) without a row between this person's first and last "
                f"monthly snapshot{held_too}",
                column=rules.PERSON_ID,
                value=self.codes.email(int(people[index])),
            )
            for index in gappy[:MAX_ISSUES_PER_RULE]
        ]
        report.add_found(int(gappy.size), samples)

    def _with_held_months(self, people: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(first month, last month, months with a row) of `people` across the file and Viva's data;
        None when Viva's data is not monthly snapshots too (or is not known).

        Months in both count once: a person's months = the file's + Viva's - those in both.
        """
        chart = self._chart()
        if chart is None or not chart.months_are_snapshots:
            return None
        population = len(self.codes.values)
        held_address, held_month = split_month_keys(chart.held_months)
        # Keys are sorted by address, then month: each address's first and last month bound its run.
        first_at = np.flatnonzero(np.diff(held_address, prepend=-1))
        addresses = held_address[first_at]
        counts = np.diff(first_at, append=held_address.size)
        first = self.coverage.first.astype(np.int64)
        last = self.coverage.last.astype(np.int64)
        months = self.coverage.rows.astype(np.int64)
        first[addresses] = np.minimum(first[addresses], held_month[first_at])
        last[addresses] = np.maximum(last[addresses], held_month[first_at + counts - 1])
        months[addresses] += counts
        months -= self._months_in_both(chart.held_months, population)
        return first[people], last[people], months[people]

    def _months_in_both(self, held_months: np.ndarray, population: int) -> np.ndarray:
        """Per address: the months with a row both in the file and in Viva's data."""
        rows = self._usable_rows()
        in_both = np.zeros(population, dtype=np.int64)
        for start in range(0, rows.person.size, MONTHS_AT_ONCE):
            person = rows.person[start : start + MONTHS_AT_ONCE]
            months, _ = months_of(rows.day[start : start + MONTHS_AT_ONCE])
            found, _ = find_sorted(held_months, month_keys(person, months))
            in_both += np.bincount(person[found], minlength=population)
        return in_both

    def _email_or_blank(self, code: int) -> str:
        return self.codes.email(code) if code >= 0 else ""


def _date_blocks(day: np.ndarray) -> list[tuple[int, int]] | None:
    """(start, end) of each run of one date when rows come in date order (the usual case), else None."""
    if not bool(np.all(day[1:] >= day[:-1])):
        return None
    boundaries = (np.nonzero(day[1:] != day[:-1])[0] + 1).tolist()
    return list(zip([0, *boundaries], [*boundaries, day.size], strict=True))


def _has_duplicate_pairs(rows: _Rows) -> bool:
    """Whether some (person, day) pair repeats, sorting one date's rows at a time where possible."""
    blocks = _date_blocks(rows.day)
    if blocks is not None:
        for start, end in blocks:
            people = np.sort(rows.person[start:end])
            if np.any(people[1:] == people[:-1]):
                return True
        return False
    key = rows.person.astype(np.int64) << 32
    np.add(key, rows.day, out=key, casting="unsafe")  # distinct for any int32 day, no 64-bit temporary
    key.sort()
    return bool(np.any(key[1:] == key[:-1]))


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
