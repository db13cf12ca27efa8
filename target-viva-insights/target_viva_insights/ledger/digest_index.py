"""Membership of 64-bit digests in a sorted set, a million at a time.

A binary search (`numpy.searchsorted`) makes about twenty scattered reads per look-up, which is most
of a ledger comparison's time. Digests are uniformly spread, so a table of where each value of their
top bits starts in the sorted array finds a digest's place with one or two reads.
"""

from __future__ import annotations

import numpy as np

MAX_BUCKET_BITS = 24  # a 64 MB table at most (int32 per bucket)
BUCKETS_AT_ONCE = 1 << 16


class DigestIndex:
    """A sorted uint64 array with a bucket table on the values' top bits.

    Args:
        digests: sorted ascending.
    """

    def __init__(self, digests: np.ndarray) -> None:
        self.digests = np.asarray(digests, dtype=np.uint64)
        # About one digest a bucket: most look-ups read the bucket's first digest and are done.
        bits = int(np.clip(np.ceil(np.log2(max(len(self.digests), 2))), 1, MAX_BUCKET_BITS))
        self._shift = np.uint64(64 - bits)
        self._starts = np.empty((1 << bits) + 1, dtype=np.int32)
        self._starts[-1] = len(self.digests)
        for first in range(0, 1 << bits, BUCKETS_AT_ONCE):  # in parts: no table-sized temporaries
            buckets = np.arange(first, min(first + BUCKETS_AT_ONCE, 1 << bits), dtype=np.uint64)
            self._starts[first : first + buckets.size] = np.searchsorted(self.digests, buckets << self._shift)

    def __len__(self) -> int:
        return len(self.digests)

    def find(self, needles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found, position): whether each needle is in the set, and where (meaningful where found)."""
        count = len(self.digests)
        if count == 0 or len(needles) == 0:
            return np.zeros(len(needles), dtype=bool), np.zeros(len(needles), dtype=np.int64)
        bucket = (needles >> self._shift).astype(np.intp)
        start = self._starts[bucket].astype(np.int64)
        end = self._starts[bucket + 1]
        position = np.minimum(start, count - 1)
        found = (start < end) & (self.digests[position] == needles)
        # The rest look further into their bucket, whose digests are sorted: a larger one ends the search.
        rest = np.nonzero(~found & (end - start > 1))[0]
        candidate = start[rest] + 1
        while rest.size:
            value = self.digests[candidate]
            hit = value == needles[rest]
            found[rest[hit]] = True
            position[rest[hit]] = candidate[hit]
            go_on = ~hit & (value < needles[rest]) & (candidate + 1 < end[rest])
            rest, candidate = rest[go_on], candidate[go_on] + 1
        return found, position


def last_of_runs(ordered: np.ndarray) -> np.ndarray:
    """Marks the last element of each run of equal values in a sorted array."""
    last = np.ones(ordered.size, dtype=bool)
    last[:-1] = ordered[1:] != ordered[:-1]
    return last


def sorted_distinct(values: np.ndarray) -> np.ndarray:
    """The distinct values, sorted: a sort and a comparison. (`numpy.unique` hashes instead, which
    takes seconds on millions of distinct 64-bit values.)"""
    ordered = np.sort(values)
    return ordered[last_of_runs(ordered)]


def find_sorted(haystack: np.ndarray, needles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(found, position) of each needle in a sorted array, by binary search: for a small haystack, or
    one searched once (a `DigestIndex` pays off when a large one is searched again and again)."""
    if len(haystack) == 0:
        return np.zeros(len(needles), dtype=bool), np.zeros(len(needles), dtype=np.int64)
    position = np.minimum(np.searchsorted(haystack, needles), len(haystack) - 1)
    return haystack[position] == needles, position
