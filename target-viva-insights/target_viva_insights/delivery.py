"""One run's delivery, once the input has ended: settle what an earlier run left pending, finish
data.csv, write and log the findings, plan against the ledger, write the file sent and the data-quality
report beside it, upload once, record.

The target (target.py) calls `deliver` at the end of the input. What differs between destinations sits
behind `destinations.base.Destination`; this module is the order of the steps and what the log says.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from pathlib import Path
from typing import Any

import pyarrow as pa

from target_viva_insights.build.export import Export
from target_viva_insights.build.mapping import Column, findings_notes, name_fix
from target_viva_insights.destinations import Destination, Finished, RunFiles, Shipment
from target_viva_insights.errors import DataValidationFailed
from target_viva_insights.ledger.plan import ImportPlan
from target_viva_insights.ledger.store import Ledger
from target_viva_insights.quality import QualityProfile, profile_for_run, report_path_for, write_report
from target_viva_insights.settings import RunSettings
from target_viva_insights.validation.report import Issue, Severity, ValidationReport

# The first this many errors are logged (row and column, never a value); the rest are in the report.
LOGGED_FINDINGS = 20


class PreflightFailedError(DataValidationFailed):
    """The data breaks the destination's rules: nothing was packaged or uploaded."""


def ledger_lock(settings: RunSettings, ledger: Ledger | None) -> contextlib.AbstractContextManager[Any]:
    """The ledger's lock for the whole delivery; a dry run changes nothing and takes none."""
    if ledger is None or settings.dry_run:
        return contextlib.nullcontext()
    return ledger.locked()


class Delivery:
    """The steps after the input, for one run; `quality_report` is the HTML page written, if any."""

    def __init__(
        self,
        settings: RunSettings,
        ledger: Ledger | None,
        destination: Destination[Any],
        files: RunFiles,
        logger: logging.Logger,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.destination = destination
        self.files = files
        self.logger = logger
        self.quality_report: Path | None = None

    def deliver(self, export: Export) -> None:
        """Everything after the input, under the ledger's lock.

        Raises:
            PreflightFailedError: the findings refuse the file (exit 3); the reports say why.
            VivaError: any later failure, with its exit code (errors.py).
        """
        destination, files = self.destination, self.files
        with ledger_lock(self.settings, self.ledger):
            # First, so the new file is judged against everything the tenant holds.
            destination.settle_pending(files.errors_dir)
            data_zip, columns, report = export.finish()
            finished = Finished(data_zip, columns, report, export.rows, export.workdir)
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            stem = files.out_dir / f"{destination.file_prefix}-{stamp}"
            destination.judge(finished, stamp)
            report_path = report.write_csv(stem.with_name(f"{stem.name}-validation.csv"))
            self._log_report(report, report_path, columns)
            self._log_mapping_findings(finished, export)
            if not report.ok and not (
                self.settings.preflight_report_only and destination.writes_despite_errors
            ):
                refused = stem.with_suffix(destination.file_suffix)
                self._write_quality_report(self._profile(finished, None, refused), refused)
                self.log_quality_report()
                msg = (
                    f"Local validation found {report.count(Severity.ERROR)} error(s) in {finished.rows} "
                    f"rows; {destination.nothing_sent}. Report: {files.kept(report_path)}"
                )
                raise PreflightFailedError(msg)
            shipment = destination.plan(finished)
            if shipment.nothing_to_send:
                return
            path = stem.with_suffix(destination.file_suffix)
            # Profiled before the file is written: writing it may move data.csv's zip into the package.
            profile = self._profile(finished, shipment, path)
            destination.write(finished, shipment, path)
            self._write_quality_report(profile, path)
            self.logger.info("%s", destination.describe_file(finished, shipment, files.kept(path)))
            self.logger.info("%s", shipment.describe())
            if self.settings.dry_run:
                self.logger.info(
                    "dry_run: the %s is not uploaded; the ledger is left as it is.", destination.file_word
                )
                return
            destination.send(shipment, path, files.errors_dir)

    # -- what the log says -------------------------------------------------------------------------

    def _log_report(self, report: ValidationReport, report_path: Path, columns: list[Column]) -> None:
        """Counts per rule, the first errors, and each distinct warning once with where it first occurs."""
        for line in report.summary_lines():
            self.logger.info(line)
        # Row and column are enough to find a problem; values stay in the report file.
        for issue in report.errors[:LOGGED_FINDINGS]:
            self.logger.error("%s", _with_fix(issue.describe_without_value(), issue, columns))
        for issue, kept, capped in report.first_of_each_warning():
            like = f"{kept}{' or more' if capped else ''} like it"
            line = f"warning {issue.rule} ({like}), first at {issue.position or 'the file'}: {issue.message}"
            self.logger.warning("%s", _with_fix(line, issue, columns))
        if self.files.kept_after_run:
            self.logger.info("Validation report: %s", report_path)
        elif not report.ok:
            self.logger.info("Set output_dir to keep the validation report with the offending values.")

    def _log_mapping_findings(self, finished: Finished, export: Export) -> None:
        """What the findings mean for the tap's columns: text that did (not) parse, a missing field."""
        for note in findings_notes(finished.columns, finished.report, export.settings.column_mapping):
            self.logger.log(note.level, "%s", note.message)

    # -- the data-quality report (quality/) --------------------------------------------------------

    def _profile(self, finished: Finished, shipment: Shipment | None, sent: Path) -> QualityProfile | None:
        """The profile of the whole data.csv, for the file sent (or refused); data.csv may be unreadable
        when the validation refused it, as the findings say."""
        plan: ImportPlan | None = shipment.import_plan if shipment is not None else None
        try:
            return profile_for_run(
                self.settings, self.ledger, finished.data_zip, finished.fields, finished.report, sent, plan
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as error:
            self.logger.warning("No data-quality report: data.csv cannot be read (%s).", type(error).__name__)
            return None

    def _write_quality_report(self, profile: QualityProfile | None, sent: Path) -> None:
        if profile is not None:
            self.quality_report = write_report(profile, report_path_for(sent))

    def log_quality_report(self) -> None:
        if self.quality_report is None:
            return
        if self.files.kept_after_run:
            self.logger.info("Data-quality report: %s", self.quality_report)
        else:
            self.logger.info("Set output_dir to keep the data-quality report (HTML) beside the package.")


def _with_fix(line: str, issue: Issue, columns: list[Column]) -> str:
    """A finding about a column's name ends with the setting that fixes it."""
    fix = name_fix(issue, columns)
    return f"{line}. Fix: {fix}" if fix else line
