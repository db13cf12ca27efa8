"""The data-quality report: one self-contained HTML page an HR or Viva admin reads before an upload.

`profile.py` computes the aggregates from data.csv, `svg.py` draws the charts, `html.py` writes the
page; `inputs.py` reads a package, a bare CSV or a Microsoft 365 export for `viva-insights report`.
The target writes the page beside every package it makes (`report_for_run`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from target_viva_insights.package import CsvField, open_data_csv
from target_viva_insights.quality.html import report_path_for, write_report
from target_viva_insights.quality.inputs import read_text_table, unique_names
from target_viva_insights.quality.profile import (
    Changes,
    Delivery,
    InputKind,
    QualityProfile,
    changes_of,
    columns_of,
    profile_table,
)
from target_viva_insights.report import ValidationReport

__all__ = [
    "Changes",
    "Delivery",
    "QualityProfile",
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
    with open_data_csv(data_zip) as data:
        table = read_text_table(data, headers, skip_header=True)
    tokens: Mapping[str, str] = {field.name: field.token for field in fields}
    profile = profile_table(table, columns_of(headers, tokens), source=source, kind=InputKind.PACKAGE)
    changes = None
    if comparison is not None and "PersonId" in headers:
        changes = changes_of(comparison, table.column("PersonId"), last_delivery)
    return profile.with_findings(report), changes
