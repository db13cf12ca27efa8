"""What Viva already holds, as the org-chart checks of an incremental import see it.

An incremental import is judged together with the tenant's data: a manager Viva holds is a known
person, a reporting chain can run through people the file does not name (so a loop can close
there), and a person's monthly snapshots can be partly in earlier imports. Two sources:

- `HeldPersonIds`: a list of PersonIds (Viva's own export, a test);
- `LedgerOrganization`: the delivery ledger. It holds digests only, so the file's own addresses are
  digested and looked up; nothing the file does not name is ever named.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from target_viva_insights.ledger.digest_index import find_sorted, sorted_distinct
from target_viva_insights.ledger.digests import NO_DATE, NO_MANAGER_DIGEST

if TYPE_CHECKING:
    from target_viva_insights.ledger.store import Ledger

NO_CODE = -1
ROWS_AT_ONCE = 1 << 18


@dataclasses.dataclass
class HeldChart:
    """What Viva holds about each address of a file (by its position in the file's address list)."""

    held: np.ndarray  # bool: Viva holds this person
    # The address (position) their manager chain reaches in Viva's data, going through people the
    # file does not name; NO_CODE when the chain ends there (at the top, or at someone unknown).
    manager: np.ndarray
    unnamed_on_the_way: np.ndarray  # how many people the file does not name lie on that way
    # Each (address, month) in which Viva holds a row, as `month_keys` makes them: sorted, distinct.
    held_months: np.ndarray
    months_are_snapshots: bool  # every held row of these people is dated the first of a month

    @classmethod
    def nothing_but(cls, held: np.ndarray) -> HeldChart:
        none = np.full(held.size, NO_CODE, dtype=np.int64)
        return cls(held, none, np.zeros(held.size, dtype=np.int64), np.zeros(0, dtype=np.int64), True)


_MONTH_SHIFT = np.int64(1 << 31)  # months before 1970 are negative: shifted into 32 bits


def month_keys(addresses: np.ndarray, months: np.ndarray) -> np.ndarray:
    """One int64 per (address, month since 1970-01): sorted by address, then month."""
    return (addresses.astype(np.int64) << 32) | (months.astype(np.int64) + _MONTH_SHIFT)


def split_month_keys(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(addresses, months) of `month_keys` values."""
    return keys >> 32, (keys & 0xFFFFFFFF) - _MONTH_SHIFT


def months_of(days: np.ndarray) -> tuple[np.ndarray, bool]:
    """Months since 1970-01 of day numbers, and whether every day is the first of its month."""
    dates = days.astype("datetime64[D]")
    months = dates.astype("datetime64[M]")
    return months.astype(np.int64), bool(np.all(dates == months.astype("datetime64[D]")))


@runtime_checkable
class HeldOrganization(Protocol):
    """A source of what Viva holds."""

    def chart(self, addresses: pa.Array) -> HeldChart:
        """What Viva holds about each of `addresses` (a file's distinct PersonId/ManagerId values)."""
        ...


class HeldPersonIds:
    """PersonIds Viva holds, and nothing else about them.

    Args:
        people: the PersonIds.
    """

    def __init__(self, people: Iterable[str] | pa.Array) -> None:
        if isinstance(people, pa.ChunkedArray):
            people = people.combine_chunks()
        self.people = pc.cast(people, pa.string()) if isinstance(people, pa.Array) else pa.array(list(people))

    def chart(self, addresses: pa.Array) -> HeldChart:
        held = pc.is_in(addresses, value_set=self.people).to_numpy(zero_copy_only=False)
        return HeldChart.nothing_but(np.asarray(held, dtype=bool))


class LedgerOrganization:
    """What the delivery ledger says Viva holds for the tenant, read when first asked.

    Args:
        ledger: the tenant's ledger.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def chart(self, addresses: pa.Array) -> HeldChart:
        digests = self.ledger.digester.digest_values(addresses)
        people = self.ledger.people  # sorted by person
        held, node = find_sorted(people.person, digests)
        # The ledger's people as a graph: each points at their latest manager; those the file names
        # (a code) are where a walk stops.
        code_of_node = np.full(len(people) + 1, NO_CODE, dtype=np.int64)
        code_of_node[node[held]] = np.nonzero(held)[0]
        reached, unnamed = _first_named_manager(people.person, people.manager, code_of_node)
        manager = np.where(held, reached[node], NO_CODE)
        held_months, snapshots = self._held_months(digests)
        return HeldChart(
            held=held,
            manager=manager,
            unnamed_on_the_way=np.where(held, unnamed[node], 0),
            held_months=held_months,
            months_are_snapshots=snapshots,
        )

    def _held_months(self, digests: np.ndarray) -> tuple[np.ndarray, bool]:
        """The (address, month) keys of every row the ledger holds for the file's people; a part of
        the ledger's rows at a time, so the temporaries stay small whatever its size."""
        person, day = self.ledger.person_dates()
        order = np.argsort(digests)
        ordered = digests[order]
        keys: list[np.ndarray] = []
        snapshots = True
        for start in range(0, len(person), ROWS_AT_ONCE):
            found, position = find_sorted(ordered, person[start : start + ROWS_AT_ONCE])
            days = day[start : start + ROWS_AT_ONCE]
            found &= days != NO_DATE
            months, month_starts = months_of(days[found])
            snapshots &= month_starts
            keys.append(sorted_distinct(month_keys(order[position[found]], months)))
        held = sorted_distinct(np.concatenate(keys)) if keys else np.zeros(0, dtype=np.int64)
        return held, snapshots


def _first_named_manager(
    person: np.ndarray, manager: np.ndarray, code_of_node: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per ledger person: the code of the first named person up their manager chain, and how many
    unnamed people come before; NO_CODE where the chain ends first (or loops among unnamed people).

    Pointer doubling: log2(people) numpy steps, however long the chains.
    """
    count = len(person)
    end = count  # one extra node: "the chain ends"
    found, position = find_sorted(person, manager)
    successor = np.append(np.where(found & (manager != NO_MANAGER_DIGEST), position, end), end)
    stops = (code_of_node >= 0) | (np.arange(count + 1) == end)
    # From each node: itself when it stops a walk, else its manager; counting the unnamed steps.
    jump = np.where(stops, np.arange(count + 1), successor)
    steps = np.where(stops, 0, 1).astype(np.int64)
    for _ in range(max(1, int(np.ceil(np.log2(count + 2)))) + 1):
        steps = steps + steps[jump]
        jump = jump[jump]
    # A person's chain starts at their manager.
    start = successor[:count]
    last = jump[start]
    reached = np.where(stops[last], code_of_node[last], NO_CODE)
    return np.append(reached, NO_CODE), np.append(steps[start], 0)
