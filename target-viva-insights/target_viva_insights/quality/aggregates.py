"""The report's running aggregates: filled batch by batch from data.csv, each of a bounded size.

A batch's column is worked on as its distinct values (trimmed once each) and an index per row, so the
text of a batch is never copied per row. What is kept between batches:

- per attribute: its distinct values (up to `VALUE_CAP`), row counts, placeholder counts, the distinct
  (value, person) pairs (up to `PAIR_CAP`) and, per person, the value of their last row;
- per person (the profile's `ProfileBuilder`): their latest row's date, manager, Layer and HireDate.

Beyond a cap a figure becomes an estimate, and the attribute says so (`AttributeTally.exact`): the
distinct values beyond `VALUE_CAP` are counted by a k-minimum-values sketch of their 64-bit
fingerprints, and once the pairs outgrow `PAIR_CAP` a group's people are counted once per change of
value along each person's rows (a person whose value goes back to an earlier one counts twice).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from target_viva_insights.ledger.digests import fingerprints

# Distinct values kept per attribute. HR attributes have a few thousand at most; a column of a value
# per person (a badge number) needs no more than this to be judged "too many values".
VALUE_CAP = 65_536
# Distinct (value, person) pairs counted exactly per attribute (8 bytes each): enough for a value or
# two per person in a tenant of 130,000 people.
PAIR_CAP = 1 << 18
# The k of the k-minimum-values sketch: its estimate is within about 1/sqrt(k) (1.6%).
SKETCH_SIZE = 4096
BLANK = -1  # the code of a blank cell
BEYOND_CAP = -2  # the code of a value past VALUE_CAP
_CODE_SHIFT = np.uint64(32)
_INITIAL_CAPACITY = 1024


class Growing:
    """A numpy array indexed by a code that grows as codes are handed out, new entries set to `fill`."""

    def __init__(self, dtype: type | np.dtype, fill: object) -> None:
        self._fill = fill
        self.array = np.full(_INITIAL_CAPACITY, fill, dtype=dtype)

    def ensure(self, size: int) -> np.ndarray:
        """The array, long enough for `size` codes."""
        if size > self.array.size:
            grown = np.full(max(size, 2 * self.array.size), self._fill, dtype=self.array.dtype)
            grown[: self.array.size] = self.array
            self.array = grown
        return self.array


def trimmed_dictionary(column: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """A batch's column as its distinct values with surrounding blanks removed (null for an empty
    one), and each row's position among them. Several values may trim to the same text."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type) and column.null_count:
        column = column.cast(pa.string())
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column, null_encoding="encode")
    stripped = pc.utf8_trim_whitespace(column.dictionary)
    trimmed = pc.if_else(pc.equal(stripped, ""), pa.scalar(None, pa.string()), stripped)
    indices = np.asarray(column.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return trimmed, indices


def as_numpy(values: pa.Array, fill: int) -> np.ndarray:
    """An integer Arrow array as int64 numpy, `fill` for null."""
    return np.asarray(pc.fill_null(values, fill).to_numpy(zero_copy_only=False), dtype=np.int64)


class ValueCodes:
    """Dense codes for distinct texts in the order they first appear, for up to `cap` texts."""

    def __init__(self, cap: int | None) -> None:
        self._cap = cap
        self.known = pa.array([], pa.string())

    @property
    def size(self) -> int:
        return len(self.known)

    def codes(self, values: pa.Array) -> np.ndarray:
        """The code of each of a batch's (trimmed) values: `BLANK` for null, `BEYOND_CAP` past the cap."""
        code = as_numpy(pc.index_in(values, value_set=self.known), BLANK) if self.size else None
        if code is None:
            code = np.full(len(values), BLANK, dtype=np.int64)
        valid = np.asarray(values.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        fresh = np.nonzero((code == BLANK) & valid)[0]
        if fresh.size:
            fresh_values = values.take(pa.array(fresh))
            new = pc.unique(fresh_values)  # in order of first appearance
            room = len(new) if self._cap is None else max(0, self._cap - self.size)
            added = new.slice(0, room)
            within = as_numpy(pc.index_in(fresh_values, value_set=added), BLANK) if len(added) else None
            if within is None:
                code[fresh] = BEYOND_CAP
            else:
                code[fresh] = np.where(within >= 0, within + self.size, BEYOND_CAP)
                self.known = pa.concat_arrays([self.known, added])
        return code


class DistinctSketch:
    """An estimate of how many distinct texts were added: the k smallest of their 64-bit fingerprints."""

    def __init__(self) -> None:
        self._seed = secrets.randbits(64)
        self._smallest = np.zeros(0, dtype=np.uint64)

    def add(self, values: pa.Array) -> None:
        if len(values):
            both = np.concatenate([self._smallest, fingerprints(values, self._seed)])
            self._smallest = np.unique(both)[:SKETCH_SIZE]

    def estimate(self) -> int:
        if self._smallest.size < SKETCH_SIZE:
            return int(self._smallest.size)
        return round((SKETCH_SIZE - 1) * 2.0**64 / (float(self._smallest[-1]) + 1.0))


class PairSet:
    """Distinct (code, person) pairs as sorted uint64 keys, until there are more than `cap`."""

    def __init__(self, cap: int = PAIR_CAP) -> None:
        self._cap = cap
        self._merged = np.zeros(0, dtype=np.uint64)
        self._pending: list[np.ndarray] = []
        self._pending_size = 0
        self.exact = True

    def add(self, code: np.ndarray, person: np.ndarray) -> None:
        """Pairs of non-negative codes and people."""
        if not self.exact or not code.size:
            return
        keys = np.unique((code.astype(np.uint64) << _CODE_SHIFT) | person.astype(np.uint64))
        self._pending.append(keys)
        self._pending_size += keys.size
        # Merging once the new keys outnumber the merged ones sorts each key a few times in all.
        if self._pending_size > max(self._merged.size, _INITIAL_CAPACITY * 64):
            self._merge()

    def _merge(self) -> None:
        merged = np.unique(np.concatenate([self._merged, *self._pending]))
        self._pending, self._pending_size = [], 0
        if merged.size > self._cap:
            self.exact = False
            self._merged = np.zeros(0, dtype=np.uint64)
        else:
            self._merged = merged

    def people_per_code(self, codes: int) -> np.ndarray | None:
        """How many distinct people each code has; None once the pairs outgrew the cap."""
        if self._pending:
            self._merge()
        if not self.exact:
            return None
        return np.bincount((self._merged >> _CODE_SHIFT).astype(np.int64), minlength=codes)


class AttributeTally:
    """One attribute's aggregates over the batches so far."""

    def __init__(
        self, forms: pa.Array, placeholder_days: Sequence[int] = (), cap: int | None = VALUE_CAP
    ) -> None:
        self._forms = forms  # the placeholder texts looked for
        self._placeholder_days = np.asarray(placeholder_days, dtype=np.int64)
        self.placeholder_day_rows = np.zeros(len(self._placeholder_days), dtype=np.int64)
        self.values = ValueCodes(cap)
        self.beyond_cap = DistinctSketch()
        self.any_beyond_cap = False
        self.filled_rows = 0
        self.placeholder_rows: dict[str, int] = {}
        self.pairs = PairSet()
        self._changes = Growing(np.int64, 0)  # per code
        self._last = Growing(np.int64, BLANK)  # per person: the code of their last row with one
        self._covered = Growing(np.bool_, False)  # per person: any row with a value

    def add(
        self,
        trimmed: pa.Array,
        indices: np.ndarray,
        person: np.ndarray,
        by_person: np.ndarray,
        people: int,
        days: np.ndarray | None = None,
    ) -> np.ndarray:
        """Count a batch's column (from `trimmed_dictionary`); returns each row's code.

        Args:
            trimmed: the batch's distinct values, trimmed.
            indices: each row's position in `trimmed`.
            person: each row's person code (negative for a row without a person).
            by_person: the rows in order of person, file order within a person.
            people: the people known so far (codes below it).
            days: the day each of `trimmed` stands for, for a date column's placeholder dates.
        """
        local = self.values.codes(trimmed)
        rows_per_value = np.bincount(indices, minlength=len(trimmed))
        self.filled_rows += int(rows_per_value[local != BLANK].sum())
        beyond = local == BEYOND_CAP
        if beyond.any():
            self.any_beyond_cap = True
            self.beyond_cap.add(trimmed.filter(pa.array(beyond)))
        matched = np.nonzero(
            np.asarray(pc.is_in(trimmed, value_set=self._forms).to_numpy(zero_copy_only=False))
        )
        for position in matched[0].tolist():
            text = str(trimmed[position].as_py())
            self.placeholder_rows[text] = self.placeholder_rows.get(text, 0) + int(rows_per_value[position])
        if days is not None:
            for position, day in enumerate(self._placeholder_days.tolist()):
                self.placeholder_day_rows[position] += int(rows_per_value[days == day].sum())
        code = local[indices]
        with_person = person >= 0
        self._covered.ensure(people)[person[with_person & (code != BLANK)]] = True
        coded = with_person & (code >= 0)
        self.pairs.add(code[coded], person[coded])
        self._count_changes(code[by_person], person[by_person])
        return code

    def _count_changes(self, code: np.ndarray, person: np.ndarray) -> None:
        """Count each person's changes of value along their rows (rows given by person, in file order)."""
        keep = (code >= 0) & (person >= 0)
        code, person = code[keep], person[keep]
        if not code.size:
            return
        last = self._last.ensure(int(person.max()) + 1)
        starts = np.r_[True, person[1:] != person[:-1]]
        ends = np.r_[person[1:] != person[:-1], True]
        previous = np.empty_like(code)
        previous[1:] = code[:-1]
        previous[starts] = last[person[starts]]
        changed = code[code != previous]
        counts = self._changes.ensure(self.values.size)
        counts[: self.values.size] += np.bincount(changed, minlength=self.values.size)
        last[person[ends]] = code[ends]

    def people_per_value(self) -> np.ndarray:
        """Distinct people per value: exact while the pairs fit, else counted per change of value."""
        exact = self.pairs.people_per_code(self.values.size)
        return exact if exact is not None else self._changes.ensure(self.values.size)[: self.values.size]

    @property
    def exact(self) -> bool:
        return self.pairs.exact and not self.any_beyond_cap

    @property
    def unique_values(self) -> int:
        return self.values.size + (self.beyond_cap.estimate() if self.any_beyond_cap else 0)

    def people_covered(self, people: int) -> int:
        return int(np.count_nonzero(self._covered.ensure(people)[:people]))
