"""The data-quality report: one self-contained HTML page an HR or Viva admin reads before an upload.

`profile.py` computes the aggregates from data.csv, `svg.py` draws the charts, `html.py` writes the
page; `inputs.py` reads a package, a bare CSV or a Microsoft 365 export for `viva-insights report`.
The target writes the page beside every package it makes (`report_for_run`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from target_viva_insights.ledger.plan import ImportPlan
from target_viva_insights.ledger.store import Ledger
from target_viva_insights.memory import release_freed_memory
from target_viva_insights.package import CsvField, open_data_csv
from target_viva_insights.quality.html import report_path_for, write_report
from target_viva_insights.quality.inputs import text_batches, unique_names
from target_viva_insights.quality.profile import (
    Changes,
    Delivery,
    InputKind,
    ProfileBuilder,
    QualityProfile,
    columns_of,
)
from target_viva_insights.settings import RunSettings
from target_viva_insights.validation.report import ValidationReport

# The batches' freed memory goes back to the system this often (memory.py); each block's text and
# temporaries otherwise keep the heap at its largest.
TRIM_EVERY_BATCHES = 16

__all__ = [
    "Changes",
    "Delivery",
    "QualityProfile",
    "profile_for_run",
    "profile_run",
    "report_path_for",
    "write_report",
]


def profile_run(
    data_zip: Path,
    fields: Sequence[CsvField],
    report: ValidationReport,
    *,
    source: str,
    comparison: Any = None,
    last_delivery: str | None = None,
) -> tuple[QualityProfile, Changes | None]:
    """The profile of the data.csv a run wrote (all its rows, before any are left out as unchanged).

    Args:
        data_zip: the zip holding the run's data.csv.
        fields: its columns, with their Viva names and type tokens.
        report: the run's validation findings.
        source: the name the page gives the data (the package's file name).
        comparison: the delivery ledger's `Comparison` of this data.csv, when one was made.
        last_delivery: what the ledger last recorded, as text.

    Returns:
        The profile with the findings, and the changes against the ledger (None without a comparison).
    """
    headers = unique_names([field.header for field in fields])
    tokens: Mapping[str, str] = {field.name: field.token for field in fields}
    builder = ProfileBuilder(columns_of(headers, tokens), InputKind.PACKAGE, comparison)
    with open_data_csv(data_zip) as data, text_batches(data, headers) as batches:
        for count, batch in enumerate(batches, 1):
            builder.add_batch(batch)
            if count % TRIM_EVERY_BATCHES == 0:
                release_freed_memory()
    profile = builder.profile(source=source)
    release_freed_memory()
    return profile.with_findings(report), builder.changes(last_delivery)


def profile_for_run(
    settings: RunSettings,
    ledger: Ledger | None,
    data_zip: Path,
    fields: Sequence[CsvField],
    report: ValidationReport,
    package: Path,
    plan: ImportPlan | None,
) -> QualityProfile:
    """The target's report: the whole data.csv, where it goes, and what changed against the ledger.

    Args:
        settings: the run's settings (tenant_id, api_base_url, dry_run).
        ledger: the tenant's delivery ledger, when there is one.
        data_zip: the zip holding the run's data.csv, before unchanged rows are left out.
        fields: its columns.
        report: the run's validation findings.
        package: the package's path (named on the page; the report goes beside it).
        plan: what is sent; None when the validation refused the data.
    """
    comparison = plan.comparison if plan is not None else None
    last = ledger.last_ingestion() if ledger is not None and comparison is not None else None
    profile, changes = profile_run(
        data_zip,
        fields,
        report,
        source=package.name,
        comparison=comparison,
        last_delivery=f"ingestion {last.ingestion_id} of {last.time}" if last else None,
    )
    tenant = settings.tenant_id
    where = f"tenant {tenant} at {settings.api_base_url}" if tenant else "no tenant_id set"
    if settings.dry_run:
        where = f"dry run: not uploaded ({where})"
    if plan is None:
        delivery = Delivery(where, "none: the local validation failed", None, "nothing is sent")
    else:
        reason = "no delivery ledger" if ledger is None else "the ledger holds no delivery yet"
        delivery = Delivery(where, plan.describe(), changes, reason)
    return dataclasses.replace(profile, delivery=delivery)
