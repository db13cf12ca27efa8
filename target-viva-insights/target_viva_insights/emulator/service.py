"""The emulator's ingestions: one at a time per tenant, a timed status machine, validation of the zip.

Status machine (the documented strings): NotStarted -> ExtractionComplete -> Completed | ValidationFailed.
Each step lasts `step_seconds`; the final status also waits for the validation, which runs in a worker
thread with the target's own rule set (`validation.validate_package`: one source of truth). A "stuck"
ingestion stays NotStarted, as a corrupt zip does in the real service, until it is abandoned.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from target_viva_insights.ingestion import IngestionStatus
from target_viva_insights.report import Issue, Rule, ValidationReport
from target_viva_insights.validation import validate_package

NOT_STARTED = IngestionStatus.NOT_STARTED.value
EXTRACTION_COMPLETE = IngestionStatus.EXTRACTION_COMPLETE.value
COMPLETED = IngestionStatus.COMPLETED.value
VALIDATION_FAILED = IngestionStatus.VALIDATION_FAILED.value
ABANDONED = IngestionStatus.ABANDONED.value
TERMINAL = frozenset({COMPLETED, VALIDATION_FAILED, ABANDONED})

logger = logging.getLogger(__name__)


def _timestamp(moment: datetime.datetime) -> str:
    """ISO-8601 with 7 fractional digits and Z, as the service writes StartDate."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


@dataclasses.dataclass
class Ingestion:
    id: str
    tenant_id: str
    connector_id: str
    upload: Path
    size: int
    started_at: datetime.datetime
    started: float
    stuck: bool
    validation: Future[ValidationReport | None]
    error_file: Path | None = None
    final_status: str | None = None
    ended_at: datetime.datetime | None = None


class IngestionService:
    """The ingestions of the emulated tenant(s), kept in memory; the uploads are kept on disk."""

    def __init__(
        self, data_dir: Path, step_seconds: Callable[[], float], unknown_status: Callable[[], str]
    ) -> None:
        self.data_dir = data_dir
        self.uploads_dir = data_dir / "uploads"
        self.errors_dir = data_dir / "errors"
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        self.errors_dir.mkdir(parents=True, exist_ok=True)
        self._step_seconds = step_seconds
        self._unknown_status = unknown_status
        self._ingestions: dict[str, Ingestion] = {}
        self._lock = threading.Lock()
        self._validator = ThreadPoolExecutor(max_workers=1, thread_name_prefix="validation")
        self.connector_ids: dict[str, str] = {}

    def connector_id(self, tenant_id: str) -> str:
        return self.connector_ids.setdefault(tenant_id, str(uuid.uuid4()))

    def pending(self, tenant_id: str) -> Ingestion | None:
        with self._lock:
            for ingestion in self._ingestions.values():
                if ingestion.tenant_id == tenant_id and self.status(ingestion) not in TERMINAL:
                    return ingestion
        return None

    def start(
        self,
        tenant_id: str,
        save_upload: Callable[[Path], None],
        *,
        is_zip: bool,
        stuck: bool = False,
        reject: bool = False,
    ) -> Ingestion:
        """Keep the upload as DATA_DIR/uploads/<id>.zip (or .csv/.json) and start the ingestion."""
        ingestion_id = str(uuid.uuid4())
        target = self.uploads_dir / f"{ingestion_id}{'.zip' if is_zip else '.raw'}"
        save_upload(target)
        validation: Future[ValidationReport | None]
        if is_zip or reject:
            validation = self._validator.submit(self._validate, target, reject=reject)
        else:
            # A bare .csv/.json carries no metadata.json; Viva would use the connection's stored mapping.
            validation = Future()
            validation.set_result(None)
        now = datetime.datetime.now(datetime.timezone.utc)
        ingestion = Ingestion(
            id=ingestion_id,
            tenant_id=tenant_id,
            connector_id=self.connector_id(tenant_id),
            upload=target,
            size=target.stat().st_size,
            started_at=now,
            started=time.monotonic(),
            stuck=stuck,
            validation=validation,
        )
        with self._lock:
            self._ingestions[ingestion_id] = ingestion
        logger.info("Ingestion %s started (%d bytes kept in %s)", ingestion_id, ingestion.size, target)
        return ingestion

    @staticmethod
    def _validate(package: Path, *, reject: bool) -> ValidationReport:
        """The target's own rule set; a crash of the validator becomes a finding, not a stuck ingestion."""
        if reject:
            report = ValidationReport(package.name)
            report.add(Issue(Rule.SERVICE_RULE, "Rejected by the emulator (a rule only Viva checks)."))
            return report
        try:
            return validate_package(package)
        except Exception as error:  # reported to the uploader like Viva's own failures
            logger.exception("Validation of %s crashed", package)
            report = ValidationReport(package.name)
            report.add(Issue(Rule.PACKAGE, f"The package could not be read: {error}"))
            return report

    def get(self, tenant_id: str, ingestion_id: str) -> Ingestion | None:
        with self._lock:
            ingestion = self._ingestions.get(ingestion_id)
        return ingestion if ingestion is not None and ingestion.tenant_id == tenant_id else None

    def all(self, tenant_id: str | None = None) -> list[Ingestion]:
        with self._lock:
            items = list(self._ingestions.values())
        return [item for item in items if tenant_id is None or item.tenant_id == tenant_id]

    def status(self, ingestion: Ingestion) -> str:
        if ingestion.final_status is not None:
            return ingestion.final_status
        elapsed = time.monotonic() - ingestion.started
        step = self._step_seconds()
        if ingestion.stuck or elapsed < step:
            return NOT_STARTED
        if elapsed < 2 * step or not ingestion.validation.done():
            return self._unknown_status() or EXTRACTION_COMPLETE
        self._finish(ingestion, ingestion.validation.result())
        return str(ingestion.final_status)

    def _finish(self, ingestion: Ingestion, report: ValidationReport | None) -> None:
        if report is not None and not report.ok:
            ingestion.error_file = report.write_csv(self.errors_dir / f"{ingestion.id}.csv")
            ingestion.final_status = VALIDATION_FAILED
        else:
            ingestion.final_status = COMPLETED
        ingestion.ended_at = datetime.datetime.now(datetime.timezone.utc)
        logger.info("Ingestion %s: %s", ingestion.id, ingestion.final_status)

    def abandon(self, ingestion: Ingestion) -> None:
        """What an Insights admin does in Import history to a stuck ingestion."""
        if self.status(ingestion) not in TERMINAL:
            ingestion.final_status = ABANDONED
            ingestion.ended_at = datetime.datetime.now(datetime.timezone.utc)

    def as_json(self, ingestion: Ingestion) -> dict[str, Any]:
        """The documented PascalCase shape of the POST and status answers."""
        status = self.status(ingestion)
        return {
            "FriendlyName": "Data ingress",
            "Id": ingestion.id,
            "ConnectorId": ingestion.connector_id,
            "Submitter": "System",
            "StartDate": _timestamp(ingestion.started_at),
            "Status": status,
            "ErrorDetail": "Validation errors: download them from the errors endpoint."
            if status == VALIDATION_FAILED
            else None,
            "EndDate": _timestamp(ingestion.ended_at) if ingestion.ended_at else None,
            "Type": "FileIngestion",
        }

    def shutdown(self) -> None:
        self._validator.shutdown(wait=False, cancel_futures=True)
