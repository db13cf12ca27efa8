"""Organizational data in Microsoft 365 as a destination: data.csv's current rows, judged by Microsoft
365's rules, compared with what the ledger says the tenant holds, written as the CSV sent (and a
header-only CSV for the admin center's mapping), posted once, then recorded.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import logging
import secrets
from pathlib import Path

import pyarrow as pa

from target_viva_insights.destinations.base import DestinationBase, Finished
from target_viva_insights.destinations.m365.columns import M365Plan
from target_viva_insights.destinations.m365.delta import (
    AddressSealer,
    CurrentRows,
    Delta,
    compute_delta,
    current_rows,
    empty_state,
    formatted_table,
    upload_plan,
    write_upload_csv,
)
from target_viva_insights.destinations.m365.rules import check_upload
from target_viva_insights.errors import ConfigurationError
from target_viva_insights.import_mode import ImportMode
from target_viva_insights.ledger.digests import Digester
from target_viva_insights.ledger.store import Ledger
from target_viva_insights.package import open_data_csv
from target_viva_insights.private_files import private_file

# Kept in the state's schema metadata: the day every current person was last sent (`full_resend_days`).
LAST_FULL_SEND = b"last_full_send"


@dataclasses.dataclass
class M365Shipment:
    """What one run would send: the columns and the delta against what the tenant holds."""

    plan: M365Plan
    delta: Delta

    @property
    def nothing_to_send(self) -> bool:
        return not self.delta.people_sent

    @property
    def import_plan(self) -> None:
        """No legacy import plan: the delta is stated in the log."""
        return None

    def describe(self) -> str:
        return (
            f"Microsoft 365: {self.delta.people_sent} people to send "
            f"({self.delta.people_new} new, {self.delta.people_changed} changed, "
            f"{self.delta.people_deleted} deleted)."
        )


def write_header_csv(plan: M365Plan, path: Path) -> Path:
    """The header-only CSV, 0600 like every file of a run."""
    with private_file(path) as handle:
        handle.write(plan.header_csv().decode("utf-8"))
    return path


def _tools(ledger: Ledger | None) -> tuple[Digester, AddressSealer, pa.Table]:
    """The ledger's digester, sealer and state; without a ledger (a dry run without tenant_id) a
    throwaway key and an empty state: everyone would be sent."""
    if ledger is None:
        key = secrets.token_bytes(32)
        return Digester(key), AddressSealer(key), empty_state()
    state = ledger.read_m365_state()
    return ledger.digester, AddressSealer(ledger.key), empty_state() if state is None else state


def _resend_all(days: int | None, state: pa.Table, today: datetime.date) -> bool:
    if not days:
        return False
    last = (state.schema.metadata or {}).get(LAST_FULL_SEND)
    if last is None:
        return True
    return (today - datetime.date.fromisoformat(last.decode("ascii"))).days >= days


@dataclasses.dataclass
class _Judged:
    """What `judge` learnt of data.csv, for `plan`."""

    current: CurrentRows
    plan: M365Plan


class Microsoft365(DestinationBase):
    """The destination `m365` (see `destinations.base.Destination`)."""

    label = "Microsoft 365"
    file_prefix = "m365"
    file_suffix = ".csv"
    file_word = "CSV"
    writes_despite_errors = False
    nothing_sent = "nothing was uploaded to Microsoft 365"

    _judged: _Judged | None = None  # what judge() learnt, for plan()

    @functools.cached_property
    def today(self) -> datetime.date:
        return datetime.date.today()

    @functools.cached_property
    def _tools(self) -> tuple[Digester, AddressSealer, pa.Table]:
        """Read once, when the delivery first needs them (under the ledger's lock)."""
        return _tools(self.ledger)

    def settle_pending(self, errors_dir: Path) -> None:
        """Nothing is left pending: MODIS documents no status to follow."""

    def judge(self, finished: Finished, stamp: str) -> None:
        """Microsoft 365's rules over the current rows; the header-only CSV for the admin center."""
        date_order = self.settings.date_order
        with open_data_csv(finished.data_zip) as data:
            current = current_rows(data, self._tools[0], date_order=date_order, today=self.today)
        try:
            plan = upload_plan(
                current,
                {column.field: column.kind for column in finished.columns},
                self.settings.column_mapping,
            )
        except ValueError as error:  # two fields take one header
            raise ConfigurationError(f"column_mapping: {error}") from error
        for level, note in plan.notes:
            self.logger.log(level, "%s", note)
        header_path = write_header_csv(plan, self.files.out_dir / f"m365-{stamp}-header.csv")
        self.logger.info(
            "Header-only CSV for the admin center's column mapping: %s", self.files.kept(header_path)
        )
        try:
            view = formatted_table(current, plan.columns, date_order)
            check_upload(view, plan.columns, current.lines, finished.report)
        except pa.ArrowInvalid:
            if finished.report.ok:
                raise
            # Values the HR rules refuse (a date that is no date) cannot be written in Microsoft 365's
            # formats: the findings so far say what to fix first.
            return
        self._judged = _Judged(current, plan)

    def plan(self, finished: Finished) -> M365Shipment:
        """The delta against the ledger's state.

        Raises:
            PopulationDropRefused: deleting the people the input lacks would exceed the guard (exit 3).
        """
        assert self._judged is not None, "judge() accepted the file first"
        settings = self.settings
        digester, sealer, state = self._tools
        resend_all = _resend_all(settings.full_resend_days, state, self.today)
        whole_population = settings.import_mode is ImportMode.FULL
        delta = compute_delta(
            self._judged.current,
            self._judged.plan.columns,
            state,
            digester,
            sealer,
            date_order=settings.date_order,
            whole_population=whole_population,
            remove_missing=settings.remove_missing_people,
            max_drop_percent=settings.max_population_drop_percent,
            resend_all=resend_all,
        )
        if resend_all or state.num_rows == 0:
            metadata = {LAST_FULL_SEND: self.today.isoformat().encode("ascii")}
        else:
            metadata = {LAST_FULL_SEND: (state.schema.metadata or {}).get(LAST_FULL_SEND, b"")}
            metadata = {key: value for key, value in metadata.items() if value}
        delta.new_state = delta.new_state.replace_schema_metadata(metadata or None)
        _log_delta(delta, whole_population, settings.remove_missing_people, resend_all, self.logger)
        if state.num_rows == 0 and self.ledger is not None:
            _warn_blanks_keep_held_values(delta.upload, self.ledger.location, self.logger)
        if not delta.people_sent:
            self.logger.info("Nothing changed since the last upload to Microsoft 365: no upload.")
        return M365Shipment(self._judged.plan, delta)

    def write(self, finished: Finished, shipment: M365Shipment, path: Path) -> None:
        write_upload_csv(shipment.delta.upload, path)

    def describe_file(self, finished: Finished, shipment: M365Shipment, path: str) -> str:
        header = shipment.plan.header
        return (
            f"Upload {path}: {shipment.delta.people_sent} people, {len(shipment.plan.columns)} columns "
            f"({', '.join(header)})."
        )

    def send(self, shipment: M365Shipment, path: Path, errors_dir: Path) -> None:
        """POST the CSV once; the ledger then records what the tenant holds."""
        from target_viva_insights.destinations.m365.upload import upload_csv

        upload_csv(self.settings.require_connection(), path, self.logger, self.token_cache)
        ledger = self.ledger
        if ledger is not None:
            ledger.write_m365_state(shipment.delta.new_state)
            self.logger.info(
                "Ledger %s: what Microsoft 365 now holds recorded (%d people).",
                ledger.location,
                shipment.delta.new_state.num_rows,
            )


def _log_delta(
    delta: Delta, whole_population: bool, remove_missing: bool, resend_all: bool, logger: logging.Logger
) -> None:
    logger.info(
        "Microsoft 365 delta: %d people current, %d new, %d changed, %d unchanged, %d deleted, %d values "
        "deleted ('')%s.",
        delta.people_current,
        delta.people_new,
        delta.people_changed,
        delta.people_unchanged,
        delta.people_deleted,
        delta.values_deleted,
        "; everyone resent (full_resend_days)" if resend_all else "",
    )
    if delta.rows_held_back:
        logger.warning(
            "%d rows dated after today held back (%d people only have such rows): Microsoft 365 takes "
            "people as they are now; they go on a run once their date has come.",
            delta.rows_held_back,
            delta.people_held_back,
        )
    if whole_population and delta.people_missing and not remove_missing:
        logger.warning(
            "%d people the tenant holds are not in this whole-population input (import_mode full); they "
            "are left as the tenant holds them. Set remove_missing_people: true to delete them.",
            delta.people_missing,
        )


def _warn_blanks_keep_held_values(upload: pa.Table, location: str, logger: logging.Logger) -> None:
    """Without a state, no blank is sent as a deletion (the ledger does not know what was delivered),
    so a value the tenant holds from uploads the ledger forgot stays: the blank cells are counted."""
    blanks = {name: upload.column(name).null_count for name in upload.column_names}
    blanks = {name: count for name, count in blanks.items() if count}
    if not blanks:
        return
    shown = ", ".join(f"{name} {count}" for name, count in sorted(blanks.items(), key=lambda item: -item[1]))
    logger.warning(
        "No Microsoft 365 state in the ledger at %s: this is its first upload for the tenant. Its %d blank "
        "cells (%s) keep whatever the tenant holds there. If the tenant already holds data from uploads "
        "this ledger does not know (a lost ledger, another tool), a value deleted at the source since then "
        "stays until an upload sets it; restore the ledger if it was lost.",
        location,
        sum(blanks.values()),
        shown,
    )
