"""Key property checks: every key value present, and every key unique across the whole stream.

Uniqueness is checked in bounded memory: one 64-bit hash per row (8 bytes). Only when two rows share
a hash are their actual keys compared, in a second look at just those rows, so that the error can
name both rows and a hash collision is never mistaken for a duplicate.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from tap_hrsource.errors import KeyPropertyError

KeyRows = Iterator[tuple[str, int, tuple]]
"""(source, row number, key values) for every row of a stream, in order."""


class KeyChecker:
    """Feed it every batch while reading, then call `check` before sending any record.

    A problem found while feeding (an empty or missing key column) is kept and raised by `check`,
    so that schema inference can still see every file.
    """

    def __init__(self, stream: str, key_properties: Sequence[str]) -> None:
        self.stream = stream
        self.key_properties = tuple(key_properties)
        self.hashes = array("q")
        self.problem: KeyPropertyError | None = None

    def add(self, batch: pa.RecordBatch, source: str, first_row: int) -> None:
        if self.problem is None and self.key_properties:
            try:
                self.hashes.extend(map(hash, self.key_tuples(batch, source, first_row)))
            except KeyPropertyError as problem:
                self.problem = problem

    def key_tuples(self, batch: pa.RecordBatch, source: str, first_row: int) -> Iterator[tuple]:
        key_columns = []
        for name in self.key_properties:
            index = batch.schema.get_field_index(name)
            if index < 0:
                raise KeyPropertyError(
                    f"Stream {self.stream!r}: key property {name!r} is not a column of {source}."
                )
            values = batch.column(index)
            if values.null_count:
                row = first_row + int(pc.index(pc.is_null(values), value=True).as_py())
                raise KeyPropertyError(f"{source}: row {row}, key property {name!r} is empty.")
            key_columns.append(values.to_pylist())
        return zip(*key_columns, strict=True)

    def check(self, rescan: Callable[[], KeyRows]) -> None:
        """Raise KeyPropertyError for an empty key or the first repeated key; `rescan` replays the keys."""
        if self.problem is not None:
            raise self.problem
        repeated = self.repeated_hashes() if self.key_properties else set()
        if repeated:
            self.raise_for_duplicate(rescan(), repeated)

    def repeated_hashes(self) -> set[int]:
        """Hashes seen more than once; sorting needs far less memory than a hash table of all keys."""
        count = len(self.hashes)
        if count < 2:
            return set()
        hashes = pa.Array.from_buffers(pa.int64(), count, [None, pa.py_buffer(self.hashes)])
        ordered = pc.take(hashes, pc.sort_indices(hashes))
        same_as_next = pc.equal(ordered.slice(1), ordered.slice(0, count - 1))
        if not pc.any(same_as_next).as_py():
            return set()
        return set(pc.filter(ordered.slice(1), same_as_next).to_pylist())

    def raise_for_duplicate(self, rows: Iterable[tuple[str, int, tuple]], repeated_hashes: set[int]) -> None:
        first_seen: dict[tuple, tuple[str, int]] = {}
        for source, row, key in rows:
            if hash(key) not in repeated_hashes:
                continue
            if key in first_seen:
                first_source, first_row = first_seen[key]
                names = ", ".join(self.key_properties)
                raise KeyPropertyError(
                    f"Stream {self.stream!r}: key ({names}) = {key!r} appears twice: "
                    f"{first_source} row {first_row} and {source} row {row}."
                )
            first_seen[key] = (source, row)
