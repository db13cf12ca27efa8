"""One run's delivery to Microsoft 365: data.csv's current rows, judged by Microsoft 365's rules,
compared with what the ledger says the tenant holds, written as the CSV sent (and a header-only CSV
for the admin center's mapping), posted once, then recorded.

The target (target.py) calls `prepare` with the finished data.csv and, unless the run is a dry run or
nothing changed, `upload_csv` then `record`.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from target_viva_insights.build.export import ExportSettings
from target_viva_insights.build.mapping import Column
from target_viva_insights.destinations.m365.columns import M365Plan
from target_viva_insights.destinations.m365.delta import (
    AddressSealer,
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
from target_viva_insights.ledger.digests import Digester
from target_viva_insights.ledger.store import Ledger
from target_viva_insights.package import open_data_csv
from target_viva_insights.validation.report import ValidationReport, private_file

# Kept in the state's schema metadata: the day every current person was last sent (`full_resend_days`).
LAST_FULL_SEND = b"last_full_send"


@dataclasses.dataclass
class Prepared:
    """What one run would send, and the files that show it."""

    plan: M365Plan
    delta: Delta
    upload_path: Path
    header_path: Path


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


def _resend_all(config: Mapping[str, Any], state: pa.Table, today: datetime.date) -> bool:
    days = config.get("full_resend_days")
    if not days:
        return False
    last = (state.schema.metadata or {}).get(LAST_FULL_SEND)
    if last is None:
        return True
    return (today - datetime.date.fromisoformat(last.decode("ascii"))).days >= int(days)


def prepare(
    config: Mapping[str, Any],
    settings: ExportSettings,
    ledger: Ledger | None,
    data_zip: Path,
    columns: Sequence[Column],
    report: ValidationReport,
    out_dir: Path,
    stamp: str,
    logger: logging.Logger,
) -> Prepared | None:
    """Judge and compare; None when Microsoft 365's rules refuse the file (the findings are in `report`).

    Raises:
        PopulationDropRefused: deleting the people the input lacks would exceed the guard (exit 3).
    """
    today = datetime.date.today()
    digester, sealer, state = _tools(ledger)
    with open_data_csv(data_zip) as data:
        current = current_rows(data, digester, date_order=settings.date_order, today=today)
    try:
        plan = upload_plan(
            current, {column.field: column.kind for column in columns}, settings.column_mapping
        )
    except ValueError as error:  # two fields take one header
        raise ConfigurationError(f"column_mapping: {error}") from error
    for level, note in plan.notes:
        logger.log(level, "%s", note)
    header_path = write_header_csv(plan, out_dir / f"m365-{stamp}-header.csv")
    try:
        view = formatted_table(current, plan.columns, settings.date_order)
        check_upload(view, plan.columns, current.lines, report)
    except pa.ArrowInvalid:
        if report.ok:
            raise
        # Values the HR rules refuse (a date that is no date) cannot be written in Microsoft 365's
        # formats: the findings so far say what to fix first.
        return None
    if not report.ok:
        return None
    resend_all = _resend_all(config, state, today)
    whole_population = config.get("import_mode") == "full"
    delta = compute_delta(
        current,
        plan.columns,
        state,
        digester,
        sealer,
        date_order=settings.date_order,
        whole_population=whole_population,
        remove_missing=bool(config.get("remove_missing_people")),
        max_drop_percent=float(config.get("max_population_drop_percent", 10)),
        resend_all=resend_all,
    )
    if resend_all or state.num_rows == 0:
        metadata = {LAST_FULL_SEND: today.isoformat().encode("ascii")}
    else:
        metadata = {LAST_FULL_SEND: (state.schema.metadata or {}).get(LAST_FULL_SEND, b"")}
        metadata = {key: value for key, value in metadata.items() if value}
    delta.new_state = delta.new_state.replace_schema_metadata(metadata or None)
    _log_delta(delta, whole_population, bool(config.get("remove_missing_people")), resend_all, logger)
    upload_path = out_dir / f"m365-{stamp}.csv"
    if delta.people_sent:
        write_upload_csv(delta.upload, upload_path)
    return Prepared(plan, delta, upload_path, header_path)


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
