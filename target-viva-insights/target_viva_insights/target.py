"""target-viva-insights: any Singer HR stream in, a validated Viva Insights package out (and uploaded)."""

from __future__ import annotations

import contextlib
import copy
import datetime
import gc
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import click
import pyarrow as pa
from singer_sdk.exceptions import MappingError as SdkMappingError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities
from singer_sdk.sinks import Sink
from singer_sdk.target_base import Target

from target_viva_insights import config_check
from target_viva_insights.build.export import Export, ExportSettings, csv_fields
from target_viva_insights.build.mapping import Column, findings_notes, name_fix
from target_viva_insights.errors import (
    ConfigurationError,
    DataValidationFailed,
    PreviousIngestionPending,
    VivaError,
)
from target_viva_insights.ingestion import Phase, phase_of
from target_viva_insights.ledger.digest_index import sorted_distinct
from target_viva_insights.ledger.held import LedgerOrganization
from target_viva_insights.ledger.plan import (
    ImportPlan,
    open_ledger,
    plan_import,
    validation_mode,
    write_rows_to_send,
)
from target_viva_insights.ledger.store import ImportKind, IngestionRecord, Ledger, now_iso, package_sha256
from target_viva_insights.log_text import keep_log_messages_on_one_line
from target_viva_insights.package import complete_package, metadata_document
from target_viva_insights.quality import profile_for_run, report_path_for, write_report
from target_viva_insights.settings import TARGET_SETTINGS, Destination, ImportMode, destination_of
from target_viva_insights.singer.fast_path import (
    CheckedSettingsTarget,
    DirectRecordTarget,
    HeldStateTarget,
    TerminationHook,
)
from target_viva_insights.singer.reader import VivaMessageReader
from target_viva_insights.singer.sink import SkippedStreamSink, VivaSink
from target_viva_insights.validation.report import Issue, Severity, ValidationReport

if TYPE_CHECKING:
    import msal  # imported when a run may upload (client.sign_in)

LOGGED_FINDINGS = 20
# Progress during a long extraction: a look at the clock every this many records (cheap), and a log
# line when this many seconds went by since the last one.
PROGRESS_CHECK_EVERY = 1000
PROGRESS_LOG_SECONDS = 5.0


class PreflightFailedError(DataValidationFailed):
    """The data breaks Viva's rules: nothing was packaged or uploaded."""


class NothingReceivedError(DataValidationFailed):
    """The tap sent no records for the HR stream and `allow_empty` is not set."""


class StreamSelectionError(ConfigurationError):
    """Which stream is the HR stream cannot be told from the input and the settings."""


class TargetVivaInsights(CheckedSettingsTarget, DirectRecordTarget, HeldStateTarget, TerminationHook):
    """Turns any Singer HR stream into a validated Viva Insights package and uploads it."""

    name = "target-viva-insights"
    package_name = "target-viva-insights"
    config_jsonschema = TARGET_SETTINGS.to_dict()
    message_reader_class = VivaMessageReader
    # ACTIVATE_VERSION is accepted: every run delivers the whole stream as one package.
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        *Target.capabilities,
        PluginCapabilities.ACTIVATE_VERSION,
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        keep_log_messages_on_one_line()  # names from the input never forge a log line
        self._token_cache: msal.TokenCache | None = None  # filled by the start-up sign-in
        super().__init__(*args, **kwargs)
        # Arrow's default allocator (mimalloc) keeps freed batches mapped; malloc hands them back,
        # which keeps the peak RSS flat across batches (bench/README.md).
        pa.set_memory_pool(pa.system_memory_pool())
        # Everything imported so far lives as long as the process: keep it out of the cyclic GC's
        # passes, which otherwise rescan it while a run allocates millions of short-lived records.
        gc.freeze()
        # One sink writes one data.csv: draining in parallel threads would buy nothing.
        self.max_parallelism = 1
        self._streams: list[str] = []
        self._workdir: Path | None = None
        self._export: Export | None = None
        self._sink_class: type[VivaSink] | None = None
        self._several_streams_unchosen = False
        self._records_received = 0
        self._last_progress_log = time.monotonic()
        self._quality_report: Path | None = None

    @classmethod
    def invoke(cls, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """The SDK's entry point; expected failures end with their message and exit code, no traceback."""
        try:
            super().invoke(*args, **kwargs)
        except VivaError as error:
            cls.logger.error("%s", error)
            sys.exit(error.exit_code)
        except SdkMappingError as error:
            # stream_maps or flattening that cannot apply to the stream: the SDK's message names it.
            cls.logger.error("stream_maps / flattening settings: %s", error)
            sys.exit(ConfigurationError.exit_code)
        except OSError as error:
            if error.filename is None:  # not a file: a network error the client should have named
                raise
            # A full disk, a folder removed or made read-only during the run: the place and the reason.
            cls.logger.error("%s", config_check.file_system_failure(error))
            sys.exit(ConfigurationError.exit_code)

    @classmethod
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> Any:
        """Each --config file read once (a pipe cannot be read twice); a missing or non-JSON file ends
        naming the file, exit code 2. The SDK's callback is left only `ENV`, and given the files' settings."""
        try:
            settings = config_check.read_config_files(value)
        except ConfigurationError as error:
            cls.logger.error("%s", error)
            ctx.exit(error.exit_code)
        config_input = super().cb_config(ctx, param, tuple(v for v in value if v == config_check.ENV_CONFIG))
        config_input.config = settings
        return config_input

    def check_settings(self) -> None:
        """Every setting checked before the first record is read (config_check.py)."""
        schema = copy.deepcopy(self.config_jsonschema)
        self.append_builtin_config(schema)  # the SDK's own settings are known settings too
        config_check.check_settings(self.config, schema)
        if not self.config.get("dry_run"):
            # A run that may upload proves its credential now, not after reading the whole stream:
            # a wrong or expired credential would otherwise surface only on a day the data changes.
            from target_viva_insights.upload.client import sign_in

            self._token_cache = sign_in(self.config, self.logger)

    @property
    def export(self) -> Export:
        if self._export is None:
            # May refuse the template: before the work dir exists.
            settings = ExportSettings.from_config(self._config_for_validation())
            self._workdir = Path(tempfile.mkdtemp(prefix="target-viva-insights-"))  # mode 0700
            self._export = Export(self._workdir, settings, self._held_organization())
        return self._export

    @property
    def sink_class(self) -> type[VivaSink]:
        """The HR stream's sink class, bound to the run's export."""
        if self._sink_class is None:
            self._sink_class = VivaSink.for_export(self.export)
        return self._sink_class

    # -- which stream is the HR stream ---------------------------------------------------------------

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        chosen = self.config.get("stream_name")
        if stream_name not in self._streams:
            self._streams.append(stream_name)
        if chosen:
            return self.sink_class if stream_name == chosen else SkippedStreamSink
        if len(self._streams) > 1:
            # Not an error yet: the input is read to its end first (`_check_stream_choice`). Stopping
            # here would break the tap's pipe, and the run would end on the tap's BrokenPipeError.
            self._several_streams_unchosen = True
            return SkippedStreamSink
        return self.sink_class

    def _check_stream_choice(self) -> None:
        """At the end of the input: exactly one HR stream, the one `stream_name` names if set."""
        chosen = self.config.get("stream_name")
        if chosen and chosen not in self._streams:
            seen = ", ".join(self._streams) or "none"
            msg = f"stream_name is '{chosen}', but the tap sent no such stream (streams seen: {seen})."
            raise StreamSelectionError(msg)
        if self._several_streams_unchosen:
            msg = (
                f"The tap sends several streams ({', '.join(self._streams)}); set stream_name to the one "
                "that holds the HR data. Nothing was packaged or uploaded."
            )
            raise StreamSelectionError(msg)

    def _process_activate_version_message(self, message_dict: dict) -> None:
        """Accepted quietly: the run delivers the whole stream as one package, so there is no older
        version of it to retire (the SDK's default warns that it is not implemented)."""
        if not isinstance(message_dict.get("version"), int):
            # The reader turns this into an error naming the input line and the missing key.
            raise TypeError("ACTIVATE_VERSION without a version")

    # -- progress during a long extraction, and records once the stream choice failed --------------

    def _process_record_message(self, message_dict: dict) -> None:
        """Counts the record for the progress line, then takes the direct or the SDK's path
        (`fast_path.DirectRecordTarget`); once the stream choice failed, reads on without processing."""
        self._records_received += 1
        if not self._records_received % PROGRESS_CHECK_EVERY:
            self._log_progress()
        if self._several_streams_unchosen:
            return  # nothing will be packaged: read on to the end of the input, cheaply
        super()._process_record_message(message_dict)

    def _log_progress(self) -> None:
        """A log line when a few seconds went by since the last one (called every 1,000 records)."""
        now = time.monotonic()
        if now - self._last_progress_log >= PROGRESS_LOG_SECONDS:
            self._last_progress_log = now
            self.logger.info("Records received so far: %d.", self._records_received)

    # -- signals: STATE stays held back (fast_path.HeldStateTarget), the HR data is removed -----------

    def on_termination(self, signum: int) -> None:  # pragma: no cover - signal path
        self.logger.error("Stopped by signal %d before the package was delivered; no state emitted.", signum)
        self._remove_workdir()
        sys.exit(128 + signum)

    # -- the end of the input ------------------------------------------------------------------------

    def process_endofpipe(self) -> None:
        try:
            super().process_endofpipe()  # drains every sink; STATE is captured, not written
            self._check_stream_choice()
            if self._export is None or self._export.rows == 0:
                self._accept_empty_input()
                self.release_state()
                return
            self._package_and_deliver()
            self._log_quality_report()
            self.release_state()
        finally:
            self._remove_workdir()

    def _accept_empty_input(self) -> None:
        """No record for the HR stream: fine when `allow_empty` says so, else the run fails (a tap that
        sends nothing is more often misconfigured than up to date)."""
        if self.config.get("allow_empty"):
            self.logger.info(
                "No records arrived for the HR stream: nothing to package or upload (allow_empty)."
            )
            return
        stream = self.config.get("stream_name") or next(iter(self._streams), None)
        if stream is None:
            sent = "The tap sent nothing: no stream and no records"
        else:
            sent = f"The tap sent no records for the HR stream '{stream}'"
        msg = (
            f"{sent}; nothing was packaged or uploaded, and no state was emitted. If an empty run is "
            'normal for this schedule (nothing changed at the source), set {"allow_empty": true}.'
        )
        raise NothingReceivedError(msg)

    def _package_and_deliver(self) -> None:
        if destination_of(self.config) is Destination.M365:
            self._deliver_to_m365()
            return
        out_dir = self._output_dir()
        # Viva's error file must outlive the run even without output_dir: then it goes to the working dir.
        errors_dir = out_dir if self.config.get("output_dir") else Path.cwd()
        with self._ledger_lock():
            # First, so an incremental import is judged against everything Viva holds.
            self._settle_pending_ingestions(errors_dir)
            data_zip, columns, report = self.export.finish()
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            report_path = report.write_csv(out_dir / f"viva-insights-{stamp}-validation.csv")
            self._log_report(report, report_path, columns)
            self._log_mapping_findings(columns, report)
            package_path = out_dir / f"viva-insights-{stamp}.zip"
            if not report.ok and not self.config.get("preflight_report_only"):
                self._write_refused_quality_report(data_zip, columns, report, package_path)
                msg = (
                    f"Local validation found {report.count(Severity.ERROR)} error(s) in {self.export.rows} "
                    f"rows; nothing was packaged or uploaded. Report: {self._kept_file(report_path)}"
                )
                raise PreflightFailedError(msg)
            plan = plan_import(self.config, self._ledger, data_zip, self.export.rows, self.logger)
            if plan.nothing_to_send:
                self._log_nothing_changed()
                return
            quality = profile_for_run(
                self.config, self._ledger, data_zip, csv_fields(columns), report, package_path, plan
            )
            if plan.send is not None:
                data_zip = write_rows_to_send(
                    data_zip, [c.field for c in columns], plan.send, self.export.workdir
                )
            metadata = metadata_document(csv_fields(columns), ImportMode(plan.mode.value))
            package = complete_package(data_zip, metadata, package_path)
            self._quality_report = write_report(quality, report_path_for(package))
            self.logger.info(
                "Package %s: %d rows, %d columns (%s).",
                self._kept_file(package),
                plan.rows,
                len(columns),
                ", ".join(column.field for column in columns),
            )
            self.logger.info("Import plan: %s.", plan.describe())
            if self.config.get("dry_run"):
                self.logger.info("dry_run: the package is not uploaded; the ledger is left as it is.")
                return
            self._deliver_and_record(package, plan, errors_dir)

    def _deliver_to_m365(self) -> None:
        """Organizational data in Microsoft 365 (destinations/m365/): only the people whose current state
        changed, posted once; the ledger then records what the tenant holds."""
        from target_viva_insights.destinations.m365 import delivery

        out_dir = self._output_dir()
        with self._ledger_lock():
            data_zip, columns, report = self.export.finish()
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            report_path = out_dir / f"m365-{stamp}-validation.csv"
            prepared = delivery.prepare(
                self.config,
                self.export.settings,
                self._ledger,
                data_zip,
                columns,
                report,
                out_dir,
                stamp,
                self.logger,
            )
            report.write_csv(report_path)
            self._log_report(report, report_path, columns)
            self._log_mapping_findings(columns, report)
            if prepared is None:
                self._write_refused_quality_report(data_zip, columns, report, out_dir / f"m365-{stamp}.csv")
                msg = (
                    f"Local validation found {report.count(Severity.ERROR)} error(s) in {self.export.rows} "
                    f"rows; nothing was uploaded to Microsoft 365. Report: {self._kept_file(report_path)}"
                )
                raise PreflightFailedError(msg)
            self.logger.info(
                "Header-only CSV for the admin center's column mapping: %s",
                self._kept_file(prepared.header_path),
            )
            if not prepared.delta.people_sent:
                self.logger.info("Nothing changed since the last upload to Microsoft 365: no upload.")
                return
            self._write_quality_report_of(data_zip, columns, report, prepared.upload_path)
            self.logger.info(
                "Upload %s: %d people, %d columns (%s).",
                self._kept_file(prepared.upload_path),
                prepared.delta.people_sent,
                len(prepared.plan.columns),
                ", ".join(prepared.plan.header),
            )
            if self.config.get("dry_run"):
                self.logger.info("dry_run: the CSV is not uploaded; the ledger is left as it is.")
                return
            from target_viva_insights.destinations.m365.upload import upload_csv

            upload_csv(self.config, prepared.upload_path, self.logger)
            ledger = self._ledger
            if ledger is not None:
                ledger.write_m365_state(prepared.delta.new_state)
                self.logger.info(
                    "Ledger %s: what Microsoft 365 now holds recorded (%d people).",
                    ledger.location,
                    prepared.delta.new_state.num_rows,
                )

    # -- the delivery ledger (ledger.py, import_plan.py) ---------------------------------------------

    @property
    def _ledger(self) -> Ledger | None:
        if not hasattr(self, "_opened_ledger"):
            self._opened_ledger = open_ledger(self.config)
        return self._opened_ledger

    def _config_for_validation(self) -> dict[str, Any]:
        """The file is judged as the import it will (or may) be: auto with a ledger -> incremental."""
        return {**self.config, "import_mode": validation_mode(self.config, self._ledger).value}

    def _held_organization(self) -> LedgerOrganization | None:
        """What Viva holds, for judging the file: only when it will (or may) go as an incremental, and
        the ledger knows something (without it, who is new and who is known cannot be told)."""
        ledger = self._ledger
        if ledger is None or not ledger.holds_data():
            return None
        if validation_mode(self.config, ledger) is not ImportKind.INCREMENTAL:
            return None
        return LedgerOrganization(ledger)

    def _ledger_lock(self) -> contextlib.AbstractContextManager[Any]:
        ledger = self._ledger
        if ledger is None or self.config.get("dry_run"):
            return contextlib.nullcontext()
        return ledger.locked()

    def _settle_pending_ingestions(self, errors_dir: Path) -> None:
        """Ingestions a previous run left pending: Completed -> into the ledger, failed -> dropped."""
        ledger = self._ledger
        if ledger is None or not ledger.exists() or not ledger.pending or self.config.get("dry_run"):
            return
        from target_viva_insights.errors import IngestionFailed
        from target_viva_insights.upload.client import field, settle_ingestion

        for record in ledger.pending:
            try:
                document = settle_ingestion(
                    self.config, record.ingestion_id, errors_dir, self.logger, self._token_cache
                )
            except (DataValidationFailed, IngestionFailed) as error:
                ledger.settle(record.ingestion_id, completed=False)
                self.logger.warning(
                    "Pending ingestion %s failed (%s): dropped from the ledger (its rows go again).",
                    record.ingestion_id,
                    type(error).__name__,
                )
                continue
            status = str(field(document, "Status"))
            if phase_of(status) is Phase.COMPLETED:
                ledger.settle(record.ingestion_id, completed=True)
                self.logger.info(
                    "Pending ingestion %s completed: recorded in the ledger.", record.ingestion_id
                )
                continue
            msg = (
                f"Ingestion {record.ingestion_id} of {record.time} is still {status}; Viva takes one "
                "ingestion at a time. Run again once it has finished (viva-insights status ID)."
            )
            raise PreviousIngestionPending(msg)

    def _log_nothing_changed(self) -> None:
        last = self._ledger.last_ingestion() if self._ledger is not None else None
        since = f"ingestion {last.ingestion_id} of {last.time}" if last else "the ledger was written"
        self.logger.info("Nothing changed since %s: no upload.", since)

    def _deliver_and_record(self, package: Path, plan: ImportPlan, errors_dir: Path) -> None:
        """Upload; the ledger takes the rows once Viva says Completed, or keeps them as pending."""
        from target_viva_insights.upload.client import deliver_package, field

        final = deliver_package(self.config, package, errors_dir, self.logger, self._token_cache)
        ledger = self._ledger
        if ledger is None:
            return
        people = sorted_distinct(plan.digests.person).size
        record = IngestionRecord(
            str(field(final, "Id")), now_iso(), plan.mode, plan.rows, people, package_sha256(package)
        )
        if phase_of(str(field(final, "Status"))) is Phase.COMPLETED:
            ledger.record_completed(record, plan.digests)
            self.logger.info("Ledger %s: ingestion %s recorded.", ledger.location, record.ingestion_id)
        else:
            ledger.record_pending(record, plan.digests)
            self.logger.info(
                "Ledger %s: ingestion %s recorded as pending; the next run settles it.",
                ledger.location,
                record.ingestion_id,
            )

    def _output_dir(self) -> Path:
        configured = self.config.get("output_dir")
        if configured:
            path = Path(configured).expanduser()
            path.mkdir(parents=True, exist_ok=True)
            return path
        assert self._workdir is not None
        return self._workdir

    def _kept_file(self, path: Path) -> str:
        """Where a file of the run is kept; without output_dir it goes with the work folder at the end
        of the run, so its path would name nothing: its name only, and how to keep it."""
        if self.config.get("output_dir"):
            return str(path)
        return f"{path.name} (not kept: set output_dir to keep it)"

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
        if self.config.get("output_dir"):
            self.logger.info("Validation report: %s", report_path)
        elif not report.ok:
            self.logger.info("Set output_dir to keep the validation report with the offending values.")

    # -- the data-quality report (quality/) ---------------------------------------------------------

    def _write_refused_quality_report(
        self, data_zip: Path, columns: list[Column], report: ValidationReport, package: Path
    ) -> None:
        """The report of data the validation refused, logged now: the run ends with the refusal."""
        self._write_quality_report_of(data_zip, columns, report, package)
        self._log_quality_report()

    def _write_quality_report_of(
        self, data_zip: Path, columns: list[Column], report: ValidationReport, package: Path
    ) -> None:
        """The report of the whole data.csv beside `package`, without a legacy import plan (a refused run,
        or Microsoft 365, whose delta the log states); data.csv may be unreadable, as the findings say."""
        try:
            profile = profile_for_run(
                self.config, self._ledger, data_zip, csv_fields(columns), report, package, None
            )
        except (pa.ArrowInvalid, UnicodeDecodeError) as error:
            self.logger.warning("No data-quality report: data.csv cannot be read (%s).", type(error).__name__)
            return
        self._quality_report = write_report(profile, report_path_for(package))

    def _log_quality_report(self) -> None:
        path = self._quality_report
        if path is None:
            return
        if self.config.get("output_dir"):
            self.logger.info("Data-quality report: %s", path)
        else:
            self.logger.info("Set output_dir to keep the data-quality report (HTML) beside the package.")

    def _log_mapping_findings(self, columns: list[Column], report: ValidationReport) -> None:
        """What the findings mean for the tap's columns: text that did (not) parse, a missing field."""
        for note in findings_notes(columns, report, self.export.settings.column_mapping):
            self.logger.log(note.level, "%s", note.message)

    def _remove_workdir(self) -> None:
        if self._export is not None:
            self._export.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


def _with_fix(line: str, issue: Issue, columns: list[Column]) -> str:
    """A finding about a column's name ends with the setting that fixes it."""
    fix = name_fix(issue, columns)
    return f"{line}. Fix: {fix}" if fix else line


if __name__ == "__main__":
    TargetVivaInsights.cli()
