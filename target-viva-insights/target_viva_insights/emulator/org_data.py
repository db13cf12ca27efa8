"""The organizational data each emulated tenant holds, kept the way Viva keeps it.

Microsoft's "Import organizational data (subsequent imports)" page: a package whose metadata.json says
`"IsBootstrap": "true"` replaces all the tenant's organizational data; otherwise its rows are added to
what the tenant holds. A row is known by (PersonId, EffectiveDate): an incremental row with the key of a
held row replaces it (the emulator's reading of "update existing records"). Columns are held under
their Viva names (the Mapping's "name"), values as written in data.csv.

Held data lives in DATA_DIR/org-data/<tenant>.parquet (0600), so it survives a restart of the emulator.
An ingestion's result is computed in the validation worker into a staged file, and only becomes what the
tenant holds when the ingestion reaches Completed (`commit`); an abandoned or failed ingestion's staged
file is dropped (`discard`).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import os
import re
import zipfile
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

PERSON_ID = "PersonId"
EFFECTIVE_DATE = "EffectiveDate"
DATA_FILE = "data.csv"
METADATA_FILE = "metadata.json"
_ORDER = "__order"
# Tenant ids become file names: a GUID or a domain name, nothing that could climb out of the folder.
_SAFE_TENANT = re.compile(r"^[a-z0-9][a-z0-9.-]{0,253}$")


class OrgDataError(ValueError):
    """A tenant id the emulator cannot keep data for, or a package whose rows it cannot read."""


def row_key(person_id: str | None, effective_date: str | None) -> str:
    """The key of a held row: `<PersonId>|<EffectiveDate as written>` (empty when the file had none)."""
    return f"{person_id or ''}|{effective_date or ''}"


def row_digest(record: dict[str, str]) -> str:
    """SHA-256 (hex) of a held row: its columns and values as compact JSON, keys sorted."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def whole_digest(row_digests: dict[str, str]) -> str:
    """SHA-256 (hex) of every `key<TAB>row digest<LF>` line, in key order: equal holdings, equal digest."""
    digest = hashlib.sha256()
    for key in sorted(row_digests):
        digest.update(f"{key}\t{row_digests[key]}\n".encode())
    return digest.hexdigest()


class OrgDataStore:
    """Each tenant's held rows, on disk; the emulator's service applies completed ingestions here."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    # ---- files ---------------------------------------------------------------------------------

    def held_file(self, tenant_id: str) -> Path:
        return self.folder / f"{_safe_tenant(tenant_id)}.parquet"

    def _staged_file(self, ingestion_id: str) -> Path:
        return self.folder / f".staged-{ingestion_id}.parquet"

    def held(self, tenant_id: str) -> pa.Table | None:
        """What the tenant holds, or None when it holds nothing."""
        path = self.held_file(tenant_id)
        return pq.read_table(path) if path.exists() else None

    # ---- ingestions ----------------------------------------------------------------------------

    def stage(self, ingestion_id: str, tenant_id: str, package: Path) -> Path:
        """Compute what the tenant will hold once this package's ingestion completes.

        Args:
            ingestion_id: The ingestion (names the staged file).
            tenant_id: The tenant the package was uploaded to.
            package: A zip that passed validation (data.csv and metadata.json).

        Returns:
            The staged file, for `commit` or `discard`.

        Raises:
            OrgDataError: The package's rows cannot be read.
        """
        incoming, is_bootstrap = read_package(package)
        current = None if is_bootstrap else self.held(tenant_id)
        result = upsert(current, incoming)
        staged = self._staged_file(ingestion_id)
        _write_private_parquet(result, staged)
        logger.info(
            "Ingestion %s staged as %s: %d rows to hold",
            ingestion_id,
            "bootstrap" if is_bootstrap else "incremental",
            result.num_rows,
        )
        return staged

    def commit(self, ingestion_id: str, tenant_id: str) -> None:
        """The staged result of a completed ingestion becomes what the tenant holds (atomically)."""
        staged = self._staged_file(ingestion_id)
        if staged.exists():
            staged.replace(self.held_file(tenant_id))

    def discard(self, ingestion_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._staged_file(ingestion_id).unlink()

    def clear(self) -> None:
        """Every tenant holds nothing (and no staged result is left)."""
        for path in self.folder.glob("*.parquet"):
            path.unlink()
        for path in self.folder.glob(".staged-*.parquet"):
            path.unlink()

    # ---- reports -------------------------------------------------------------------------------

    def report(self, tenant_id: str, *, records: bool = True, row_digests: bool = True) -> dict[str, Any]:
        """What the tenant holds, as the control API and `EmulatorHandle.org_data()` give it.

        Args:
            tenant_id: The tenant.
            records: Include every held row as a {column: value} dict (columns without a value left out).
            row_digests: Include the digest of each row by its key.

        Returns:
            {"tenant_id", "rows", "people", "columns", "digest", "row_digests", "records"}; the last two
            are empty when not asked for.
        """
        table = self.held(tenant_id)
        held_rows = [] if table is None else _records(table)
        digests = {row_key(row.get(PERSON_ID), row.get(EFFECTIVE_DATE)): row_digest(row) for row in held_rows}
        people = 0 if table is None else pc.count_distinct(table[PERSON_ID]).as_py()
        return {
            "tenant_id": tenant_id,
            "rows": len(held_rows),
            "people": people,
            "columns": [] if table is None else table.column_names,
            "digest": whole_digest(digests),
            "row_digests": digests if row_digests else {},
            "records": held_rows if records else [],
        }

    def export_csv(self, tenant_id: str, target: IO[str]) -> int:
        """Write what the tenant holds as CSV (Viva's column names as header); the number of rows."""
        table = self.held(tenant_id)
        if table is None:
            return 0
        writer = csv.writer(target, lineterminator="\n")
        writer.writerow(table.column_names)
        rows = 0
        for batch in table.to_batches():
            for row in batch.to_pylist():
                writer.writerow(["" if value is None else value for value in row.values()])
                rows += 1
        return rows


def held_summary(data_dir: Path, tenant_id: str, export: Path | None = None) -> dict[str, Any]:
    """What an emulator's DATA_DIR holds for a tenant, read from its files (the emulator may be stopped).

    Args:
        data_dir: The emulator's `--data-dir`.
        tenant_id: The tenant.
        export: When given, the held rows are written there as CSV (0600).

    Returns:
        The report without rows and row digests, with "exported_to" when rows were written.

    Raises:
        OrgDataError: No emulator data in `data_dir`, or a tenant id that cannot be one.
    """
    folder = data_dir / "org-data"
    if not folder.is_dir():
        raise OrgDataError(f"{data_dir} holds no emulator org data (no {folder.name} folder)")
    store = OrgDataStore(folder)
    summary = store.report(tenant_id, records=False, row_digests=False)
    for name in ("records", "row_digests"):
        del summary[name]
    if export is not None:
        descriptor = os.open(export, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)  # also when the file existed
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
            store.export_csv(tenant_id, handle)
        summary["exported_to"] = str(export)
    return summary


def read_package(package: Path) -> tuple[pa.Table, bool]:
    """data.csv of a package as text columns under their Viva names, and whether it is a bootstrap.

    Raises:
        OrgDataError: Not a readable package, or no PersonId column.
    """
    try:
        with zipfile.ZipFile(package) as archive:
            metadata = json.loads(archive.read(METADATA_FILE).decode("utf-8-sig"))
            names = {header: str(target["name"]) for header, target in metadata["Mapping"].items()}
            with archive.open(DATA_FILE) as data:
                table = _read_csv(data)
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile, pa.ArrowInvalid) as error:
        raise OrgDataError(f"{package.name}: cannot read its rows: {error}") from error
    table = table.rename_columns([names.get(header, header) for header in table.column_names])
    if PERSON_ID not in table.column_names:
        raise OrgDataError(f"{package.name}: no column is mapped to {PERSON_ID}")
    return table, str(metadata.get("IsBootstrap")).lower() == "true"


def _read_csv(data: IO[bytes]) -> pa.Table:
    first = data.readline().decode("utf-8").removeprefix("\ufeff")
    header = next(csv.reader(io.StringIO(first)), [])
    return pacsv.read_csv(
        data,
        read_options=pacsv.ReadOptions(column_names=header),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def upsert(held: pa.Table | None, incoming: pa.Table) -> pa.Table:
    """`incoming` laid over `held`: the last row of each (PersonId, EffectiveDate) wins, sorted by key.

    Columns that only one side has are null on the other side's rows.
    """
    combined = incoming if held is None else pa.concat_tables([held, incoming], promote_options="default")
    if EFFECTIVE_DATE not in combined.column_names:
        combined = combined.append_column(EFFECTIVE_DATE, pa.nulls(combined.num_rows, pa.string()))
    combined = combined.append_column(_ORDER, pa.array(range(combined.num_rows), pa.int64()))
    last = combined.group_by([PERSON_ID, EFFECTIVE_DATE], use_threads=False).aggregate([(_ORDER, "max")])
    kept = combined.take(last[f"{_ORDER}_max"]).drop_columns([_ORDER])
    return kept.sort_by([(PERSON_ID, "ascending"), (EFFECTIVE_DATE, "ascending")])


def _records(table: pa.Table) -> list[dict[str, str]]:
    return [
        {column: value for column, value in row.items() if value is not None}
        for batch in table.to_batches()
        for row in batch.to_pylist()
    ]


def _safe_tenant(tenant_id: str) -> str:
    name = tenant_id.lower()
    if not _SAFE_TENANT.match(name) or ".." in name:
        raise OrgDataError(f"{tenant_id!r} is not a tenant id (a GUID or a domain name)")
    return name


def _write_private_parquet(table: pa.Table, path: Path) -> None:
    """Write `table` to `path` as a 0600 file, through a temporary file and a rename."""
    temporary = path.with_name(f"{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        pq.write_table(table, handle)
    temporary.replace(path)
