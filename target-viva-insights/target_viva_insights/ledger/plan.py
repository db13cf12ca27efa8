"""What a run sends, decided against the delivery ledger: the import mode and the rows.

- `auto` (the default): no ledger for the tenant -> a full import of the file; otherwise only the rows
  that are new or changed against the ledger, as an incremental import; nothing new -> no upload.
- `full`: the whole file replaces what Viva holds, refused when it would drop more than
  `max_population_drop_percent` of the people the ledger says Viva holds.
- `incremental`: the whole file, as an incremental import.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa

from target_viva_insights.errors import ConfigurationError
from target_viva_insights.import_mode import ImportMode
from target_viva_insights.ledger.digests import NO_DATE, RowDigests, dictionary_batches, digest_batches
from target_viva_insights.ledger.store import Comparison, Keep, Ledger, default_ledger_path
from target_viva_insights.package import DataCsvWriter, open_data_csv, read_header, read_text_batches
from target_viva_insights.settings import RunSettings


class PopulationDropRefused(ConfigurationError):  # noqa: N818 - named for the outcome, as in errors.py
    """A full import would remove more of the tenant's people than allowed."""


@dataclasses.dataclass
class ImportPlan:
    """The decision: the mode, the rows to send (a mask over data.csv, None for all) and why."""

    mode: ImportMode
    reason: str
    digests: RowDigests  # of the rows that will be sent
    send: np.ndarray | None = None
    comparison: Comparison | None = None

    @property
    def rows(self) -> int:
        return len(self.digests)

    @property
    def nothing_to_send(self) -> bool:
        return self.rows == 0

    def describe(self) -> str:
        text = f"{self.mode.value} import of {self.rows} rows ({self.reason})"
        if self.comparison is not None:
            counts = self.comparison.summary()
            text += (
                f"; against the ledger: {counts['rows_new']} rows new, {counts['rows_changed']} changed, "
                f"{counts['rows_unchanged']} unchanged, {counts['people_added']} people added, "
                f"{counts['people_absent']} of {counts['people_in_ledger']} people absent from the file"
            )
        return text


def open_ledger(settings: RunSettings) -> Ledger | None:
    """The tenant's ledger, or None without a tenant_id (a dry run without connection settings)."""
    if not settings.tenant_id:
        return None
    return Ledger(settings.ledger_path or default_ledger_path(), settings.tenant_id)


def validation_mode(settings: RunSettings, ledger: Ledger | None) -> ImportMode:
    """How the file is judged: as a full import unless it will (or may) go as an incremental one."""
    setting = settings.import_mode
    if setting is ImportMode.INCREMENTAL:
        return ImportMode.INCREMENTAL
    if setting is ImportMode.AUTO and ledger is not None and ledger.holds_data():
        return ImportMode.INCREMENTAL
    return ImportMode.FULL


class TenantHoldsDataRefused(ConfigurationError):  # noqa: N818 - named for the outcome, as in errors.py
    """No ledger, yet the tenant holds data: a full import would replace it because the ledger is lost."""


def plan_import(
    settings: RunSettings,
    ledger: Ledger | None,
    data_zip: Path,
    rows: int,
    logger: logging.Logger,
    tenant_latest: str | None = None,
    full_because: str | None = None,
) -> ImportPlan:
    """Compare data.csv with the ledger and decide what goes; refuses a full import that drops people.

    From the service's listing: `tenant_latest` names the tenant's latest completed ingestion, and
    `full_because` says why the ledger may no longer match the tenant (an ingestion it did not make),
    so that `auto` sends a file that holds everything the tenant holds as a full import.
    """
    setting = settings.import_mode
    if ledger is None:
        mode = ImportMode.INCREMENTAL if setting is ImportMode.INCREMENTAL else ImportMode.FULL
        return ImportPlan(mode, "no tenant_id: no ledger", _placeholder(rows))
    if setting is ImportMode.AUTO and not ledger.holds_data() and tenant_latest:
        raise TenantHoldsDataRefused(
            f"Refused: there is no delivery ledger for tenant {ledger.tenant_id} at {ledger.location}, yet "
            f"the service lists completed ingestions for it (the latest: {tenant_latest}). Under "
            "import_mode auto, a missing ledger makes the run a full import (IsBootstrap true), which would "
            "replace that history with this file. Nothing was sent. If the ledger was lost (a runner without "
            "its disk), restore it or point ledger_path at durable storage; to rebuild it from the last "
            "full package the tenant took, run `viva-insights ledger adopt PACKAGE`; to replace the "
            "tenant's data with this file on purpose, set import_mode: full for this run."
        )
    date_order = settings.date_order
    with open_data_csv(data_zip) as data, dictionary_batches(data) as batches:
        if not ledger.holds_data():
            digests = digest_batches(ledger.digester, batches, date_order, rows)
            return _first_import(setting, ledger, digests, logger)
        due = full_because if setting is ImportMode.AUTO else None
        keep = Keep.NEW_OR_CHANGED if setting is ImportMode.AUTO and not due else Keep.ALL
        comparison, digests = ledger.compare_batches(batches, date_order, keep=keep, rows=rows)
    _warn_rows_gone(setting, ledger, comparison, logger)
    if setting is ImportMode.FULL:
        _refuse_population_drop(settings.max_population_drop_percent, ledger, comparison)
        _refuse_history_drop(settings.max_population_drop_percent, ledger, digests)
        return ImportPlan(ImportMode.FULL, "import_mode full", digests, comparison=comparison)
    if due:
        if _holds_everything(settings.max_population_drop_percent, ledger, comparison, digests):
            return ImportPlan(ImportMode.FULL, f"import_mode auto: {due}", digests, comparison=comparison)
        logger.warning(
            "A full import is due (%s), but this file does not hold everyone and every month the tenant "
            "holds: it goes as an incremental import, and the ledger may stay out of step until a run "
            "sends the whole history.",
            due,
        )
        digests = digests.select(comparison.to_send)
    if setting is ImportMode.INCREMENTAL:
        return ImportPlan(ImportMode.INCREMENTAL, "import_mode incremental", digests, comparison=comparison)
    return ImportPlan(
        ImportMode.INCREMENTAL,
        "import_mode auto: rows new or changed against the ledger",
        digests,
        send=comparison.to_send,
        comparison=comparison,
    )


def _first_import(
    setting: ImportMode, ledger: Ledger, digests: RowDigests, logger: logging.Logger
) -> ImportPlan:
    """No ingestion completed for the tenant yet: the file goes whole."""
    if setting is ImportMode.INCREMENTAL:
        return ImportPlan(ImportMode.INCREMENTAL, "import_mode incremental, no ledger yet", digests)
    if setting is ImportMode.AUTO:
        logger.warning(
            "No delivery ledger for tenant %s at %s: this run is a FULL import (IsBootstrap true), "
            "replacing all organizational data Viva holds. If the tenant already holds data uploaded "
            "by other means, stop and run `viva-insights ledger adopt PACKAGE` first.",
            ledger.tenant_id,
            ledger.location,
        )
    return ImportPlan(ImportMode.FULL, "no ledger for this tenant yet", digests)


def _warn_rows_gone(
    setting: ImportMode, ledger: Ledger, comparison: Comparison, logger: logging.Logger
) -> None:
    """Rows the tenant holds for people of this file, within its EffectiveDates, that it no longer has
    (HR deleted a mistaken row): an incremental import leaves them at the service."""
    gone = ledger.rows_missing_from(comparison)
    if not gone:
        return
    if setting is ImportMode.FULL:
        logger.warning(
            "%d rows the tenant holds (for people in this file, within its EffectiveDates) are not in the "
            "file: this full import removes them from Viva.",
            gone,
        )
        return
    logger.warning(
        "%d rows the tenant holds (for people in this file, within its EffectiveDates) are not in the file, "
        "as if they were deleted at the source. An incremental import leaves them in Viva; to remove them, "
        "send the whole history once with import_mode: full (`viva-insights ledger diff FILE` shows what a "
        "file changes).",
        gone,
    )


def _holds_everything(limit: float, ledger: Ledger, comparison: Comparison, digests: RowDigests) -> bool:
    """Whether a file judged as an incremental import may go as a full one: it names every person the
    tenant holds (so no manager is known from the ledger alone) and keeps its history within `limit`."""
    if comparison.absent_people:
        return False
    try:
        _refuse_history_drop(limit, ledger, digests)
    except PopulationDropRefused:
        return False
    return True


def _placeholder(rows: int) -> RowDigests:
    zeros = np.zeros(rows, dtype=np.uint64)
    return RowDigests(zeros, zeros, zeros, zeros, np.full(rows, -1, dtype=np.int32))


def _refuse_population_drop(limit: float, ledger: Ledger, comparison: Comparison) -> None:
    if comparison.drop_percent() > limit:
        held, absent = comparison.ledger_people, comparison.absent_people
        raise PopulationDropRefused(
            f"Refused: this full import (IsBootstrap true) would replace the {held} people Viva holds for "
            f"tenant {ledger.tenant_id} with the {comparison.file_people} people of this file, dropping "
            f"{absent} ({comparison.drop_percent():.1f}%, more than max_population_drop_percent {limit:g}). "
            "Nothing was sent. If the tap sent only part of the history, use import_mode auto (sends what "
            "is new) or incremental. To replace the population on purpose, raise "
            "max_population_drop_percent for this run (e.g. 100)."
        )


def _refuse_history_drop(limit: float, ledger: Ledger, file: RowDigests) -> None:
    """Refuses a full import that keeps the people but drops rows or EffectiveDates (history) Viva holds."""
    _, held_dates = ledger.person_dates()
    held_rows, file_rows = len(held_dates), len(file)
    held_days = len(np.unique(held_dates[held_dates != NO_DATE]))
    file_days = len(np.unique(file.date[file.date != NO_DATE]))

    def drop(held: int, kept: int) -> float:
        return 100.0 * (held - kept) / held if held > kept else 0.0

    if max(drop(held_rows, file_rows), drop(held_days, file_days)) > limit:
        raise PopulationDropRefused(
            f"Refused: this full import (IsBootstrap true) would replace the history Viva holds for tenant "
            f"{ledger.tenant_id} ({held_rows} rows, {held_days} EffectiveDates) with this file's "
            f"{file_rows} rows and {file_days} EffectiveDates, dropping {drop(held_rows, file_rows):.1f}% of "
            f"the rows and {drop(held_days, file_days):.1f}% of the dates (more than "
            f"max_population_drop_percent {limit:g}). Nothing was sent. If the tap sent only recent rows, "
            "use import_mode auto (sends what is new) or incremental. To replace the history on purpose, "
            "raise max_population_drop_percent for this run (e.g. 100)."
        )


def write_rows_to_send(data_zip: Path, headers: list[str], send: np.ndarray, workdir: Path) -> Path:
    """A data.csv holding only the rows `send` marks, in the file's order (batch by batch)."""
    writer = DataCsvWriter(workdir / "to-send.zip", headers)
    start = 0
    with open_data_csv(data_zip) as data:
        for batch in read_text_batches(data, read_header(data), empty_as_null=True):
            mask = send[start : start + batch.num_rows]
            start += batch.num_rows
            if mask.any():
                writer.append(pa.Table.from_batches([batch]).filter(pa.array(mask)))
    writer.close()
    return writer.path
