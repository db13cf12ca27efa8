"""The delivery ledger: what Viva holds for a tenant, so a run sends only what is new or changed.

Viva reads `IsBootstrap: true` as "replace all organizational data". Without a memory of what went up,
a scheduled run of an incremental tap replaces the tenant's history with its latest month. The ledger
is that memory, written only after an ingestion reached Completed:

- rows: per row of data.csv the key (PersonId, EffectiveDate) and a digest of the row's values;
- people: every person Viva holds, with the digest of their latest ManagerId (so reporting chains
  that run across a file and the ledger can be followed) and the date of their latest row;
- the manifest: per ingestion its id, time, mode, rows, people and the package's SHA-256; pending
  ingestions (uploaded, final status not yet known) with the digests of what they carried.

No HR value is kept in clear. Every value is replaced by a 64-bit keyed digest: HMAC-SHA256 (with a
random key stored beside the ledger) of each distinct cell value, combined per row by a 64-bit mixing
function. Hashing distinct values only keeps a million rows near a second (one HMAC per row would
take three); the comparison is a numpy join of 64-bit integers. EffectiveDate is kept as a date, the
one value whose disclosure names nobody, so the ledger can say what period it covers.

Layout under `ledger_path` (a local folder or any fsspec URL), one folder per tenant:
`<tenant_id>/manifest.json`, `rows-<generation>.parquet`, `people-<generation>.parquet`,
`pending-<ingestion>.parquet`, `key` and `lock`. A change writes new generation files, then replaces
the manifest in one rename: a reader sees the old ledger or the new one, never a mix. Local files are
0600 and folders 0700.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import hashlib
import hmac
import json
import os
import secrets
import socket
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from target_viva_insights.errors import ConfigurationError, PreviousIngestionPending

FORMAT_VERSION = 1
PERSON_FIELD = "PersonId"
MANAGER_FIELD = "ManagerId"
DATE_FIELD = "EffectiveDate"
NO_MANAGER = np.uint64(0)
_DATE_FORMATS = {"MDY": "%m/%d/%Y", "DMY": "%d/%m/%Y"}
# data.csv is read in blocks of this size: larger blocks repeat fewer digest look-ups, smaller ones
# keep the peak RSS down (measured with bench/ledger_bench.py).
READ_BLOCK_BYTES = 4 << 20


class LedgerError(ConfigurationError):
    """The ledger cannot be used as it is: unreadable, another tenant's, or from a newer version."""


class LedgerLocked(PreviousIngestionPending):
    """Another run is delivering to this tenant (Viva takes one ingestion at a time)."""


class ImportKind(str, enum.Enum):
    """What an ingestion did to the tenant's data."""

    FULL = "full"  # IsBootstrap true: replaced everything
    INCREMENTAL = "incremental"  # IsBootstrap false: upserted by (PersonId, EffectiveDate)


# ---- where the ledger lives ----------------------------------------------------------------------


def default_ledger_path(environ: Mapping[str, str] = os.environ) -> str:
    """The ledger's home when `ledger_path` is not set.

    Under Meltano (MELTANO_PROJECT_ROOT is set for every plugin it runs) the project's own `.meltano/`
    folder, which lives as long as the project's state. Otherwise a per-user data folder:
    `$XDG_DATA_HOME/viva-insights/ledger` (`~/.local/share/...`), or `%LOCALAPPDATA%\\viva-insights\\ledger`.
    """
    project = environ.get("MELTANO_PROJECT_ROOT")
    if project:
        return str(Path(project) / ".meltano" / "viva-insights-ledger")
    if sys.platform == "win32" and environ.get("LOCALAPPDATA"):
        return str(Path(environ["LOCALAPPDATA"]) / "viva-insights" / "ledger")
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(base) / "viva-insights" / "ledger")


# ---- digests -------------------------------------------------------------------------------------


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array (wrapping arithmetic, no Python per element)."""
    x = values.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def _as_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    return column


def _blank_to_null(array: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(pc.utf8_trim_whitespace(array), ""), None, array)


class Digester:
    """Keyed 64-bit digests of text values and rows; equal inputs give equal digests for one key.

    A value's digest is the first 8 bytes of its HMAC-SHA256, computed once per distinct value of a
    run (a dict remembers it across batches and columns, so a ManagerId's digest is its PersonId's).
    """

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._known: dict[str, int] = {}
        self._null = self.digest_text("\x00null")

    def digest_text(self, value: str) -> int:
        known = self._known.get(value)
        if known is None:
            raw = hmac.digest(self._key, value.encode("utf-8"), "sha256")
            known = self._known[value] = int.from_bytes(raw[:8], "little") or 1  # 0: "no manager"
        return known

    def digest_column(self, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """One digest per value; blanks and nulls (the same to Viva) share one. Python per distinct value."""
        array = _as_array(column)
        if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
            array = pc.cast(array, pa.string())
        encoded = pc.dictionary_encode(_blank_to_null(array))
        dictionary = encoded.dictionary.to_pylist()
        known = self._known
        table = np.fromiter(
            (known.get(value) or self.digest_text(value) for value in dictionary),
            dtype=np.uint64,
            count=len(dictionary),
        )
        indices = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        result = np.full(len(array), self._null, dtype=np.uint64)
        valid = indices >= 0
        result[valid] = table[indices[valid]]
        return result

    def digest_rows(self, table: pa.Table, digested: Mapping[str, np.ndarray] | None = None) -> np.ndarray:
        """The digest of each row's values; columns are taken by name, so their order does not count."""
        digest = np.zeros(table.num_rows, dtype=np.uint64)
        for name in sorted(table.column_names):
            salt = np.uint64(self.digest_text("\x00column:" + name))
            values = (digested or {}).get(name)
            if values is None:
                values = self.digest_column(table.column(name))
            digest = _mix(digest ^ _mix(values ^ salt))
        return digest


@dataclasses.dataclass
class RowDigests:
    """A file's rows as the ledger sees them: digests and dates only, no value in clear."""

    key: np.ndarray  # uint64: (PersonId, EffectiveDate)
    value: np.ndarray  # uint64: all the row's values
    person: np.ndarray  # uint64
    manager: np.ndarray  # uint64, 0 where the row names no manager
    date: np.ndarray  # int32 days since 1970-01-01, -1 where EffectiveDate is missing or unreadable

    @classmethod
    def empty(cls) -> RowDigests:
        u64 = np.zeros(0, dtype=np.uint64)
        return cls(u64, u64.copy(), u64.copy(), u64.copy(), np.zeros(0, dtype=np.int32))

    @classmethod
    def concat(cls, parts: Iterable[RowDigests]) -> RowDigests:
        parts = list(parts)
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)))

    def __len__(self) -> int:
        return len(self.key)

    def select(self, mask: np.ndarray) -> RowDigests:
        return RowDigests(
            self.key[mask], self.value[mask], self.person[mask], self.manager[mask], self.date[mask]
        )

    def to_table(self) -> pa.Table:
        return pa.table(
            {
                "key": self.key,
                "value": self.value,
                "person": self.person,
                "manager": self.manager,
                "date": self.date,
            }
        )

    @classmethod
    def from_table(cls, table: pa.Table) -> RowDigests:
        def column(name: str, dtype: Any) -> np.ndarray:
            return np.asarray(table.column(name).to_numpy(), dtype=dtype)

        return cls(
            column("key", np.uint64),
            column("value", np.uint64),
            column("person", np.uint64),
            column("manager", np.uint64),
            column("date", np.int32),
        )


def _dates(column: pa.Array, date_order: str) -> np.ndarray:
    text = pc.utf8_trim_whitespace(column)
    parsed = pc.strptime(text, format=_DATE_FORMATS.get(date_order, "%m/%d/%Y"), unit="s", error_is_null=True)
    days = pc.cast(pc.cast(parsed, pa.date32()), pa.int32())
    return np.asarray(pc.fill_null(days, -1).to_numpy(zero_copy_only=False), dtype=np.int32)


def digest_batch(digester: Digester, batch: pa.Table | pa.RecordBatch, date_order: str) -> RowDigests:
    """The ledger's view of one batch of data.csv (text columns named by their Viva field)."""
    table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
    if PERSON_FIELD not in table.column_names:
        raise LedgerError(f"the file has no {PERSON_FIELD} column: the ledger keys every row by it")
    digested = {PERSON_FIELD: digester.digest_column(table.column(PERSON_FIELD))}
    person = digested[PERSON_FIELD]
    if DATE_FIELD in table.column_names:
        date_column = _as_array(table.column(DATE_FIELD))
        date_key = digested[DATE_FIELD] = digester.digest_column(date_column)
        dates = _dates(date_column, date_order)
    else:
        date_key = np.zeros(table.num_rows, dtype=np.uint64)
        dates = np.full(table.num_rows, -1, dtype=np.int32)
    if MANAGER_FIELD in table.column_names:
        manager_column = _as_array(table.column(MANAGER_FIELD))
        digested[MANAGER_FIELD] = digester.digest_column(manager_column)
        manager = digested[MANAGER_FIELD].copy()
        blank = _blank_to_null(pc.cast(manager_column, pa.string())).is_null()
        manager[blank.to_numpy(zero_copy_only=False)] = NO_MANAGER
    else:
        manager = np.zeros(table.num_rows, dtype=np.uint64)
    key = _mix(person ^ _mix(date_key ^ np.uint64(0x9E3779B97F4A7C15)))
    return RowDigests(key, digester.digest_rows(table, digested), person, manager, dates)


# ---- the comparison ------------------------------------------------------------------------------


@dataclasses.dataclass
class Comparison:
    """What a file would change against the ledger. Masks are per row of the file."""

    new_rows: np.ndarray  # bool: key not in the ledger
    changed_rows: np.ndarray  # bool: key in the ledger, other values
    new_people: np.ndarray  # bool: first row of a person the ledger does not know
    file_people: int
    ledger_people: int
    absent_people: int  # people the ledger holds that the file does not name

    @property
    def to_send(self) -> np.ndarray:
        return self.new_rows | self.changed_rows

    @property
    def rows_to_send(self) -> int:
        return int(self.to_send.sum())

    @property
    def unchanged_rows(self) -> int:
        return int(len(self.new_rows) - self.rows_to_send)

    def summary(self) -> dict[str, int]:
        return {
            "rows_in_file": len(self.new_rows),
            "rows_new": int(self.new_rows.sum()),
            "rows_changed": int(self.changed_rows.sum()),
            "rows_unchanged": self.unchanged_rows,
            "people_in_file": self.file_people,
            "people_added": int(self.new_people.sum()),
            "people_in_ledger": self.ledger_people,
            "people_absent": self.absent_people,
        }

    def drop_percent(self) -> float:
        return 100.0 * self.absent_people / self.ledger_people if self.ledger_people else 0.0


def _member(sorted_haystack: np.ndarray, needles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(found mask, position) of each needle in a sorted uint64 array."""
    if len(sorted_haystack) == 0:
        return np.zeros(len(needles), dtype=bool), np.zeros(len(needles), dtype=np.int64)
    position = np.searchsorted(sorted_haystack, needles)
    clipped = np.minimum(position, len(sorted_haystack) - 1)
    return sorted_haystack[clipped] == needles, clipped


def compare(rows: RowDigests, people: RowDigests, file: RowDigests) -> Comparison:
    """Join the file's digests against the ledger's (both sorted by key / person)."""
    found, position = _member(rows.key, file.key)
    changed = found & (rows.value[position] != file.value) if len(rows) else found.copy()
    file_persons, first = np.unique(file.person, return_index=True)
    known, _ = _member(people.person, file_persons)
    new_people = np.zeros(len(file), dtype=bool)
    new_people[first[~known]] = True
    return Comparison(
        new_rows=~found,
        changed_rows=changed,
        new_people=new_people,
        file_people=len(file_persons),
        ledger_people=len(people),
        absent_people=int(len(people) - known.sum()),
    )


def _upsert(old: RowDigests, new: RowDigests) -> RowDigests:
    """Rows by key, the new side winning; sorted by key."""
    merged = RowDigests.concat([old, new])
    newer = np.concatenate([np.zeros(len(old), dtype=np.int8), np.ones(len(new), dtype=np.int8)])
    order = np.lexsort((newer, merged.key))
    ordered = merged.select(order)
    last = np.ones(len(ordered), dtype=bool)
    last[:-1] = ordered.key[1:] != ordered.key[:-1]
    return ordered.select(last)


def _latest_per_person(rows: RowDigests) -> RowDigests:
    """One entry per person: their latest row's manager and date; sorted by person."""
    order = np.lexsort((rows.date, rows.person))
    ordered = rows.select(order)
    last = np.ones(len(ordered), dtype=bool)
    last[:-1] = ordered.person[1:] != ordered.person[:-1]
    return ordered.select(last)


# ---- the ledger ----------------------------------------------------------------------------------


@dataclasses.dataclass
class IngestionRecord:
    """One ingestion as the ledger remembers it."""

    ingestion_id: str
    time: str
    mode: ImportKind
    rows: int
    people: int
    package_sha256: str
    last_effective_date: str | None = None
    status: str = "Completed"

    def to_json(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        document["mode"] = self.mode.value
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> IngestionRecord:
        values = dict(document)
        values["mode"] = ImportKind(values["mode"])
        return cls(**values)


def package_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _iso_date(days: np.ndarray) -> str | None:
    valid = days[days >= 0]
    if len(valid) == 0:
        return None
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=int(valid.max()))).isoformat()


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


class Ledger:
    """One tenant's ledger under `root` (a folder or fsspec URL)."""

    def __init__(self, root: str, tenant_id: str) -> None:
        if not tenant_id:
            raise LedgerError("the ledger needs tenant_id: it keeps one record per tenant")
        self.root = root
        self.tenant_id = tenant_id
        try:
            self.fs, base = fsspec.core.url_to_fs(root)
        except (ImportError, ValueError) as error:
            raise LedgerError(
                f"ledger_path {root!r}: {error} (an s3://, az:// or gs:// path needs the matching fsspec "
                "implementation installed: s3fs, adlfs or gcsfs)"
            ) from error
        self.folder = f"{base.rstrip('/')}/{tenant_id}"
        self.is_local = "file" in _protocols(self.fs)
        self._manifest: dict[str, Any] | None = None
        self._key: bytes | None = None
        self._rows: RowDigests | None = None
        self._people: RowDigests | None = None

    def __str__(self) -> str:
        return self.location

    @property
    def location(self) -> str:
        return self.folder if self.is_local else self.fs.unstrip_protocol(self.folder)

    def _path(self, name: str) -> str:
        return f"{self.folder}/{name}"

    # -- reading ---------------------------------------------------------------------------------

    def exists(self) -> bool:
        return bool(self.fs.exists(self._path("manifest.json")))

    @property
    def manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            self._manifest = self._read_manifest() if self.exists() else self._new_manifest()
        return self._manifest

    def _new_manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "tenant_id": self.tenant_id,
            "generation": None,
            "ingestions": [],
            "pending": [],
        }

    def _read_manifest(self) -> dict[str, Any]:
        path = self._path("manifest.json")
        try:
            with self.fs.open(path, "rb") as handle:
                document = json.loads(handle.read().decode("utf-8"))
        except (OSError, ValueError) as error:
            raise self._unreadable(f"{path} cannot be read ({type(error).__name__}: {error})") from error
        if not isinstance(document, dict) or not isinstance(document.get("format"), int):
            raise self._unreadable(f"{path} is not a ledger manifest")
        if document["format"] > FORMAT_VERSION:
            raise LedgerError(
                f"The ledger at {self.location} was written by a newer target-viva-insights (format "
                f"{document['format']}, this one reads up to {FORMAT_VERSION}). Upgrade the target; the "
                "ledger was left as it is."
            )
        if document.get("tenant_id") != self.tenant_id:
            raise LedgerError(
                f"The ledger at {self.location} belongs to tenant {document.get('tenant_id')!r}, not "
                f"{self.tenant_id!r}. Point ledger_path elsewhere; it was left as it is."
            )
        return document

    def _unreadable(self, reason: str) -> LedgerError:
        return LedgerError(
            f"The ledger at {self.location} is unreadable: {reason}. It was left as it is, since a reset "
            "would make the next run replace what Viva holds. Restore it from a backup, or move it away "
            "and record what Viva holds with `viva-insights ledger adopt PACKAGE`."
        )

    @property
    def key(self) -> bytes:
        if self._key is None:
            path = self._path("key")
            if self.fs.exists(path):
                try:
                    with self.fs.open(path, "rb") as handle:
                        self._key = bytes.fromhex(handle.read().decode("ascii").strip())
                except (OSError, ValueError) as error:
                    raise self._unreadable(f"its key {path} cannot be read ({error})") from error
            elif self.exists():
                raise self._unreadable(f"its key {path} is missing")
            else:
                self._key = secrets.token_bytes(32)
        return self._key

    @property
    def digester(self) -> Digester:
        return Digester(self.key)

    def _read_digests(self, kind: str) -> RowDigests:
        generation = self.manifest.get("generation")
        if generation is None:
            return RowDigests.empty()
        return self._read_parquet(f"{kind}-{generation}.parquet")

    def _read_parquet(self, name: str) -> RowDigests:
        path = self._path(name)
        try:
            with self.fs.open(path, "rb") as handle:
                return RowDigests.from_table(pq.read_table(handle))
        except (OSError, ValueError, KeyError, pa.ArrowException) as error:
            raise self._unreadable(f"{path} cannot be read ({type(error).__name__}: {error})") from error

    @property
    def rows(self) -> RowDigests:
        if self._rows is None:
            self._rows = self._read_digests("rows")
        return self._rows

    @property
    def people(self) -> RowDigests:
        if self._people is None:
            self._people = self._read_digests("people")
        return self._people

    @property
    def ingestions(self) -> list[IngestionRecord]:
        return [IngestionRecord.from_json(entry) for entry in self.manifest["ingestions"]]

    @property
    def pending(self) -> list[IngestionRecord]:
        return [IngestionRecord.from_json(entry) for entry in self.manifest["pending"]]

    def holds_data(self) -> bool:
        """Whether an ingestion for this tenant completed (a ledger of pending ones only does not)."""
        return self.exists() and bool(self.manifest["ingestions"])

    def last_ingestion(self) -> IngestionRecord | None:
        ingestions = self.ingestions
        return ingestions[-1] if ingestions else None

    def compare(self, file: RowDigests) -> Comparison:
        return compare(self.rows, self.people, file)

    def known_manager_digests(self) -> np.ndarray:
        """Sorted digests of every person Viva holds (a manager among them is a known person)."""
        return self.people.person

    def summary(self) -> dict[str, Any]:
        last = self.last_ingestion()
        return {
            "ledger": self.location,
            "tenant_id": self.tenant_id,
            "imports": len(self.ingestions),
            "people": len(self.people),
            "rows": len(self.rows),
            "last_effective_date": _iso_date(self.rows.date),
            "last_ingestion": last.to_json() if last else None,
            "pending": [entry.to_json() for entry in self.pending],
        }

    # -- writing ---------------------------------------------------------------------------------

    def record_completed(self, record: IngestionRecord, digests: RowDigests) -> None:
        """What Viva holds after `record` completed: a full import replaces, an incremental upserts."""
        self._require_lock()
        if record.mode is ImportKind.FULL:
            rows = _upsert(RowDigests.empty(), digests)
            people = _latest_per_person(rows)
        else:
            rows = _upsert(self.rows, digests)
            people = _latest_per_person(RowDigests.concat([self.people, _latest_per_person(digests)]))
        record.status = "Completed"
        record.last_effective_date = _iso_date(rows.date)
        manifest = dict(self.manifest)
        manifest["ingestions"] = [*manifest["ingestions"], record.to_json()]
        manifest["pending"] = [p for p in manifest["pending"] if p["ingestion_id"] != record.ingestion_id]
        self._commit(manifest, rows, people)

    def record_pending(self, record: IngestionRecord, digests: RowDigests) -> None:
        """An upload whose final status is not known yet; settled by a later run."""
        self._require_lock()
        record.status = "Pending"
        self._write_parquet(f"pending-{record.ingestion_id}.parquet", digests.to_table())
        manifest = dict(self.manifest)
        manifest["pending"] = [*manifest["pending"], record.to_json()]
        self._commit(manifest, None, None)

    def settle(self, ingestion_id: str, *, completed: bool) -> IngestionRecord:
        """A pending ingestion reached its final status: into the ledger when Completed, else dropped."""
        record = next((p for p in self.pending if p.ingestion_id == ingestion_id), None)
        if record is None:
            raise LedgerError(f"ingestion {ingestion_id} is not pending in the ledger at {self.location}")
        name = f"pending-{ingestion_id}.parquet"
        if completed:
            self.record_completed(record, self._read_parquet(name))
        else:
            manifest = dict(self.manifest)
            manifest["pending"] = [p for p in manifest["pending"] if p["ingestion_id"] != ingestion_id]
            self._commit(manifest, None, None)
        with contextlib.suppress(OSError):
            self.fs.rm(self._path(name))
        return record

    def _commit(self, manifest: dict[str, Any], rows: RowDigests | None, people: RowDigests | None) -> None:
        self._ensure_folder()
        self._ensure_key_file()
        old_generation = self.manifest.get("generation")
        if rows is not None and people is not None:
            generation = secrets.token_hex(6)
            self._write_parquet(f"rows-{generation}.parquet", rows.to_table())
            self._write_parquet(f"people-{generation}.parquet", people.to_table())
            manifest["generation"] = generation
        manifest["updated"] = now_iso()
        self._write_atomically("manifest.json", json.dumps(manifest, indent=2).encode("utf-8"))
        self._manifest = manifest
        if rows is not None and people is not None:
            self._rows, self._people = rows, people
            if old_generation and old_generation != manifest["generation"]:
                for kind in ("rows", "people"):
                    with contextlib.suppress(OSError):
                        self.fs.rm(self._path(f"{kind}-{old_generation}.parquet"))

    def _ensure_folder(self) -> None:
        self.fs.makedirs(self.folder, exist_ok=True)
        if self.is_local:
            Path(self.folder).chmod(0o700)

    def _ensure_key_file(self) -> None:
        if not self.fs.exists(self._path("key")):
            self._write_atomically("key", self.key.hex().encode("ascii") + b"\n")

    def _write_parquet(self, name: str, table: pa.Table) -> None:
        self._ensure_folder()
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        self._write_atomically(name, sink.getvalue().to_pybytes())

    def _write_atomically(self, name: str, data: bytes) -> None:
        final = self._path(name)
        partial = self._path(f".{name}.{secrets.token_hex(4)}.partial")
        if self.is_local:
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            Path(partial).replace(final)
            return
        with self.fs.open(partial, "wb") as handle:
            handle.write(data)
        self.fs.mv(partial, final)

    # -- one run at a time -------------------------------------------------------------------------

    _held_locks: ClassVar[set[str]] = set()

    def _require_lock(self) -> None:
        if self.location not in Ledger._held_locks:
            raise RuntimeError("the ledger is written only under its lock (Ledger.locked())")

    @contextlib.contextmanager
    def locked(self) -> Iterator[Ledger]:
        """Hold the lock beside the ledger; a second run for the tenant is refused, naming the first."""
        self._ensure_folder()
        path = self._path("lock")
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": now_iso()}
        payload = json.dumps(holder).encode("utf-8")
        if not self._create_exclusively(path, payload):
            other = self._lock_holder(path)
            if self._is_stale(other):
                self.fs.rm(path)
                if not self._create_exclusively(path, payload):
                    raise self._locked_error(self._lock_holder(path))
            else:
                raise self._locked_error(other)
        Ledger._held_locks.add(self.location)
        try:
            yield self
        finally:
            Ledger._held_locks.discard(self.location)
            with contextlib.suppress(OSError):
                self.fs.rm(path)

    def _create_exclusively(self, path: str, payload: bytes) -> bool:
        if self.is_local:
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return False
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(payload)
            return True
        # Object stores have no exclusive create: check, then write (a narrow race, documented).
        if self.fs.exists(path):
            return False
        with self.fs.open(path, "wb") as handle:
            handle.write(payload)
        return True

    def _lock_holder(self, path: str) -> dict[str, Any]:
        try:
            with self.fs.open(path, "rb") as handle:
                holder = json.loads(handle.read().decode("utf-8"))
            return holder if isinstance(holder, dict) else {}
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _is_stale(holder: Mapping[str, Any]) -> bool:
        """A lock left by a process of this host that no longer runs (killed, machine restarted)."""
        if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
            return False
        try:
            os.kill(holder["pid"], 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    def _locked_error(self, holder: Mapping[str, Any]) -> LedgerLocked:
        return LedgerLocked(
            f"Another run is delivering to tenant {self.tenant_id} (pid {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')}, started {holder.get('started', '?')}); Viva takes one ingestion "
            f"at a time. Wait for it to end; if it is gone, remove {self._path('lock')}."
        )


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def digest_data_csv(digester: Digester, batches: Iterable[pa.RecordBatch], date_order: str) -> RowDigests:
    """Digests of a whole data.csv read in Arrow batches (memory: 36 bytes a row plus one batch)."""
    return RowDigests.concat(digest_batch(digester, batch, date_order) for batch in batches)


def read_text_batches(path: Path) -> tuple[Iterator[pa.RecordBatch], str]:
    """data.csv of a package zip, or a bare CSV, as text batches; with the date order its types say."""
    import csv
    import zipfile

    import pyarrow.csv as pacsv

    date_order = "MDY"
    if path.suffix.lower() == ".zip":
        try:
            archive = zipfile.ZipFile(path)
            metadata = (
                json.loads(archive.read("metadata.json")) if "metadata.json" in archive.namelist() else {}
            )
            handle: Any = archive.open("data.csv")
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
            raise ConfigurationError(f"{path}: not a package with data.csv ({error})") from error
        tokens = json.dumps(metadata)
        date_order = "DMY" if "DD/MM/YYYY" in tokens else "MDY"
    else:
        try:
            handle = path.open("rb")
        except OSError as error:
            raise ConfigurationError(f"{path}: {error}") from error
    # The header line is read here, not by a first Arrow reader: Arrow reads ahead in a thread, and
    # rewinding a zip member under it corrupts the member's CRC check.
    header = next(csv.reader([handle.readline().decode("utf-8-sig").rstrip("\r\n")]), [])
    reader = pacsv.open_csv(
        handle,
        read_options=pacsv.ReadOptions(
            block_size=READ_BLOCK_BYTES, use_threads=False, column_names=header, skip_rows=0
        ),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        finally:
            handle.close()

    return batches(), date_order


def digest_file(ledger: Ledger, path: Path) -> tuple[RowDigests, pa.Table]:
    """A package's or CSV's digests, with its own (PersonId, EffectiveDate) to name what it changes."""
    batches, date_order = read_text_batches(path)
    parts: list[RowDigests] = []
    keys: list[pa.Table] = []
    for batch in batches:
        parts.append(digest_batch(ledger.digester, batch, date_order))
        names = [name for name in (PERSON_FIELD, DATE_FIELD) if name in batch.schema.names]
        keys.append(pa.Table.from_batches([batch]).select(names))
    return RowDigests.concat(parts), pa.concat_tables(keys) if keys else pa.table({PERSON_FIELD: []})
