"""The organizational data each emulated tenant holds, kept the way Viva keeps it.

Microsoft's "Import organizational data (subsequent imports)" page: a package whose metadata.json says
`"IsBootstrap": "true"` replaces all the tenant's organizational data; otherwise its rows are added to
what the tenant holds. A row is known by (PersonId, EffectiveDate): an incremental row with the key of a
held row replaces it (the emulator's reading of "update existing records"). Columns are held under
their Viva names (the Mapping's "name"), values as written in data.csv.

Held data lives in DATA_DIR/org-data/<tenant>.parquet (0600), so it survives a restart of the emulator.
An ingestion's result is computed in the validation worker into a staged file, and only becomes what the
tenant holds when the ingestion reaches Completed (`commit`); an abandoned or failed ingestion's staged
file is dropped (`discard`). Staging streams: a bootstrap goes from data.csv to Parquet batch by batch, an
incremental holds only its own rows and their keys while the held rows stream past, so the emulator's
memory does not grow with the tenant (reports load the held rows: they are for tests and people).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import re
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from target_viva_insights.import_mode import ImportMode
from target_viva_insights.package import open_package, read_header, read_text_batches
from target_viva_insights.private_files import private_binary_file, private_file

logger = logging.getLogger(__name__)

PERSON_ID = "PersonId"
EFFECTIVE_DATE = "EffectiveDate"
KEY_SEPARATOR = "\x1f"  # unit separator: not in e-mail addresses or dates
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
        staged = self._staged_file(ingestion_id)
        held = self.held_file(tenant_id)
        try:
            with _package_rows(package) as (schema, batches, is_bootstrap):
                if is_bootstrap or not held.exists():
                    rows = _write_private_parquet(staged, schema, batches)
                else:
                    incoming = _last_per_key(pa.Table.from_batches(list(batches), schema))
                    rows = _write_upserted(staged, pq.ParquetFile(held), incoming)
        except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile, pa.ArrowException) as error:
            self.discard(ingestion_id)
            raise OrgDataError(f"{package.name}: cannot read its rows: {error}") from error
        kind = "bootstrap" if is_bootstrap else "incremental"
        logger.info("Ingestion %s staged (%s): the tenant will hold %d rows", ingestion_id, kind, rows)
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
        self.discard_all_staged()

    def discard_all_staged(self) -> None:
        """Drop every staged result (at start-up: ingestions live in memory, their staged files not)."""
        for path in self.folder.glob(".staged-*"):
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
        held_rows = [] if table is None else _records(_by_key(table))
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
        for batch in _by_key(table).to_batches():
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
        with private_file(export) as handle:
            store.export_csv(tenant_id, handle)
        summary["exported_to"] = str(export)
    return summary


@contextlib.contextmanager
def _package_rows(package: Path) -> Iterator[tuple[pa.Schema, Iterator[pa.RecordBatch], bool]]:
    """data.csv of a package in batches of text columns under their Viva names, and whether the package is
    a bootstrap (metadata.json "IsBootstrap")."""
    with open_package(package) as opened:
        names = {field.header: field.name for field in opened.fields}
        header = read_header(opened.data)
        columns = [names.get(name, name) for name in header]
        if PERSON_ID not in columns:
            raise KeyError(f"no column is mapped to {PERSON_ID}")
        schema = pa.schema([(name, pa.string()) for name in columns])
        reader = read_text_batches(opened.data, header)
        batches = (pa.RecordBatch.from_arrays(batch.columns, schema=schema) for batch in reader)
        yield schema, batches, opened.import_mode is ImportMode.FULL


def _keys(table: pa.Table | pa.RecordBatch) -> pa.Array | pa.ChunkedArray:
    """Each row's (PersonId, EffectiveDate) as one text value (a missing EffectiveDate is empty)."""
    person = pc.fill_null(table[PERSON_ID], "")
    if EFFECTIVE_DATE in table.schema.names:
        date = pc.fill_null(table[EFFECTIVE_DATE], "")
    else:
        date = pa.array([""] * table.num_rows, pa.string())
    return pc.binary_join_element_wise(person, date, KEY_SEPARATOR)


def _last_per_key(table: pa.Table) -> pa.Table:
    """One row per key: the last one of the file, as Viva applies the file in order."""
    order = pa.table({"key": _keys(table), "order": pa.array(range(table.num_rows), pa.int64())})
    last = order.group_by("key", use_threads=False).aggregate([("order", "max")])["order_max"]
    return table.take(pc.take(last, pc.sort_indices(last)))  # in file order


def _write_upserted(staged: Path, held: pq.ParquetFile, incoming: pa.Table) -> int:
    """The held rows whose key the incoming rows do not have, then the incoming rows, to `staged`."""
    new_columns = [name for name in incoming.schema.names if name not in held.schema_arrow.names]
    schema = pa.schema([*held.schema_arrow, *(pa.field(name, pa.string()) for name in new_columns)])
    replaced = pa.chunked_array(_keys(incoming)).combine_chunks()

    def rows() -> Iterator[pa.RecordBatch]:
        for batch in held.iter_batches():
            kept = batch.filter(pc.invert(pc.is_in(_keys(batch), value_set=replaced)))
            yield _conform(kept, schema)
        for batch in incoming.to_batches():
            yield _conform(batch, schema)

    return _write_private_parquet(staged, schema, rows())


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """`batch` with the columns of `schema`, in its order; a column the batch lacks is null."""
    arrays = [
        batch.column(name) if name in batch.schema.names else pa.nulls(batch.num_rows, pa.string())
        for name in schema.names
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _by_key(table: pa.Table) -> pa.Table:
    """Rows ordered by PersonId, then EffectiveDate: a stable order for reports and exports."""
    return table.take(pc.sort_indices(_keys(table)))


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


def _write_private_parquet(path: Path, schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> int:
    """Write `batches` to `path` as a 0600 Parquet file, through a temporary file and a rename; the rows."""
    temporary = path.with_name(f"{path.name}.tmp")
    rows = 0
    with private_binary_file(temporary) as handle, pq.ParquetWriter(handle, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    temporary.replace(path)
    return rows
