"""What differs between destinations, behind one small interface that the delivery run calls.

The delivery run (delivery.py) finishes data.csv, writes and logs the findings, and then asks the
destination, in this order: to settle what an earlier run left pending, to judge the file by its own
rules, to plan what goes, to write the file it sends, and to send it and record what the tenant now
holds. A new destination is a folder under destinations/ that implements `Destination`, and one line
in `destinations.destination_for`.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from target_viva_insights.build.export import csv_fields
from target_viva_insights.build.mapping import Column
from target_viva_insights.ledger.plan import ImportPlan
from target_viva_insights.ledger.store import Ledger
from target_viva_insights.package import CsvField
from target_viva_insights.settings import RunSettings
from target_viva_insights.validation.report import ValidationReport

if TYPE_CHECKING:
    import msal  # imported when a run may upload (client.sign_in)


@dataclasses.dataclass(frozen=True)
class Finished:
    """The run's finished data.csv (zipped), its columns and the findings so far."""

    data_zip: Path
    columns: list[Column]
    report: ValidationReport
    rows: int
    workdir: Path  # the run's private folder, for intermediate files

    @property
    def fields(self) -> list[CsvField]:
        return csv_fields(self.columns)


@dataclasses.dataclass(frozen=True)
class RunFiles:
    """Where the files of a run go, and how a log line names them."""

    out_dir: Path  # output_dir, or the run's private folder (removed at the end) without it
    errors_dir: Path  # where the service's error files go: output_dir, else the working directory
    kept_after_run: bool  # output_dir is set

    def kept(self, path: Path) -> str:
        """Without output_dir the file goes with the private folder at the end of the run, so its path
        would name nothing: its name only, and how to keep it."""
        if self.kept_after_run:
            return str(path)
        return f"{path.name} (not kept: set output_dir to keep it)"


class Shipment(Protocol):
    """What one run would send: the destination's own plan."""

    @property
    def nothing_to_send(self) -> bool: ...

    @property
    def import_plan(self) -> ImportPlan | None:
        """The legacy import plan the data-quality report describes (None: the log states the plan)."""
        ...

    def describe(self) -> str:
        """One line for the log: what goes and why."""
        ...


ShipmentT = TypeVar("ShipmentT", bound=Shipment)


class Destination(Protocol[ShipmentT]):
    """One place organizational data can be delivered to."""

    label: str  # the destination's name in log lines ("Viva Insights", "Microsoft 365")
    file_prefix: str  # the files of a run are named <file_prefix>-<stamp>...
    file_suffix: str  # of the file sent (".zip", ".csv")
    file_word: str  # what the file sent is called in log lines ("package", "CSV")
    nothing_sent: str  # the refusal's words for "nothing left the machine"
    writes_despite_errors: bool  # preflight_report_only (a dry run) may write its file from refused data

    def settle_pending(self, errors_dir: Path) -> None:
        """Bring the ledger up to date with what an earlier run left pending, before anything is judged."""
        ...

    def judge(self, finished: Finished, stamp: str) -> None:
        """Add the destination's own findings to `finished.report` (its rules beyond Viva's HR rules)."""
        ...

    def plan(self, finished: Finished) -> ShipmentT:
        """Compare the file with what the tenant holds: what goes, and what the ledger will take."""
        ...

    def write(self, finished: Finished, shipment: ShipmentT, path: Path) -> None:
        """Write the file this destination sends to `path` (0600); data.csv's zip may move into it."""
        ...

    def describe_file(self, finished: Finished, shipment: ShipmentT, path: str) -> str:
        """The log line naming the file sent, with its counts."""
        ...

    def send(self, shipment: ShipmentT, path: Path, errors_dir: Path) -> None:
        """Post the file once, follow it as far as the settings say, and record it in the ledger."""
        ...


class DestinationBase:
    """What every destination is given: the run's settings, the tenant's ledger, where the run's files
    go, the logger and the start-up sign-in's token cache (so a run signs in once)."""

    def __init__(
        self,
        settings: RunSettings,
        ledger: Ledger | None,
        files: RunFiles,
        logger: logging.Logger,
        token_cache: msal.TokenCache | None = None,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.files = files
        self.logger = logger
        self.token_cache = token_cache
