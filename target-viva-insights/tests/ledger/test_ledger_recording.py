"""Recording a full import: one row per key (the last given) and each person's latest row (of equal
dates, the last row given), against a plain Python reading of the same rules."""

from __future__ import annotations

import numpy as np
from target_viva_insights.ledger.digests import NO_DATE, RowDigests
from target_viva_insights.ledger.store import _last_per_key, _latest_per_person


def some_rows(count: int, seed: int) -> RowDigests:
    rng = np.random.default_rng(seed)
    people = rng.integers(1, 2**63, 40, dtype=np.uint64)
    return RowDigests(
        key=rng.integers(1, 2**63, count, dtype=np.uint64),
        value=np.arange(count, dtype=np.uint64),  # says which row of the input an entry is
        person=people[rng.integers(0, people.size, count)],
        manager=rng.integers(0, 2**63, count, dtype=np.uint64),
        date=rng.choice(np.array([NO_DATE, 19000, 19031, 19059], dtype=np.int32), count),
    )


def test_each_persons_latest_row_is_the_last_of_their_latest_date() -> None:
    rows = some_rows(2_000, seed=7)
    expected: dict[int, tuple[int, int]] = {}  # person -> (date, input row)
    for position, (person, date) in enumerate(zip(rows.person.tolist(), rows.date.tolist(), strict=True)):
        if person not in expected or date >= expected[person][0]:
            expected[person] = (date, position)
    people = _latest_per_person(rows)
    assert people.person.tolist() == sorted(expected)
    assert people.value.tolist() == [expected[p][1] for p in sorted(expected)]
    assert people.date.tolist() == [expected[p][0] for p in sorted(expected)]
    assert len(_latest_per_person(rows.select(np.zeros(0, dtype=np.int64)))) == 0


def test_one_row_per_key_sorted_in_place_or_copied() -> None:
    rows = some_rows(1_000, seed=11)
    unique = _last_per_key(rows)
    assert unique.key.tolist() == sorted(rows.key.tolist())
    by_key = dict(zip(rows.key.tolist(), rows.value.tolist(), strict=True))
    assert unique.value.tolist() == [by_key[k] for k in unique.key.tolist()]
    in_place = _last_per_key(rows, in_place=True)
    assert in_place is rows and rows.key.tolist() == unique.key.tolist()
    assert rows.value.tolist() == unique.value.tolist() and rows.date.tolist() == unique.date.tolist()
    repeated = some_rows(100, seed=3)
    repeated.key[50:] = repeated.key[:50]  # the second half repeats the first half's keys
    last = _last_per_key(repeated)
    assert len(last) == 50 and sorted(last.value.tolist()) == list(range(50, 100))
