"""The emulator's ingestions: one at a time per tenant, a timed status machine, validation of the zip.

Status machine (the documented strings): NotStarted -> ExtractionComplete -> Completed | ValidationFailed.
Each step lasts `step_seconds`; the final status also waits for the judgement, which runs in a worker
thread with the target's own rule set made stricter or looser on demand (`judge.py`). A "stuck"
ingestion stays NotStarted, as a corrupt zip does in the real service, until it is abandoned. A zip that
passes is staged into the tenant's org data in the same worker, and is what the tenant holds once the
ingestion is Completed (`org_data.py`).
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

from target_viva_insights.emulator.faults import Strictness
from target_viva_insights.emulator.judge import PACKAGE_RULE, Finding, Verdict, judge
from target_viva_insights.emulator.org_data import OrgDataError, OrgDataStore
from target_viva_insights.ingestion import IngestionStatus
from target_viva_insights.private_files import private_binary_file
from target_viva_insights.validation.report import Severity

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
    validation: Future[Verdict | None]
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
        # HR data: only the emulator's user may read the uploads, error files and org data.
        for folder in (self.uploads_dir, self.errors_dir):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.chmod(0o700)
        self.org_data = OrgDataStore(data_dir / "org-data")
        self.org_data.discard_all_staged()
        self._step_seconds = step_seconds
        self._unknown_status = unknown_status
        self._ingestions: dict[str, Ingestion] = {}
        self._lock = threading.Lock()
        # Finishing an ingestion commits its org data: once, even when two status requests race.
        self._finishing = threading.Lock()
        self._validator = ThreadPoolExecutor(max_workers=1, thread_name_prefix="validation")
        self.connector_ids: dict[str, str] = {}

    def connector_id(self, tenant_id: str) -> str:
        """The tenant's HR connector id (made up on first use, stable while the emulator runs)."""
        return self.connector_ids.setdefault(tenant_id, str(uuid.uuid4()))

    def pending(self, tenant_id: str) -> Ingestion | None:
        """The tenant's unfinished ingestion, if any: Viva takes one at a time per tenant."""
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
        strictness: Strictness | None = None,
    ) -> Ingestion:
        """Keep the upload as DATA_DIR/uploads/<id>.zip (or .raw) and start the ingestion.

        Args:
            tenant_id: The tenant the upload is for.
            save_upload: Writes the uploaded bytes to the path it is given.
            is_zip: A package (judged, and staged into the tenant's org data) rather than a bare file.
            stuck: The ingestion stays NotStarted until abandoned.
            strictness: How the emulated service departs from the pre-flight.

        Returns:
            The started ingestion.
        """
        strictness = strictness or Strictness()
        ingestion_id = str(uuid.uuid4())
        target = self.uploads_dir / f"{ingestion_id}{'.zip' if is_zip else '.raw'}"
        with private_binary_file(target):
            pass  # 0600 before a byte of the upload is written
        save_upload(target)
        validation: Future[Verdict | None]
        if is_zip or strictness.reject:
            validation = self._validator.submit(
                self._judge, ingestion_id, tenant_id, target, is_zip=is_zip, strictness=strictness
            )
        else:
            # A bare .csv/.json carries no metadata.json; Viva would use the connection's stored mapping,
            # which the emulator does not keep: such an upload completes without changing the org data.
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

    def _judge(
        self, ingestion_id: str, tenant_id: str, package: Path, *, is_zip: bool, strictness: Strictness
    ) -> Verdict:
        """Viva's verdict; a zip that passes is staged as the tenant's next org data."""
        verdict = judge(package, strictness)
        if verdict.ok and is_zip:
            try:
                self.org_data.stage(ingestion_id, tenant_id, package)
            except OrgDataError as error:
                verdict.add(Finding(Severity.ERROR, PACKAGE_RULE, str(error)))
        return verdict

    def get(self, tenant_id: str, ingestion_id: str) -> Ingestion | None:
        """The tenant's ingestion by id (a GUID in canonical form), or None."""
        with self._lock:
            ingestion = self._ingestions.get(ingestion_id)
        return ingestion if ingestion is not None and ingestion.tenant_id == tenant_id else None

    def all(self, tenant_id: str | None = None) -> list[Ingestion]:
        with self._lock:
            items = list(self._ingestions.values())
        return [item for item in items if tenant_id is None or item.tenant_id == tenant_id]

    def status(self, ingestion: Ingestion) -> str:
        """The ingestion's status now; the first call after its time has come finishes it."""
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

    def _finish(self, ingestion: Ingestion, verdict: Verdict | None) -> None:
        with self._finishing:
            if ingestion.final_status is not None:
                return
            if verdict is not None and not verdict.ok:
                ingestion.error_file = self._write_error_file(ingestion, verdict)
                self.org_data.discard(ingestion.id)
                final_status = VALIDATION_FAILED
            else:
                self.org_data.commit(ingestion.id, ingestion.tenant_id)
                final_status = COMPLETED
            ingestion.ended_at = datetime.datetime.now(datetime.timezone.utc)
            ingestion.final_status = final_status
        logger.info("Ingestion %s: %s", ingestion.id, ingestion.final_status)

    def _write_error_file(self, ingestion: Ingestion, verdict: Verdict) -> Path:
        """Viva's error file for the ingestion, readable by the emulator's user only (it holds values)."""
        path = self.errors_dir / f"{ingestion.id}.csv"
        with private_binary_file(path):
            pass  # 0600 before the values are written
        return verdict.write_csv(path)

    def abandon(self, ingestion: Ingestion) -> None:
        """What an Insights admin does in Import history to a stuck ingestion."""
        with self._finishing:
            if ingestion.final_status is None and self._running(ingestion):
                ingestion.final_status = ABANDONED
                ingestion.ended_at = datetime.datetime.now(datetime.timezone.utc)
                self.org_data.discard(ingestion.id)
        self.status(ingestion)  # one whose time had come finishes as it would have

    def forget_all(self) -> None:
        """No tenant has any ingestion any more (their uploads stay on disk until the emulator stops)."""
        with self._lock:
            self._ingestions.clear()

    def _running(self, ingestion: Ingestion) -> bool:
        """Not yet due to finish: stuck, in its first steps, or still being judged."""
        elapsed = time.monotonic() - ingestion.started
        return ingestion.stuck or elapsed < 2 * self._step_seconds() or not ingestion.validation.done()

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
