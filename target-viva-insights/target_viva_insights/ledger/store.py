"""The delivery ledger: what Viva holds for a tenant, so a run sends only what is new or changed.

Viva reads `IsBootstrap: true` as "replace all organizational data". Without a memory of what went up,
a scheduled run of an incremental tap replaces the tenant's history with its latest month. The ledger
is that memory, written only after an ingestion reached Completed:

- rows: per row of data.csv the key (PersonId, EffectiveDate) and a digest of the row's values;
- people: every person Viva holds, with the digest of their latest ManagerId (so reporting chains
  that run across a file and the ledger can be followed) and the date of their latest row;
- the manifest: per ingestion its id, time, mode, rows, people and the package's SHA-256; pending
  uploads with the digests of what they carried and the package itself, from before the POST until the
  ingestion's final status is known (see `RecordStatus`).

No HR value is kept in clear: rows are keyed 64-bit digests (digests.py), under a random key stored
beside the ledger. EffectiveDate is kept as a date, the one value whose disclosure names nobody, so
the ledger can say what period it covers. A comparison streams data.csv against the ledger's sorted
row keys (a numpy join of 64-bit integers), holding 16 bytes per ledger row and a byte per file row.

Layout under `ledger_path` (a local folder or any fsspec URL), one folder per tenant:
`<tenant_id>/manifest.json`, `rows-<generation>.parquet`, `people-<generation>.parquet`,
`pending-<upload>.parquet` and `pending-<upload>.zip`, `key` and `lock`. A change writes new
generation files, then replaces the manifest in one step (a rename on a disk, one put on an object
store): a reader sees the old ledger or the new one, never a mix. Local files are 0600 and folders 0700.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import hashlib
import io
import json
import logging
import os
import secrets
import shutil
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
    NO_DATE,
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
# Random row keys and value digests do not shorten in a dictionary, which only costs memory while the
# file is written; people, managers and dates repeat from month to month.
DICTIONARY_COLUMNS = ["person", "manager", "date"]


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
    # Which of the ledger's rows (in its key order) the file holds too; the file's people (sorted)
    # and its EffectiveDates (days, first and last): what `Ledger.rows_missing_from` needs.
    held_found: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=bool))
    file_person_digests: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, dtype=np.uint64))
    file_dates: tuple[int, int] | None = None

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
        self._held_found = np.zeros(len(row_keys), dtype=bool)
        self._dates: tuple[int, int] | None = None

    def add(self, file: RowDigests) -> np.ndarray:
        """Compare the next rows of the file; returns which of them are new or changed."""
        found, position = self._row_keys.find(file.key)
        self._held_found[position[found]] = True
        dated = file.date[file.date != NO_DATE]
        if len(dated):
            low, high = int(dated.min()), int(dated.max())
            if self._dates is not None:
                low, high = min(low, self._dates[0]), max(high, self._dates[1])
            self._dates = (low, high)
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
            held_found=self._held_found,
            file_person_digests=self._file_people,
            file_dates=self._dates,
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


class RecordStatus(str, enum.Enum):
    """Where an upload the ledger knows of stands.

    SENDING: recorded before the POST; no answer from the service yet (a run that died in between leaves
    it, and the next run looks for it in the service's listing). PENDING: accepted, final status not
    known yet. FAILED: it ended failed after the run that sent it had ended, so its rows are at the
    service nowhere; every run refuses until it is resent or forgotten (`viva-insights ledger`).
    COMPLETED: what the tenant holds.
    """

    SENDING = "Sending"
    PENDING = "Pending"
    FAILED = "Failed"
    COMPLETED = "Completed"


@dataclasses.dataclass
class IngestionRecord:
    """One upload as the ledger remembers it; `upload` names its pending files until it settles."""

    ingestion_id: str
    time: str
    mode: ImportMode
    rows: int
    people: int
    package_sha256: str
    last_effective_date: str | None = None
    status: RecordStatus = RecordStatus.COMPLETED
    upload: str = ""

    @property
    def name(self) -> str:
        """How the user names it: the ingestion id, or the upload's own id before the service answered."""
        return self.ingestion_id or self.upload

    @property
    def pending_stem(self) -> str:
        return f"pending-{self.upload or self.ingestion_id}"

    def to_json(self) -> dict[str, Any]:
        document = dataclasses.asdict(self)
        document["mode"] = self.mode.value
        document["status"] = self.status.value
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> IngestionRecord:
        values = dict(document)
        values["mode"] = ImportMode(values["mode"])
        values["status"] = RecordStatus(values.get("status", RecordStatus.COMPLETED.value))
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
            # No listings cache: a listing kept from before a write (this run's or another's) would
            # hide the file written or show the one removed.
            self.fs, base = fsspec.core.url_to_fs(root, use_listings_cache=False)
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
        if self.is_local:
            return self.folder
        scheme = self.root.split("://", 1)[0] if "://" in self.root else None
        return f"{scheme}://{self.folder}" if scheme else self.fs.unstrip_protocol(self.folder)

    def _path(self, name: str) -> str:
        return f"{self.folder}/{name}"

    # -- reading ---------------------------------------------------------------------------------

    def exists(self) -> bool:
        # The first call of a run to the storage: a wrong key, an unknown account or an unreachable
        # endpoint shows here.
        try:
            return bool(self.fs.exists(self._path("manifest.json")))
        except STORAGE_ERRORS as error:
            raise LedgerError(
                f"The ledger at {self.location} cannot be reached: {_storage_reason(error)}. Check the "
                "storage's address and credentials (for az://, the AZURE_STORAGE_* settings: see "
                "docs/delivery-ledger.md) and run again; the ledger was left as it is."
            ) from error

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

    def find_pending(self, name: str) -> IngestionRecord:
        """The pending (or failed) upload `name`: its ingestion id, or its upload id before one."""
        for record in self.pending:
            if name in (record.ingestion_id, record.upload):
                return record
        known = ", ".join(record.name for record in self.pending) or "none"
        raise LedgerError(
            f"{name!r} is not a pending upload of the ledger at {self.location} (pending: {known})."
        )

    def known_ingestion_ids(self) -> set[str]:
        return {record.ingestion_id for record in [*self.ingestions, *self.pending] if record.ingestion_id}

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

    def rows_missing_from(self, comparison: Comparison) -> int:
        """Rows the ledger holds for people the file names, within the file's EffectiveDates, that the
        file does not hold: rows deleted at the source. Reads the ledger's people and dates only when
        the file spans more than one date (one date: the keys already matched)."""
        dates = comparison.file_dates
        missing = ~comparison.held_found
        if dates is None or dates[0] == dates[1] or not missing.any():
            return 0
        person, date = self.person_dates()
        person, date = person[missing], date[missing]
        within = (date >= dates[0]) & (date <= dates[1])
        named, _ = find_sorted(comparison.file_person_digests, person[within])
        return int(named.sum())

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
        pending = record.upload or record.ingestion_id
        stem = record.pending_stem
        record.status = RecordStatus.COMPLETED
        record.last_effective_date = _iso_date(rows.date)
        record.upload = ""
        manifest = dict(self.manifest)
        manifest["ingestions"] = [*manifest["ingestions"], record.to_json()]
        manifest["pending"] = [p for p in manifest["pending"] if not _names(p, pending)]
        self._commit(manifest, rows, people)
        self._remove_pending_files(stem)

    def begin_upload(self, record: IngestionRecord, digests: RowDigests, package: Path) -> IngestionRecord:
        """Record an upload before its POST: its digests, its package and a SENDING entry.

        Whatever happens to the process from here on, a later run finds the upload and settles it:
        nothing is sent twice, and a failure at the service can be resent from the package kept here.
        Writing these files first also proves the storage has room before anything is sent.
        """
        self._require_lock()
        record.upload = f"upload-{secrets.token_hex(8)}"
        record.ingestion_id = ""
        record.status = RecordStatus.SENDING
        stem = record.pending_stem
        try:
            self._write_parquet(f"{stem}.parquet", digests.to_table())
            self._check_room(stem, package)
            self._write_atomically(f"{stem}.zip", lambda handle: _copy_file(package, handle))
            manifest = dict(self.manifest)
            manifest["pending"] = [*manifest["pending"], record.to_json()]
            self._commit(manifest, None, None)
        except LedgerWriteFailed:
            self._remove_pending_files(stem)
            raise
        return record

    def accepted(self, record: IngestionRecord, ingestion_id: str) -> None:
        """The service accepted the upload as `ingestion_id`: PENDING until its final status is known."""
        self._require_lock()
        key = record.upload or record.ingestion_id
        record.upload = key  # its pending files keep their names under the new id
        record.ingestion_id, record.status = ingestion_id, RecordStatus.PENDING
        self._replace_pending(record, key)

    def mark_failed(self, record: IngestionRecord) -> None:
        """It ended failed after its run: kept, with its package, until resent or forgotten."""
        self._require_lock()
        record.status = RecordStatus.FAILED
        self._replace_pending(record, record.upload or record.ingestion_id)

    def withdraw(self, record: IngestionRecord) -> None:
        """Forget an upload that never reached the service, or whose failure its own run reported."""
        self._require_lock()
        manifest = dict(self.manifest)
        manifest["pending"] = [
            p for p in manifest["pending"] if not _names(p, record.upload or record.ingestion_id)
        ]
        self._commit(manifest, None, None)
        self._remove_pending_files(record.pending_stem)

    def settle(self, name: str, *, completed: bool) -> IngestionRecord:
        """A pending upload reached its final status: into the ledger when Completed, else FAILED."""
        self._require_lock()
        record = self.find_pending(name)
        if completed:
            self.record_completed(record, self.pending_digests(record))
        else:
            self.mark_failed(record)
        return record

    def pending_digests(self, record: IngestionRecord) -> RowDigests:
        return RowDigests.from_columns(self._read_columns(f"{record.pending_stem}.parquet", list(DTYPES)))

    def pending_package(self, record: IngestionRecord, target: Path) -> Path | None:
        """Copy the package of a pending upload to `target` (0600); None when the ledger has none."""
        path = self._path(f"{record.pending_stem}.zip")
        if not self.fs.exists(path):
            return None
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        with os.fdopen(descriptor, "wb") as out, self.fs.open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                out.write(chunk)
        return target

    def _replace_pending(self, record: IngestionRecord, key: str) -> None:
        manifest = dict(self.manifest)
        manifest["pending"] = [record.to_json() if _names(p, key) else p for p in manifest["pending"]]
        self._commit(manifest, None, None)

    def _remove_pending_files(self, stem: str) -> None:
        for suffix in (".parquet", ".zip"):
            with contextlib.suppress(OSError):
                if self.fs.exists(self._path(stem + suffix)):
                    self.fs.rm(self._path(stem + suffix))

    def _room_for_record(self, stem: str, package: Path) -> int:
        """Bytes still to write for this upload: its package here, then, once it completed, a new
        generation of the rows and people files (at most what is held now plus what the upload adds,
        twice over while the old generation is still in place)."""
        names = [f"{kind}-{self.manifest['generation']}.parquet" for kind in ("rows", "people")]
        held = (
            sum(int(self.fs.size(self._path(name))) for name in names) if self.manifest["generation"] else 0
        )
        adds = int(self.fs.size(self._path(f"{stem}.parquet")))
        return package.stat().st_size + 2 * (held + adds)

    def _check_room(self, stem: str, package: Path) -> None:
        """On local storage, refuse before the upload when the ledger could not be recorded after it."""
        if not self.is_local:
            return
        needed = self._room_for_record(stem, package)
        free = shutil.disk_usage(self.folder).free
        if free < needed:
            raise LedgerWriteFailed(
                f"The ledger at {self.location} has {free / 1e6:.1f} MB free; recording this upload after "
                f"it completes needs about {needed / 1e6:.1f} MB. Nothing was sent. Free space on the "
                "ledger's storage and run again."
            )

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
                with contextlib.suppress(*REMOVAL_ERRORS):
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
                table,
                handle,
                compression=COLUMN_COMPRESSION,
                row_group_size=ROW_GROUP_ROWS,
                use_dictionary=DICTIONARY_COLUMNS if "key" in table.column_names else True,
            ),
        )

    def _write_atomically(self, name: str, content: bytes | Callable[[Any], None]) -> None:
        """Write `content` (bytes, or a function writing to a binary handle) so that a reader sees the
        old file or the new one.

        A local file is written beside the final name, then renamed over it. On an object store a
        rename is a copy and a delete, so the whole object goes up in one put instead: an upload is
        atomic there (blob storage makes an upload's blocks visible in one commit), and a run killed
        during it leaves the old object and nothing else."""
        final = self._path(name)
        if not self.is_local:
            if callable(content):
                buffer = io.BytesIO()
                content(buffer)
                content = buffer.getvalue()
            try:
                self.fs.pipe_file(final, content)
            except STORAGE_ERRORS as error:
                raise self._write_failed(final, error) from error
            return
        partial = self._path(f".{name}.{secrets.token_hex(4)}.partial")
        try:
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
            with os.fdopen(descriptor, "wb") as handle:
                if callable(content):
                    content(handle)
                else:
                    handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            Path(partial).replace(final)
        except OSError as error:
            with contextlib.suppress(OSError):
                Path(partial).unlink()
            raise self._write_failed(final, error) from error

    def _write_failed(self, path: str, error: Exception) -> LedgerWriteFailed:
        return LedgerWriteFailed(
            f"The ledger at {self.location} could not be written: {path}: {_storage_reason(error)}. The "
            "ledger was left as it was before this write (a write replaces a whole file in one step). "
            "Free space or fix access to the ledger's storage and run again."
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
        path = self._path("lock")
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": now_iso()}
        payload = json.dumps(holder).encode("utf-8")
        try:
            self._ensure_folder()
            if not self._create_exclusively(path, payload):
                other, version = self._read_lock(path)
                if not self._is_stale(other):
                    raise self._locked_error(other)
                if not self._replace_stale_lock(path, version, payload):
                    raise self._locked_error(self._lock_holder(path))
        except STORAGE_ERRORS as error:
            raise self._write_failed(path, error) from error
        Ledger._held_locks.add(self.location)
        try:
            yield self
        finally:
            Ledger._held_locks.discard(self.location)
            with contextlib.suppress(*REMOVAL_ERRORS):
                self.fs.rm(path)

    def _create_exclusively(self, path: str, payload: bytes) -> bool:
        """Create the lock unless it exists, in one step: False when it exists."""
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
        # A conditional put, refused by the store when the object exists (blob storage: If-None-Match: *),
        # so of two runs starting together exactly one gets the lock.
        try:
            self.fs.pipe_file(path, payload, mode="create")
        except FileExistsError:
            return False
        except STORAGE_ERRORS as error:
            raise self._write_failed(path, error) from error
        return True

    def _replace_stale_lock(self, path: str, version: str | None, payload: bytes) -> bool:
        """Put this run's lock in place of a stale one; False when another run took it first.

        On Azure Blob Storage the put is conditional on the stale lock's ETag (If-Match): of two runs
        taking over the same stale lock, only one succeeds. Elsewhere the stale lock is removed, then
        created again exclusively."""
        if version is not None and AZURE_PROTOCOLS & set(_protocols(self.fs)):
            from azure.core import MatchConditions
            from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

            try:
                self.fs.pipe_file(path, payload, etag=version, match_condition=MatchConditions.IfNotModified)
            except (ResourceModifiedError, ResourceNotFoundError):
                return False
            return True
        self.fs.rm(path)
        return self._create_exclusively(path, payload)

    def _read_lock(self, path: str) -> tuple[dict[str, Any], str | None]:
        """The lock's holder and, on an object store that gives one, the version (ETag) read."""
        try:
            with self.fs.open(path, "rb") as handle:
                details = getattr(handle, "details", None)
                version = details.get("etag") if isinstance(details, dict) else None
                holder = json.loads(handle.read().decode("utf-8"))
            return (holder if isinstance(holder, dict) else {}), version
        except (OSError, ValueError):
            return {}, None

    def _lock_holder(self, path: str) -> dict[str, Any]:
        return self._read_lock(path)[0]

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


def _names(entry: Mapping[str, Any], key: str) -> bool:
    """Whether a manifest's pending entry is the upload `key` (its upload id, or its ingestion id)."""
    return key in (entry.get("upload"), entry.get("ingestion_id"))


def _copy_file(source: Path, handle: Any) -> None:
    with source.open("rb") as file:
        shutil.copyfileobj(file, handle, 1 << 20)


def _is_ledger_data_file(name: str) -> bool:
    """A file only a recorded ledger holds. The key and lock come before the first record, and the
    m365 destination keeps its state without a manifest: neither says Viva holds anything."""
    return name.endswith(".parquet") and name.startswith(("rows-", "people-", "pending-"))


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


# adlfs's names for Azure Blob Storage (and Data Lake Storage Gen2, which is blob storage too).
AZURE_PROTOCOLS = {"az", "abfs", "abfss"}
# The Azure SDK logs every request and response, headers included, at INFO: the run's log is for the run.
logging.getLogger("azure").setLevel(logging.WARNING)


def _storage_errors() -> tuple[type[Exception], ...]:
    """What a storage call raises for a refusal or an outage: OSError, and the Azure SDK's own errors,
    which adlfs passes through (a wrong key, a missing role or container, an unreachable account)."""
    try:
        from azure.core.exceptions import AzureError
    except ImportError:
        return (OSError,)
    return (OSError, AzureError)


STORAGE_ERRORS = _storage_errors()
# adlfs reports a failed removal as RuntimeError; a removal that fails leaves litter, never a wrong ledger.
REMOVAL_ERRORS = (*STORAGE_ERRORS, RuntimeError)


def _storage_reason(error: Exception) -> str:
    """The storage's refusal in a line: the OS's words for an errno, else the first line of the
    message with the HTTP status and the service's error code when there are some."""
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno)
    lines = str(error).strip().splitlines()
    reason = lines[0] if lines else type(error).__name__
    status, code = getattr(error, "status_code", None), getattr(error, "error_code", None)
    code = getattr(code, "value", code)  # the SDK's StorageErrorCode enum: its value is the service's word
    details = " ".join(str(part) for part in (status, code) if part)
    return f"{reason} (HTTP {details})" if details else reason
