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

from target_viva_insights.ledger.digest_index import find_sorted, last_of_runs, sorted_distinct
from target_viva_insights.ledger.digests import WHITESPACE_FIRST_BYTES, fingerprints

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
_PERSON_MASK = np.uint64((1 << 32) - 1)
_INITIAL_CAPACITY = 1024


class Growing:
    """A numpy array indexed by a code that grows as codes are handed out, new entries set to `fill`."""

    def __init__(self, dtype: type | np.dtype, fill: object) -> None:
        self._fill = fill
        self.array = np.full(_INITIAL_CAPACITY, fill, dtype=dtype)

    def ensure(self, size: int) -> np.ndarray:
        """The array, long enough for `size` codes."""
        if size > self.array.size:
            # By half at a time: at most a third of the array is room for codes not handed out yet.
            grown = np.full(max(size, self.array.size * 3 // 2), self._fill, dtype=self.array.dtype)
            grown[: self.array.size] = self.array
            self.array = grown
        return self.array


def trimmed_dictionary(column: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """A batch's column as its distinct values with surrounding blanks removed, which of them are
    blank (empty or null), and each row's position among them. Several values may trim to the same
    text."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type) and column.null_count:
        column = column.cast(pa.string())
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column, null_encoding="encode")
    values = column.dictionary
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    first, last, lengths = _edge_bytes(values)
    # Trimming looks at every character: only worth it when a value may start or end with a blank.
    if np.any(_MAY_BE_WHITESPACE[first[lengths > 0]]) or np.any(_MAY_END_WHITESPACE[last[lengths > 0]]):
        values = pc.utf8_trim_whitespace(values)
        _, _, lengths = _edge_bytes(values)
    blank = lengths == 0
    if values.null_count:
        blank |= np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    indices = np.asarray(column.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return values, blank, indices


# First and last bytes of the UTF-8 whitespace characters Arrow trims (U+0009..U+000D, U+001C..U+0020,
# U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000): a value that neither
# starts nor ends with one of them is trimmed already.
_MAY_BE_WHITESPACE = np.zeros(256, dtype=bool)
_MAY_BE_WHITESPACE[list(WHITESPACE_FIRST_BYTES)] = True
_MAY_END_WHITESPACE = np.zeros(256, dtype=bool)
_MAY_END_WHITESPACE[[*range(0x09, 0x0E), *range(0x1C, 0x21), *range(0x80, 0xC0)]] = True


def _edge_bytes(values: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first and last byte of each string (0 for an empty one) and its length in bytes."""
    count = len(values)
    _, offsets_buffer, data_buffer = values.buffers()
    if count == 0 or offsets_buffer is None:
        empty = np.zeros(count, dtype=np.int64)
        return empty.astype(np.uint8), empty.astype(np.uint8), empty
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32, count=count + 1, offset=values.offset * 4)
    lengths = np.diff(offsets).astype(np.int64)
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(1, np.uint8)
    if not data.size:
        data = np.zeros(1, dtype=np.uint8)
    filled = lengths > 0
    first = np.zeros(count, dtype=np.uint8)
    last = np.zeros(count, dtype=np.uint8)
    first[filled] = data[offsets[:-1][filled]]
    last[filled] = data[offsets[1:][filled] - 1]
    return first, last, lengths


def as_numpy(values: pa.Array, fill: int) -> np.ndarray:
    """An integer Arrow array as int64 numpy, `fill` for null."""
    return np.asarray(pc.fill_null(values, fill).to_numpy(zero_copy_only=False), dtype=np.int64)


class ValueCodes:
    """Dense codes for distinct texts in the order they first appear, for up to `cap` texts.

    Texts are found by a 64-bit fingerprint (ledger/digests.py) in a sorted array: a batch costs a
    binary search per distinct value in it, not a hash table of every text known so far.
    """

    def __init__(self, cap: int | None) -> None:
        self._cap = cap
        self._seed = secrets.randbits(64)
        self._sorted = np.zeros(0, dtype=np.uint64)  # fingerprints, ascending
        self._sorted_codes = np.zeros(0, dtype=np.int64)  # the code of each
        self._chunks: list[pa.Array] = []
        self._known: pa.Array | None = None
        self.size = 0

    @property
    def known(self) -> pa.Array:
        """The texts, by code."""
        if self._known is None or len(self._known) != self.size:
            self._known = pa.concat_arrays([pa.array([], pa.string()), *self._chunks])
            self._chunks = [self._known]
        return self._known

    def codes(self, values: pa.Array, blank: np.ndarray) -> np.ndarray:
        """The code of each of a batch's (trimmed) values: `BLANK` where `blank`, `BEYOND_CAP` past cap."""
        valid = ~blank
        prints = fingerprints(values, self._seed)
        found, position = find_sorted(self._sorted, prints)
        found &= valid
        code = np.full(len(values), BLANK, dtype=np.int64)
        code[found] = self._sorted_codes[position[found]]
        fresh = np.nonzero(valid & ~found)[0]
        if fresh.size:
            code[fresh] = self._add(values, prints, fresh)
        return code

    def _add(self, values: pa.Array, prints: np.ndarray, fresh: np.ndarray) -> np.ndarray:
        """Codes for texts not known yet (several entries of a batch may trim to the same text)."""
        distinct, first = np.unique(prints[fresh], return_index=True)
        in_order = np.argsort(first, kind="stable")  # first appearance
        room = in_order.size if self._cap is None else max(0, self._cap - self.size)
        kept = in_order[:room]
        new_codes = np.full(distinct.size, BEYOND_CAP, dtype=np.int64)
        new_codes[kept] = np.arange(self.size, self.size + kept.size)
        if kept.size:
            self._chunks.append(values.take(pa.array(fresh[first[kept]])))
            self.size += int(kept.size)
            merged = np.concatenate([self._sorted, distinct[kept]])
            order = np.argsort(merged, kind="stable")
            self._sorted, self._sorted_codes = (
                merged[order],
                np.concatenate([self._sorted_codes, new_codes[kept]])[order],
            )
        _, where = find_sorted(distinct, prints[fresh])
        return new_codes[where]


class DistinctSketch:
    """An estimate of how many distinct texts were added: the k smallest of their 64-bit fingerprints."""

    def __init__(self) -> None:
        self._seed = secrets.randbits(64)
        self._smallest = np.zeros(0, dtype=np.uint64)

    def add(self, values: pa.Array) -> None:
        if len(values):
            both = np.concatenate([self._smallest, fingerprints(values, self._seed)])
            self._smallest = sorted_distinct(both)[:SKETCH_SIZE]

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
        keys = sorted_distinct((code.astype(np.uint64) << _CODE_SHIFT) | person.astype(np.uint64))
        self._pending.append(keys)
        self._pending_size += keys.size
        # Merging once the new keys outnumber the merged ones sorts each key a few times in all.
        if self._pending_size > max(self._merged.size, _INITIAL_CAPACITY * 64):
            self._merge()

    def _merge(self) -> None:
        # Sorted runs: the stable sort (a merge sort) merges them without sorting from scratch.
        merged = np.concatenate([self._merged, *self._pending])
        merged.sort(kind="stable")
        merged = merged[last_of_runs(merged)]
        self._pending, self._pending_size = [], 0
        if merged.size > self._cap:
            self.exact = False
            self._merged = np.zeros(0, dtype=np.uint64)
        else:
            self._merged = merged

    def pairs(self) -> np.ndarray | None:
        """The distinct pairs as keys (code in the high 32 bits); None once they outgrew the cap."""
        if self._pending:
            self._merge()
        return self._merged if self.exact else None


class AttributeTally:
    """One attribute's aggregates over the batches so far."""

    def __init__(
        self,
        forms: pa.Array,
        placeholder_days: Sequence[int] = (),
        cap: int | None = VALUE_CAP,
        pair_cap: int = PAIR_CAP,
    ) -> None:
        self._forms = forms  # the placeholder texts looked for
        self._placeholder_days = np.asarray(placeholder_days, dtype=np.int64)
        self.placeholder_day_rows = np.zeros(len(self._placeholder_days), dtype=np.int64)
        self.values = ValueCodes(cap)
        self.beyond_cap = DistinctSketch()
        self.any_beyond_cap = False
        self.filled_rows = 0
        self.placeholder_rows: dict[str, int] = {}
        self.pairs = PairSet(pair_cap)
        self._changes = Growing(np.int64, 0)  # per code
        # Per person: the code of their first and of their last row with a value (BEYOND_CAP for a value
        # past the cap). Pairs of a person's first value need no more than that; only their later
        # values go to `pairs`.
        self._first = Growing(np.int32, BLANK)
        self._last = Growing(np.int32, BLANK)

    def add(
        self,
        trimmed: pa.Array,
        blank: np.ndarray,
        indices: np.ndarray,
        person: np.ndarray,
        by_person: np.ndarray,
        people: int,
        days: np.ndarray | None = None,
    ) -> np.ndarray:
        """Count a batch's column (from `trimmed_dictionary`); returns each row's code.

        Args:
            trimmed: the batch's distinct values, trimmed.
            blank: which of them are blank.
            indices: each row's position in `trimmed`.
            person: each row's person code (negative for a row without a person).
            by_person: the rows in order of person, file order within a person.
            people: the people known so far (codes below it).
            days: the day each of `trimmed` stands for, for a date column's placeholder dates.
        """
        local = self.values.codes(trimmed, blank)
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
        self._count_changes(code[by_person], person[by_person], people)
        return code

    def _count_changes(self, code: np.ndarray, person: np.ndarray, people: int) -> None:
        """Follow each person's values along their rows (rows given by person, in file order).

        A row with the value of the person's row before it adds no (value, person) pair, so only
        changes count: towards each value's people counted per change, and as pairs for the exact
        count when the person had another value before.
        """
        keep = (code != BLANK) & (person >= 0)
        code, person = code[keep], person[keep]
        if not code.size:
            return
        first, last = self._first.ensure(people), self._last.ensure(people)
        starts = np.r_[True, person[1:] != person[:-1]]
        ends = np.r_[person[1:] != person[:-1], True]
        previous = np.empty_like(code)
        previous[1:] = code[:-1]
        previous[starts] = last[person[starts]]
        changed = code != previous
        fresh = starts & (previous == BLANK)  # the person's first value
        first[person[fresh]] = code[fresh]
        later = changed & ~fresh & (code >= 0)
        self.pairs.add(code[later], person[later])
        counted = changed & (code >= 0)
        counts = self._changes.ensure(self.values.size)
        counts[: self.values.size] += np.bincount(code[counted], minlength=self.values.size)
        last[person[ends]] = code[ends]

    def people_per_value(self, people: int) -> np.ndarray:
        """Distinct people per value: exact while the pairs fit, else counted per change of value."""
        size = self.values.size
        pairs = self.pairs.pairs()
        if pairs is None:
            return self._changes.ensure(size)[:size].copy()
        first = self._first.ensure(people)[:people]
        counts = np.bincount(first[first >= 0], minlength=size)
        code = (pairs >> _CODE_SHIFT).astype(np.int64)
        person = (pairs & _PERSON_MASK).astype(np.int64)
        again = first[person] == code  # back to their first value: counted already
        return counts + np.bincount(code[~again], minlength=size)

    @property
    def exact(self) -> bool:
        return self.pairs.exact and not self.any_beyond_cap

    @property
    def unique_values(self) -> int:
        return self.values.size + (self.beyond_cap.estimate() if self.any_beyond_cap else 0)

    def people_covered(self, people: int) -> int:
        return int(np.count_nonzero(self._first.ensure(people)[:people] != BLANK))
