"""Keyed digests of data.csv's rows: what the delivery ledger keeps instead of HR values.

A value's digest is its keyed BLAKE2b (8 bytes) under the ledger's key; ledgers of format 1 keep the
first 8 bytes of HMAC-SHA256. Blank and null, the same to Viva, share one digest. A row's digest mixes
its values' digests, salted per column name, so the order of the columns does not count. A row's key
mixes its PersonId and EffectiveDate digests.

Speed: the keyed hash runs once per distinct value of a run. data.csv is read with dictionary-encoded
columns, so each batch brings each of its distinct values once; the digest of a value already seen is
found by a 64-bit fingerprint of its bytes, computed with numpy over a whole dictionary at once, in a
sorted cache (a dict for dictionaries of a few values). Only values never seen before reach Python.
Everything per row is numpy over uint64 arrays.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import hmac
import secrets
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from target_viva_insights import rules
from target_viva_insights.dates import viva_date_days
from target_viva_insights.errors import ConfigurationError, LedgerError
from target_viva_insights.ledger.digest_index import DigestIndex, find_sorted
from target_viva_insights.ledger.prefetch import PacedFile, paced_batches
from target_viva_insights.memory import release_freed_memory
from target_viva_insights.package import (
    PackageError,
    open_package,
    read_header,
    read_text_batches,
)
from target_viva_insights.rules import DateOrder

PERSON_FIELD = rules.PERSON_ID
MANAGER_FIELD = rules.MANAGER_ID
DATE_FIELD = rules.EFFECTIVE_DATE
NO_MANAGER_DIGEST = np.uint64(0)  # a row without ManagerId; no value digests to 0
NO_DATE = -1
# Blocks of data.csv: the reader holds a few of them at once (its read-ahead is paced, prefetch.py).
# The sizes that keep both the time and the memory low are measured in bench/README.md.
DIGEST_BLOCK_BYTES = 2 << 20
BLOCKS_AHEAD = 2
# The cache of value digests stops growing here (32 MB): a file of unique values gains nothing from it.
CACHE_MAX_VALUES = 2_000_000
# Up to this many values are looked up one by one in a dict; more go through numpy at once.
FEW_VALUES = 48
_KEY_SALT = np.uint64(0x9E3779B97F4A7C15)
_LOW_BYTES = np.array([(1 << (8 * count)) - 1 for count in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


def mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (wrapping arithmetic, no Python per element)."""
    x = values.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@dataclasses.dataclass
class _StringBytes:
    """An Arrow string array's bytes as numpy: where each value starts, its length, the data."""

    starts: np.ndarray
    lengths: np.ndarray
    data: np.ndarray  # followed by 8 zero bytes, so any value's next 8 bytes can be read at once

    @classmethod
    def of(cls, strings: pa.Array) -> _StringBytes:
        if not pa.types.is_string(strings.type):
            strings = pc.cast(strings, pa.string())
        count = len(strings)
        _, offsets_buffer, data_buffer = strings.buffers()
        if count == 0 or offsets_buffer is None:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty, np.zeros(8, dtype=np.uint8))
        offsets = np.frombuffer(offsets_buffer, dtype=np.int32, count=count + 1, offset=strings.offset * 4)
        first, end = int(offsets[0]), int(offsets[-1])
        # Only the bytes these values use: a reader's buffers can be far larger than one batch's values.
        data = np.zeros(end - first + 8, dtype=np.uint8)
        if data_buffer is not None and end > first:
            data[:-8] = np.frombuffer(data_buffer, dtype=np.uint8, count=end - first, offset=first)
        starts = offsets[:-1].astype(np.int64) - first
        return cls(starts, np.diff(offsets).astype(np.int64), data)

    def words_at(self, positions: np.ndarray) -> np.ndarray:
        """The 8 bytes starting at each position, as a little-endian uint64."""
        words = np.ndarray(shape=(self.data.size - 7,), dtype="<u8", buffer=self.data, strides=(1,))
        return words[positions]


def fingerprints(strings: pa.Array, seed: int) -> np.ndarray:
    """A 64-bit fingerprint of each string's bytes (null and empty alike), eight bytes per numpy step.

    Only a look-up aid for the digest cache, never stored: the seed is random per run, so values
    cannot be chosen to collide, and a chance collision among a run's distinct values is a 2**-64 event
    per pair, the same odds the stored 64-bit digests already accept.
    """
    text = _StringBytes.of(strings)
    digest = mix(text.lengths.astype(np.uint64) ^ np.uint64(seed))
    active = np.nonzero(text.lengths > 0)[0]
    done = 0
    while active.size:
        remaining = text.lengths[active] - done
        word = text.words_at(text.starts[active] + done) & _LOW_BYTES[np.minimum(remaining, 8)]
        digest[active] = mix(digest[active] ^ word)
        active = active[remaining > 8]
        done += 8
    return digest


# First bytes of the UTF-8 whitespace characters Arrow trims (U+0009..U+000D, U+001C..U+0020, U+0085,
# U+00A0, U+1680, U+2000..U+205F, U+3000; tests/ledger/test_digests.py checks every code point): only values
# starting with one of them can be blank without being empty.
WHITESPACE_FIRST_BYTES = (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0xC2, 0xE1, 0xE2, 0xE3)
_MAY_START_WHITESPACE = np.zeros(256, dtype=bool)
_MAY_START_WHITESPACE[list(WHITESPACE_FIRST_BYTES)] = True


def blank_values(values: pa.Array) -> np.ndarray:
    """Null, empty or whitespace only: the same to Viva."""
    text = _StringBytes.of(values)
    blank = text.lengths == 0
    if values.null_count:
        blank |= np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    maybe = np.nonzero(~blank & _MAY_START_WHITESPACE[text.data[text.starts]])[0]
    if maybe.size:
        trimmed = pc.utf8_trim_whitespace(values.take(pa.array(maybe)))
        blank[maybe] = np.asarray(pc.equal(trimmed, "").to_numpy(zero_copy_only=False), dtype=bool)
    return blank


class _DigestCache:
    """The digests of the values a run has seen, by fingerprint: a large indexed part and a small
    sorted part for the latest values, folded into the large one as it grows (each fold is a sort)."""

    def __init__(self) -> None:
        self._index = DigestIndex(np.zeros(0, dtype=np.uint64))
        self._digests = np.zeros(0, dtype=np.uint64)
        self._recent = np.zeros(0, dtype=np.uint64)
        self._recent_digests = np.zeros(0, dtype=np.uint64)

    def __len__(self) -> int:
        return len(self._index) + len(self._recent)

    def find(self, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(hit, digest) per fingerprint; the digest is 0 where there was no hit."""
        hit, position = self._index.find(found)
        digests = np.where(hit, self._digests[position] if len(self._digests) else 0, 0).astype(np.uint64)
        if self._recent.size and not hit.all():
            missing = np.nonzero(~hit)[0]
            recent_hit, at = find_sorted(self._recent, found[missing])
            hit[missing[recent_hit]] = True
            digests[missing[recent_hit]] = self._recent_digests[at[recent_hit]]
        return hit, digests

    def add(self, found: np.ndarray, digests: np.ndarray) -> None:
        if len(self) + found.size > CACHE_MAX_VALUES:
            return
        found, first = np.unique(found, return_index=True)
        at = np.searchsorted(self._recent, found)
        self._recent = np.insert(self._recent, at, found)
        self._recent_digests = np.insert(self._recent_digests, at, digests[first])
        if self._recent.size > max(4096, len(self._index) // 4):
            merged = np.concatenate([self._index.digests, self._recent])
            order = np.argsort(merged, kind="stable")
            self._index = DigestIndex(merged[order])
            self._digests = np.concatenate([self._digests, self._recent_digests])[order]
            self._recent = self._recent[:0]
            self._recent_digests = self._recent_digests[:0]


class DigestAlgorithm(enum.Enum):
    """How a value's 64-bit digest is computed; a ledger keeps the one it was written with."""

    HMAC_SHA256 = "hmac-sha256-64"  # ledgers of format 1
    BLAKE2B = "blake2b-64"  # keyed BLAKE2b: a MAC in one pass, three times HMAC-SHA256's speed


class Digester:
    """Keyed 64-bit digests of text values and rows; equal inputs give equal digests for one key."""

    def __init__(self, key: bytes, algorithm: DigestAlgorithm = DigestAlgorithm.BLAKE2B) -> None:
        self._key = key
        self.algorithm = algorithm
        self._seed = secrets.randbits(64)
        self._cache = _DigestCache()
        self._few: dict[str, int] = {}
        self._salts: dict[str, np.uint64] = {}
        self.null = np.uint64(self.digest_text("\x00null"))

    def digest_text(self, value: str) -> int:
        """The digest of one value (never 0, which stands for "no manager")."""
        data = value.encode("utf-8")
        if self.algorithm is DigestAlgorithm.BLAKE2B:
            raw = hashlib.blake2b(data, key=self._key, digest_size=8).digest()
        else:
            raw = hmac.digest(self._key, data, "sha256")
        return int.from_bytes(raw[:8], "little") or 1

    def column_salt(self, name: str) -> np.uint64:
        salt = self._salts.get(name)
        if salt is None:
            salt = self._salts[name] = np.uint64(self.digest_text("\x00column:" + name))
        return salt

    def digest_values(self, values: pa.Array) -> np.ndarray:
        """One digest per value of `values` (best distinct: a batch's dictionary); blanks share one."""
        if len(values) <= FEW_VALUES:
            return self._digest_few(values)
        return self._digest_many(values)

    def _digest_few(self, values: pa.Array) -> np.ndarray:
        """A handful of values (a code column's dictionary): a dict look-up each beats numpy's fixed costs."""
        texts = values.to_pylist()
        known = [self._few.get(text) for text in texts]
        if None in known:
            missing = [index for index, digest in enumerate(known) if digest is None]
            fresh = self._digest_many(values.take(pa.array(missing, pa.int64())))
            for index, digest in zip(missing, fresh.tolist(), strict=True):
                known[index] = digest
                if texts[index] is not None and len(self._few) < CACHE_MAX_VALUES:
                    self._few[texts[index]] = digest
        return np.array(known, dtype=np.uint64)

    def _digest_many(self, values: pa.Array) -> np.ndarray:
        found = fingerprints(values, self._seed)
        hit, digests = self._cache.find(found)
        blank = blank_values(values)
        missing = ~hit & ~blank
        if missing.any():
            texts = values.filter(pa.array(missing)).to_pylist()
            fresh = np.fromiter(map(self.digest_text, texts), dtype=np.uint64, count=len(texts))
            digests[missing] = fresh
            self._cache.add(found[missing], fresh)
        digests[blank] = self.null
        return digests


@dataclasses.dataclass
class EncodedColumn:
    """A column as its distinct values and one index per row; null rows index one slot past them."""

    dictionary: pa.Array
    indices: np.ndarray

    @classmethod
    def of(cls, column: pa.Array | pa.ChunkedArray) -> EncodedColumn:
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if not pa.types.is_dictionary(array.type):
            array = pc.dictionary_encode(array)
        dictionary = array.dictionary
        indices = pc.fill_null(array.indices, len(dictionary)) if array.null_count else array.indices
        return cls(dictionary, np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int64))

    def per_row(self, per_value: np.ndarray, null: Any) -> np.ndarray:
        """Spread one entry per distinct value to the rows; null rows take `null`."""
        return np.append(per_value, np.asarray([null], dtype=per_value.dtype))[self.indices]


@dataclasses.dataclass
class RowDigests:
    """A file's rows as the ledger sees them: digests and dates only, no value in clear."""

    key: np.ndarray  # uint64: (PersonId, EffectiveDate)
    value: np.ndarray  # uint64: all the row's values
    person: np.ndarray  # uint64
    manager: np.ndarray  # uint64, NO_MANAGER_DIGEST where the row names no manager
    date: np.ndarray  # int32 days since 1970-01-01, NO_DATE where EffectiveDate is missing or unreadable

    @classmethod
    def empty(cls) -> RowDigests:
        u64 = np.zeros(0, dtype=np.uint64)
        return cls(u64, u64.copy(), u64.copy(), u64.copy(), np.zeros(0, dtype=np.int32))

    @classmethod
    def concat(cls, parts: Iterable[RowDigests]) -> RowDigests:
        parts = list(parts)
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)))

    def __len__(self) -> int:
        return len(self.key)

    def select(self, mask: np.ndarray) -> RowDigests:
        return RowDigests(
            self.key[mask], self.value[mask], self.person[mask], self.manager[mask], self.date[mask]
        )

    def to_table(self) -> pa.Table:
        return pa.table({field.name: getattr(self, field.name) for field in dataclasses.fields(self)})

    @classmethod
    def from_columns(cls, columns: Mapping[str, np.ndarray]) -> RowDigests:
        return cls(**{name: np.asarray(columns[name], dtype=DTYPES[name]) for name in DTYPES})


DTYPES: dict[str, type[np.generic]] = {
    "key": np.uint64,
    "value": np.uint64,
    "person": np.uint64,
    "manager": np.uint64,
    "date": np.int32,
}


def digest_batch(digester: Digester, batch: pa.Table | pa.RecordBatch, date_order: DateOrder) -> RowDigests:
    """The ledger's view of one batch of data.csv (text columns named by their Viva field)."""
    names = batch.schema.names
    if PERSON_FIELD not in names:
        raise LedgerError(f"the file has no {PERSON_FIELD} column: the ledger keys every row by it")
    rows = batch.num_rows
    value = np.zeros(rows, dtype=np.uint64)
    person = np.zeros(rows, dtype=np.uint64)
    manager = np.full(rows, NO_MANAGER_DIGEST, dtype=np.uint64)
    date_key = np.full(rows, mix(np.zeros(1, dtype=np.uint64) ^ _KEY_SALT)[0], dtype=np.uint64)
    days = np.full(rows, NO_DATE, dtype=np.int32)
    for name in sorted(names):
        column = EncodedColumn.of(batch.column(name))
        per_value = np.append(digester.digest_values(column.dictionary), digester.null)
        value = mix(value ^ mix(per_value ^ digester.column_salt(name))[column.indices])
        if name == PERSON_FIELD:
            person = per_value[column.indices]
        elif name == MANAGER_FIELD:
            manager = np.where(per_value == digester.null, NO_MANAGER_DIGEST, per_value)[column.indices]
        elif name == DATE_FIELD:
            date_key = mix(per_value ^ _KEY_SALT)[column.indices]  # mixed per date, not per row
            days = column.per_row(_days(column.dictionary, date_order), NO_DATE)
    key = mix(person ^ date_key)
    return RowDigests(key, value, person, manager, days)


def _days(dates: pa.Array, date_order: DateOrder) -> np.ndarray:
    days = pc.cast(viva_date_days(pc.cast(dates, pa.string()), date_order), pa.int32())
    return np.asarray(pc.fill_null(days, NO_DATE).to_numpy(zero_copy_only=False), dtype=np.int32)


def digest_batches(
    digester: Digester, batches: Iterable[pa.RecordBatch], date_order: DateOrder, rows: int = 0
) -> RowDigests:
    """Digests of a whole data.csv read in batches (memory: 36 bytes a row, once when `rows` says how
    many rows there are, plus one batch)."""
    digests = RowDigestsBuilder(rows)
    for batch in batches:
        digests.append(digest_batch(digester, batch, date_order))
    return digests.build()


class RowDigestsBuilder:
    """Row digests appended part by part into arrays of their own, grown by doubling when full.

    Args:
        capacity: the rows expected (0 when unknown).
    """

    def __init__(self, capacity: int = 0) -> None:
        self._arrays = {name: np.empty(capacity, dtype=dtype) for name, dtype in DTYPES.items()}
        self._size = 0

    def append(self, part: RowDigests) -> None:
        end = self._size + len(part)
        if end > len(self._arrays["key"]):
            capacity = max(end, 2 * len(self._arrays["key"]))
            for name, array in self._arrays.items():
                grown = np.empty(capacity, dtype=array.dtype)
                grown[: self._size] = array[: self._size]
                self._arrays[name] = grown
        for name, array in self._arrays.items():
            array[self._size : end] = getattr(part, name)
        self._size = end

    def build(self) -> RowDigests:
        return RowDigests.from_columns({name: array[: self._size] for name, array in self._arrays.items()})


@contextlib.contextmanager
def dictionary_batches(data: IO[bytes]) -> Iterator[Iterator[pa.RecordBatch]]:
    """data.csv (at its header line) in batches of dictionary-encoded text columns, for digesting.

    Read ahead in a thread (prefetch.py), which is stopped when the context ends: before `data` is
    closed, and never left running into the interpreter's shutdown.
    """
    header = read_header(data)
    paced = PacedFile(data, ahead=BLOCKS_AHEAD)
    reader = read_text_batches(
        paced, header, empty_as_null=True, dictionary_encoded=True, block_bytes=DIGEST_BLOCK_BYTES
    )
    try:
        with paced_batches(paced, reader) as batches:
            yield batches
    finally:
        # The blocks' text and the per-batch digests are freed by now: hand their pages back, so
        # what follows a comparison starts from the digests it keeps, not from the reading's peak.
        release_freed_memory()


@contextlib.contextmanager
def open_for_digests(path: Path) -> Iterator[tuple[Iterator[pa.RecordBatch], DateOrder]]:
    """A package's data.csv, or a bare CSV, for digesting; with the date order the package's types say.

    Raises:
        ConfigurationError: the file cannot be opened, or is a zip that is not a package.
    """
    with contextlib.ExitStack() as stack:
        try:
            if path.suffix.lower() == ".zip":
                package = stack.enter_context(open_package(path))
                data, date_order = package.data, package.date_order
            else:
                data, date_order = stack.enter_context(path.open("rb")), rules.DEFAULT_DATE_ORDER
            batches = stack.enter_context(dictionary_batches(data))
        except (OSError, PackageError, zipfile.BadZipFile, pa.ArrowInvalid) as error:
            raise ConfigurationError(
                f"{path}: cannot be read as a package or a CSV file ({error})"
            ) from error
        yield batches, date_order
