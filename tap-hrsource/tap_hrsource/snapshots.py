"""Monthly snapshots from effective-dated history.

A source row says "from EffectiveDate on, this person looks like this". For each of the last
`months` month starts, a person's snapshot is their latest row effective on or before that day,
re-dated to the month start. Months before the person's first row (not yet hired) and months after
their end date (terminated before the month started) are left out. Viva recommends 13 monthly
snapshots per person for a first import.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from itertools import groupby
from operator import itemgetter

from tap_hrsource.errors import HRSourceError
from tap_hrsource.settings import HistorySettings


def month_starts(last: dt.date, months: int) -> list[str]:
    """ISO month starts, oldest first, ending with the month of `last`."""
    year, month = last.year, last.month
    starts = []
    for _ in range(months):
        starts.append(dt.date(year, month, 1).isoformat())
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def expand_person(
    rows: list[dict], months: list[str], history: HistorySettings, as_datetime: bool
) -> Iterator[dict]:
    """Snapshots of one person; `rows` sorted by effective date."""
    effective, end_column = history.effective_date_column, history.end_date_column
    position = -1
    for month in months:
        while position + 1 < len(rows) and rows[position + 1][effective][:10] <= month:
            position += 1
        if position < 0:
            continue  # not hired yet
        current = rows[position]
        end = current.get(end_column) if end_column else None
        if end is not None and str(end)[:10] < month:
            continue  # left before this month started
        snapshot = dict(current)
        snapshot[effective] = f"{month}T00:00:00" if as_datetime else month
        yield snapshot


def expand_monthly_snapshots(
    records: Iterable[dict], history: HistorySettings, *, effective_is_datetime: bool = False
) -> Iterator[dict]:
    """Snapshots of every person for the configured months, person by person.

    Args:
        records: The stream's effective-dated rows, in any order.
        history: The history settings (person key, effective date column, months, end date column).
        effective_is_datetime: True when the effective date column holds date-times, not dates.

    Yields:
        One row per person per month start: the person's latest row effective on or before it.

    Raises:
        HRSourceError: A row has an empty person key or effective date.
    """
    person, effective = history.person_key, history.effective_date_column
    rows = list(records)
    for row in rows:
        if row.get(person) is None or row.get(effective) is None:
            raise HRSourceError(
                f"Monthly snapshots need {person!r} and {effective!r} on every row; a row has "
                f"{person}={row.get(person)!r}, {effective}={row.get(effective)!r}."
            )
    rows.sort(key=itemgetter(person, effective))
    months = month_starts(history.snapshot_end_date, history.months)
    for _, person_rows in groupby(rows, key=itemgetter(person)):
        yield from expand_person(list(person_rows), months, history, effective_is_datetime)
