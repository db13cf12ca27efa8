"""The delivery ledger: what Viva holds for a tenant, so a run sends only what is new or changed.

Viva reads `IsBootstrap: true` as "replace all organizational data". Without a memory of what went up,
a scheduled run of an incremental tap replaces the tenant's history with its latest month. The ledger
is that memory, written only after an ingestion reached Completed:

- rows: per row of data.csv the key (PersonId, EffectiveDate) and a digest of the row's values;
- people: every person Viva holds, with the digest of their latest ManagerId (so reporting chains
  that run across a file and the ledger can be followed) and the date of their latest row;
- the manifest: per ingestion its id, time, mode, rows, people and the package's SHA-256; pending
  ingestions (uploaded, final status not yet known) with the digests of what they carried.

No HR value is kept in clear: rows are keyed 64-bit digests (digests.py), under a random key stored
beside the ledger. EffectiveDate is kept as a date, the one value whose disclosure names nobody, so
the ledger can say what period it covers. A comparison streams data.csv against the ledger's sorted
row keys (a numpy join of 64-bit integers), holding 16 bytes per ledger row and a byte per file row.

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
import json
import os
import secrets
import socket
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from target_viva_insights.errors import LedgerError, LedgerLocked, LedgerWriteFailed
from target_viva_insights.import_mode import ImportMode
from target_viva_insights.ledger.digest_index import DigestIndex, find_sorted, last_of_runs
from target_viva_insights.ledger.digests import (
    DTYPES,
    DigestAlgorithm,
    Digester,
    RowDigests,
    RowDigestsBuilder,
    digest_batch,
)
from target_viva_insights.private_files import PRIVATE_FILE_MODE, PRIVATE_FOLDER_MODE
from target_viva_insights.rules import DateOrder

# 2: values digested with keyed BLAKE2b (format 1 ledgers keep HMAC-SHA256 and stay readable).
FORMAT_VERSION = 2
DIGEST_ALGORITHMS = {1: DigestAlgorithm.HMAC_SHA256, 2: DigestAlgorithm.BLAKE2B}
# Row groups of this many rows: a reader holds one at a time besides the arrays it fills.
ROW_GROUP_ROWS = 1 << 17
# Digests are random bytes: compressing them costs time and saves nothing. Dates compress well.
# The m365 destination's state: one row per person the tenant holds (destinations/m365/delta.py).
M365_STATE_FILE = "m365-state.parquet"
COLUMN_COMPRESSION = {"key": "none", "value": "none", "person": "none", "manager": "none", "date": "zstd"}


class Keep(enum.Enum):
    """Which rows' digests a comparison returns."""

    ALL = "all"  # a full import: the ledger will hold exactly the file
    NEW_OR_CHANGED = "new or changed"  # an auto import sends only those


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


class Comparer:
    """Compares a file with the ledger batch by batch: memory is the ledger's keys plus a byte a row.

    Args:
        row_keys: the ledger's row keys, sorted, and `row_values` their value digests.
        people: the digests of the people the ledger holds, sorted.
    """

    def __init__(self, row_keys: np.ndarray, row_values: np.ndarray, people: np.ndarray) -> None:
        self._row_keys, self._row_values, self._people = DigestIndex(row_keys), row_values, people
        self._new: list[np.ndarray] = []
        self._changed: list[np.ndarray] = []
        self._file_people = np.zeros(0, dtype=np.uint64)  # sorted
        self._first_rows = np.zeros(0, dtype=np.int64)  # where each of them first appears
        self._rows = 0

    def add(self, file: RowDigests) -> np.ndarray:
        """Compare the next rows of the file; returns which of them are new or changed."""
        found, position = self._row_keys.find(file.key)
        changed = found & (self._row_values[position] != file.value) if len(self._row_keys) else found
        self._new.append(~found)
        self._changed.append(changed)
        self._add_people(file.person)
        self._rows += len(file)
        return ~found | changed

    def _add_people(self, person: np.ndarray) -> None:
        distinct, first = np.unique(person, return_index=True)
        seen, _ = find_sorted(self._file_people, distinct)
        fresh, first = distinct[~seen], first[~seen] + self._rows
        at = np.searchsorted(self._file_people, fresh)
        self._file_people = np.insert(self._file_people, at, fresh)
        self._first_rows = np.insert(self._first_rows, at, first)

    def result(self) -> Comparison:
        known, _ = find_sorted(self._people, self._file_people)
        new_people = np.zeros(self._rows, dtype=bool)
        new_people[self._first_rows[~known]] = True
        new_rows = np.concatenate(self._new) if self._new else np.zeros(0, dtype=bool)
        changed = np.concatenate(self._changed) if self._changed else np.zeros(0, dtype=bool)
        return Comparison(
            new_rows=new_rows,
            changed_rows=changed,
            new_people=new_people,
            file_people=len(self._file_people),
            ledger_people=len(self._people),
            absent_people=int(len(self._people) - known.sum()),
        )


def _upsert(old: RowDigests, new: RowDigests) -> RowDigests:
    """Rows by key, the new side winning (and within it, the last row); `old` and the result are
    sorted by key. Costs a copy of `old`, not a sort of both."""
    new = _last_per_key(new)
    found, position = DigestIndex(old.key).find(new.key)
    added, replaced = new.select(~found), new.select(found)
    at = np.searchsorted(old.key, added.key)
    merged = RowDigests(
        *(
            np.insert(getattr(old, field.name), at, getattr(added, field.name))
            for field in dataclasses.fields(RowDigests)
        )
    )
    # An old row moves right by the number of rows inserted before it.
    moved = position[found] + np.searchsorted(at, position[found], side="right")
    for field in dataclasses.fields(RowDigests):
        getattr(merged, field.name)[moved] = getattr(replaced, field.name)
    return merged


def _last_per_key(rows: RowDigests, *, in_place: bool = False) -> RowDigests:
    """One row per key, the last one given; sorted by key. `in_place` reorders `rows` itself when no
    key repeats (a million rows: one 8 MB array at a time instead of a 36 MB copy)."""
    order = _narrow(np.argsort(rows.key, kind="stable"))
    ordered_keys = rows.key[order]
    last = last_of_runs(ordered_keys)
    if not last.all():
        return rows.select(order[last])
    if not in_place:
        return rows.select(order)
    rows.key[:] = ordered_keys
    del ordered_keys
    for field in dataclasses.fields(RowDigests):
        if field.name != "key":
            array = getattr(rows, field.name)
            array[:] = array[order]
    return rows


def _latest_per_person(rows: RowDigests) -> RowDigests:
    """One entry per person: their latest row's manager and date (of equal dates, the last row given);
    sorted by person.

    The people's rows are found by a sort on the person and a maximum per person's run of rows, not a
    sort on two keys: that holds a permutation and one column at a time, not both keys' sorts."""
    if not len(rows):
        return rows.select(np.zeros(0, dtype=np.int64))
    order = _narrow(np.argsort(rows.person, kind="stable"))
    starts = np.r_[0, np.flatnonzero(last_of_runs(rows.person[order]))[:-1] + 1]
    dates = rows.date[order]
    latest = np.repeat(np.maximum.reduceat(dates, starts), np.diff(np.r_[starts, len(dates)]))
    candidates = np.flatnonzero(dates == latest)
    del dates, latest
    run = np.searchsorted(starts, candidates, side="right")
    # Only the people's rows are copied, not every row.
    return rows.select(order[candidates[last_of_runs(run)]])


def _narrow(order: np.ndarray) -> np.ndarray:
    """A permutation in 32 bits when it fits: half the memory while the columns are reordered by it."""
    return order.astype(np.int32) if len(order) < np.iinfo(np.int32).max else order


# ---- the ledger ----------------------------------------------------------------------------------


@dataclasses.dataclass
class IngestionRecord:
    """One ingestion as the ledger remembers it."""

    ingestion_id: str
    time: str
    mode: ImportMode
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
        values["mode"] = ImportMode(values["mode"])
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
        # The log names the tenant's folder; a ledger_path set to it means that ledger, not a folder
        # for a ledger of its own below it (which would be empty, and a full import would follow).
        if base.rstrip("/").rsplit("/", 1)[-1] == tenant_id and self._holds_own_manifest(base.rstrip("/")):
            self.folder = base.rstrip("/")
        self._manifest: dict[str, Any] | None = None
        self._key: bytes | None = None
        self._rows: RowDigests | None = None
        self._people: RowDigests | None = None
        self._row_index: tuple[np.ndarray, np.ndarray] | None = None
        self._digester: Digester | None = None

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

    def _holds_own_manifest(self, folder: str) -> bool:
        if self.fs.exists(f"{folder}/{self.tenant_id}/manifest.json"):
            return False
        try:
            with self.fs.open(f"{folder}/manifest.json", "rb") as handle:
                document = json.loads(handle.read().decode("utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(document, dict) and document.get("tenant_id") == self.tenant_id

    @property
    def manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            if self.exists():
                self._manifest = self._read_manifest()
            else:
                self._refuse_files_without_manifest()
                self._manifest = self._new_manifest()
        return self._manifest

    def _refuse_files_without_manifest(self) -> None:
        """Ledger files without their manifest are a damaged ledger, not an absent one: read as "no
        ledger", they would make the next run a full import that replaces what Viva holds."""
        try:
            names = sorted(str(name).rsplit("/", 1)[-1] for name in self.fs.ls(self.folder, detail=False))
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as error:
            raise self._unreadable(
                f"its folder cannot be listed ({type(error).__name__}: {error})"
            ) from error
        found = [name for name in names if _is_ledger_data_file(name)]
        if found:
            shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
            raise self._unreadable(f"its manifest.json is missing, yet the folder holds {shown}")

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
        if (
            not isinstance(document, dict)
            or not isinstance(document.get("format"), int)
            or document["format"] < 1
        ):
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
        """The tenant's digester (one per ledger: it caches the digests of the values it has seen)."""
        if self._digester is None:
            self._digester = Digester(self.key, DIGEST_ALGORITHMS[self.manifest["format"]])
        return self._digester

    def _read_digests(self, kind: str) -> RowDigests:
        generation = self.manifest.get("generation")
        if generation is None:
            return RowDigests.empty()
        return RowDigests.from_columns(self._read_columns(f"{kind}-{generation}.parquet", list(DTYPES)))

    def _read_columns(self, name: str, columns: list[str]) -> dict[str, np.ndarray]:
        """Columns of a ledger file, filled row group by row group into arrays of their own."""
        path = self._path(name)
        try:
            with self.fs.open(path, "rb") as handle:
                file = pq.ParquetFile(handle, pre_buffer=False)
                rows = file.metadata.num_rows
                arrays = {column: np.empty(rows, dtype=DTYPES[column]) for column in columns}
                start = 0
                for batch in file.iter_batches(batch_size=ROW_GROUP_ROWS, columns=columns, use_threads=False):
                    for column in columns:
                        arrays[column][start : start + batch.num_rows] = batch.column(column).to_numpy()
                    start += batch.num_rows
                if start != rows:
                    raise ValueError(f"{start} rows read of {rows}")
                return arrays
        except (OSError, ValueError, KeyError, pa.ArrowException) as error:
            raise self._unreadable(f"{path} cannot be read ({type(error).__name__}: {error})") from error

    def _row_keys_and_values(self) -> tuple[np.ndarray, np.ndarray]:
        """The sorted row keys and their value digests: all a comparison needs (16 bytes a row)."""
        if self._rows is not None:
            return self._rows.key, self._rows.value
        if self._row_index is None:
            generation = self.manifest.get("generation")
            if generation is None:
                empty = np.zeros(0, dtype=np.uint64)
                return empty, empty
            arrays = self._read_columns(f"rows-{generation}.parquet", ["key", "value"])
            self._row_index = (arrays["key"], arrays["value"])
        return self._row_index

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
        return bool(self.manifest["ingestions"])

    def last_ingestion(self) -> IngestionRecord | None:
        ingestions = self.ingestions
        return ingestions[-1] if ingestions else None

    def person_dates(self) -> tuple[np.ndarray, np.ndarray]:
        """Each row's person digest and EffectiveDate (days), in the ledger's row order."""
        if self._rows is not None:
            return self._rows.person, self._rows.date
        generation = self.manifest.get("generation")
        if generation is None:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int32)
        arrays = self._read_columns(f"rows-{generation}.parquet", ["person", "date"])
        return arrays["person"], arrays["date"]

    def comparer(self) -> Comparer:
        """A comparison of a file with what the ledger holds, fed batch by batch."""
        return Comparer(*self._row_keys_and_values(), self.people.person)

    def compare(self, file: RowDigests) -> Comparison:
        """What the file (its digests) would change against the ledger."""
        comparer = self.comparer()
        comparer.add(file)
        return comparer.result()

    def compare_batches(
        self, batches: Iterable[pa.RecordBatch], date_order: DateOrder, *, keep: Keep, rows: int = 0
    ) -> tuple[Comparison, RowDigests]:
        """Digest and compare data.csv batch by batch.

        Args:
            batches: data.csv's rows (see `digests.dictionary_batches`).
            date_order: how its dates are written.
            keep: which rows' digests to return: all of them, or only the new and changed ones.
            rows: how many rows data.csv holds, when known (the digests kept are then filled in place).

        Returns:
            The comparison and the kept rows' digests, in file order.
        """
        comparer = self.comparer()
        kept = RowDigestsBuilder(rows if keep is Keep.ALL else 0)
        for batch in batches:
            digests = digest_batch(self.digester, batch, date_order)
            to_send = comparer.add(digests)
            kept.append(digests if keep is Keep.ALL else digests.select(to_send))
        return comparer.result(), kept.build()

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
        """What Viva holds after `record` completed: a full import replaces, an incremental upserts.

        The digests of a full import become the ledger's rows: they are reordered, not copied.
        """
        from target_viva_insights.memory import release_freed_memory

        self._require_lock()
        release_freed_memory()  # the run's earlier steps' freed memory, before the sorts' temporaries
        if record.mode is ImportMode.FULL:
            rows = _last_per_key(digests, in_place=True)
            people = _latest_per_person(rows)
            release_freed_memory()
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
            self.record_completed(record, RowDigests.from_columns(self._read_columns(name, list(DTYPES))))
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
        written: list[str] = []
        try:
            if rows is not None and people is not None:
                generation = secrets.token_hex(6)
                for kind, table in (("rows", rows), ("people", people)):
                    written.append(f"{kind}-{generation}.parquet")
                    self._write_parquet(written[-1], table.to_table())
                manifest["generation"] = generation
            manifest["updated"] = now_iso()
            self._write_atomically("manifest.json", json.dumps(manifest, indent=2).encode("utf-8"))
        except LedgerWriteFailed:
            # The manifest still names the old generation: the new one's files are litter.
            for name in written:
                with contextlib.suppress(OSError):
                    self.fs.rm(self._path(name))
            raise
        self._manifest = manifest
        if rows is not None and people is not None:
            self._rows, self._people, self._row_index = rows, people, None
            if old_generation and old_generation != manifest["generation"]:
                for kind in ("rows", "people"):
                    with contextlib.suppress(OSError):
                        self.fs.rm(self._path(f"{kind}-{old_generation}.parquet"))

    def _ensure_folder(self) -> None:
        self.fs.makedirs(self.folder, exist_ok=True)
        if self.is_local:
            Path(self.folder).chmod(PRIVATE_FOLDER_MODE)

    def _ensure_key_file(self) -> None:
        if not self.fs.exists(self._path("key")):
            self._write_atomically("key", self.key.hex().encode("ascii") + b"\n")

    def _write_parquet(self, name: str, table: pa.Table) -> None:
        self._ensure_folder()
        self._write_atomically(
            name,
            lambda handle: pq.write_table(
                table, handle, compression=COLUMN_COMPRESSION, row_group_size=ROW_GROUP_ROWS
            ),
        )

    def _write_atomically(self, name: str, content: bytes | Callable[[Any], None]) -> None:
        """Write `content` (bytes, or a function writing to a binary handle) beside the final name,
        then rename: a reader sees the old file or the new one."""
        final = self._path(name)
        partial = self._path(f".{name}.{secrets.token_hex(4)}.partial")

        def write(handle: Any) -> None:
            if callable(content):
                content(handle)
            else:
                handle.write(content)

        try:
            if self.is_local:
                descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
                with os.fdopen(descriptor, "wb") as handle:
                    write(handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                Path(partial).replace(final)
                return
            with self.fs.open(partial, "wb") as handle:
                write(handle)
            self.fs.mv(partial, final)
        except OSError as error:
            with contextlib.suppress(OSError):
                self.fs.rm(partial)
            raise self._write_failed(final, error) from error

    def _write_failed(self, path: str, error: OSError) -> LedgerWriteFailed:
        reason = os.strerror(error.errno) if error.errno else str(error) or type(error).__name__
        return LedgerWriteFailed(
            f"The ledger at {self.location} could not be written: {path}: {reason}. The ledger was left "
            "as it was before this write (a write goes to a new file that replaces the old one in one "
            "step). Free space or fix access to the ledger's storage and run again."
        )

    # -- the m365 destination's per-person state (destinations/m365/delta.py) --------------------

    def read_m365_state(self) -> pa.Table | None:
        """What a Microsoft 365 tenant holds per person (digests only), or None before the first upload."""
        path = self._path(M365_STATE_FILE)
        if not self.fs.exists(path):
            return None
        try:
            with self.fs.open(path, "rb") as handle:
                return pq.read_table(handle)
        except (OSError, ValueError, pa.ArrowException) as error:
            raise self._unreadable(f"{path} cannot be read ({type(error).__name__}: {error})") from error

    def write_m365_state(self, state: pa.Table) -> None:
        """Replace the per-person state in one rename, under the lock; the key is written beside it."""
        self._require_lock()
        self._ensure_folder()
        self._ensure_key_file()
        self._write_parquet(M365_STATE_FILE, state)

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
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
            except FileExistsError:
                return False
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(payload)
            except OSError as error:
                with contextlib.suppress(OSError):
                    Path(path).unlink()
                raise self._write_failed(path, error) from error
            return True
        # Object stores have no exclusive create: check, then write (a narrow race, documented).
        if self.fs.exists(path):
            return False
        try:
            with self.fs.open(path, "wb") as handle:
                handle.write(payload)
        except OSError as error:
            with contextlib.suppress(OSError):
                self.fs.rm(path)
            raise self._write_failed(path, error) from error
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


def _is_ledger_data_file(name: str) -> bool:
    """A file only a recorded ledger holds. The key and lock come before the first record, and the
    m365 destination keeps its state without a manifest: neither says Viva holds anything."""
    return name.endswith(".parquet") and name.startswith(("rows-", "people-", "pending-"))


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
