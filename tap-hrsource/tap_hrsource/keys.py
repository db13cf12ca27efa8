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
    """Feed it the key columns batch by batch, then call `check_unique`."""

    def __init__(self, stream: str, key_properties: Sequence[str]) -> None:
        self.stream = stream
        self.key_properties = tuple(key_properties)
        self.hashes = array("q")

    def add(self, columns: dict[str, pa.Array], source: str, first_row: int) -> None:
        key_columns = []
        for name in self.key_properties:
            values = columns.get(name)
            if values is None:
                raise KeyPropertyError(
                    f"Stream {self.stream!r}: key property {name!r} is not a column of {source}."
                )
            if values.null_count:
                row = first_row + int(pc.index(pc.is_null(values), value=True).as_py())
                raise KeyPropertyError(f"{source}: row {row}, key property {name!r} is empty.")
            key_columns.append(values.to_pylist())
        self.hashes.extend(map(hash, zip(*key_columns, strict=False)))

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

    def check_unique(self, rescan: Callable[[], KeyRows]) -> None:
        """Raise KeyPropertyError for the first repeated key; `rescan` replays the keys if needed."""
        repeated = self.repeated_hashes() if self.key_properties else set()
        if repeated:
            self.raise_for_duplicate(rescan(), repeated)

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
