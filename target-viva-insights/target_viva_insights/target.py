"""target-viva-insights: any Singer HR stream in, a validated Viva Insights package out (and uploaded)."""

from __future__ import annotations

import copy
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
from target_viva_insights.build.export import Export, ExportSettings
from target_viva_insights.delivery import Delivery
from target_viva_insights.destinations import RunFiles, destination_for
from target_viva_insights.errors import ConfigurationError, DataValidationFailed, VivaError
from target_viva_insights.import_mode import ImportMode
from target_viva_insights.ledger.held import LedgerOrganization
from target_viva_insights.ledger.plan import open_ledger, validation_mode
from target_viva_insights.ledger.store import Ledger
from target_viva_insights.log_text import keep_log_messages_on_one_line
from target_viva_insights.settings import TARGET_SETTINGS, RunSettings
from target_viva_insights.singer.fast_path import (
    CheckedSettingsTarget,
    DirectRecordTarget,
    HeldStateTarget,
    TerminationHook,
)
from target_viva_insights.singer.reader import VivaMessageReader
from target_viva_insights.singer.sink import SkippedStreamSink, VivaSink

if TYPE_CHECKING:
    import msal  # imported when a run may upload (client.sign_in)

# Progress during a long extraction: a look at the clock every this many records (cheap), and a log
# line when this many seconds went by since the last one.
PROGRESS_CHECK_EVERY = 1000
PROGRESS_LOG_SECONDS = 5.0


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
        self.settings = RunSettings.from_config(self.config)
        if not self.settings.dry_run:
            # A run that may upload proves its credential now, not after reading the whole stream:
            # a wrong or expired credential would otherwise surface only on a day the data changes.
            from target_viva_insights.upload.client import sign_in

            self._token_cache = sign_in(self.settings.require_connection(), self.logger)

    @property
    def export(self) -> Export:
        if self._export is None:
            # May refuse the template: before the work dir exists.
            # The file is judged as the import it will (or may) be: auto with a ledger -> incremental.
            judged_as = validation_mode(self.settings, self._ledger)
            settings = ExportSettings.for_run(self.settings, judged_as)
            self._workdir = Path(tempfile.mkdtemp(prefix="target-viva-insights-"))  # mode 0700
            self._export = Export(self._workdir, settings, self._held_organization(judged_as))
        return self._export

    @property
    def sink_class(self) -> type[VivaSink]:
        """The HR stream's sink class, bound to the run's export."""
        if self._sink_class is None:
            self._sink_class = VivaSink.for_export(self.export)
        return self._sink_class

    # -- which stream is the HR stream ---------------------------------------------------------------

    def get_sink_class(self, stream_name: str) -> type[Sink]:
        chosen = self.settings.stream_name
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
        chosen = self.settings.stream_name
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
            self._deliver()
            self.release_state()
        finally:
            self._remove_workdir()

    def _accept_empty_input(self) -> None:
        """No record for the HR stream: fine when `allow_empty` says so, else the run fails (a tap that
        sends nothing is more often misconfigured than up to date)."""
        if self.settings.allow_empty:
            self.logger.info(
                "No records arrived for the HR stream: nothing to package or upload (allow_empty)."
            )
            return
        stream = self.settings.stream_name or next(iter(self._streams), None)
        if stream is None:
            sent = "The tap sent nothing: no stream and no records"
        else:
            sent = f"The tap sent no records for the HR stream '{stream}'"
        msg = (
            f"{sent}; nothing was packaged or uploaded, and no state was emitted. If an empty run is "
            'normal for this schedule (nothing changed at the source), set {"allow_empty": true}.'
        )
        raise NothingReceivedError(msg)

    def _deliver(self) -> None:
        """Everything after the input (delivery.py), with the destination the settings name."""
        files = self._run_files()
        destination = destination_for(self.settings, self._ledger, files, self.logger, self._token_cache)
        delivery = Delivery(self.settings, self._ledger, destination, files, self.logger)
        delivery.deliver(self.export)
        delivery.log_quality_report()

    # -- the delivery ledger (ledger/) ----------------------------------------------------------------

    @property
    def _ledger(self) -> Ledger | None:
        if not hasattr(self, "_opened_ledger"):
            self._opened_ledger = open_ledger(self.settings)
        return self._opened_ledger

    def _held_organization(self, judged_as: ImportMode) -> LedgerOrganization | None:
        """What Viva holds, for judging the file: only when it will (or may) go as an incremental, and
        the ledger knows something (without it, who is new and who is known cannot be told)."""
        ledger = self._ledger
        if ledger is None or not ledger.holds_data() or judged_as is not ImportMode.INCREMENTAL:
            return None
        return LedgerOrganization(ledger)

    def _run_files(self) -> RunFiles:
        configured = self.settings.output_dir
        if configured is not None:
            configured.mkdir(parents=True, exist_ok=True)
            # Viva's error file must outlive the run even without output_dir: then it goes to the
            # working directory.
            return RunFiles(configured, configured, kept_after_run=True)
        assert self._workdir is not None
        return RunFiles(self._workdir, Path.cwd(), kept_after_run=False)

    def _remove_workdir(self) -> None:
        if self._export is not None:
            self._export.close()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


if __name__ == "__main__":
    TargetVivaInsights.cli()
