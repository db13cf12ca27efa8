"""The Viva Insights HR ingress as a destination: the import plan against the ledger, the zip package,
one ingestion followed as far as `await_status` says, and the ledger's record of it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from target_viva_insights.destinations.base import DestinationBase, Finished
from target_viva_insights.errors import DataValidationFailed, IngestionFailed, PreviousIngestionPending
from target_viva_insights.ingestion import Phase, phase_of
from target_viva_insights.ledger.digest_index import sorted_distinct
from target_viva_insights.ledger.plan import ImportPlan, plan_import, write_rows_to_send
from target_viva_insights.ledger.store import IngestionRecord, now_iso, package_sha256
from target_viva_insights.package import complete_package, metadata_document

if TYPE_CHECKING:
    pass  # imported when a run may upload (client.sign_in)


@dataclasses.dataclass
class IngressShipment:
    """The legacy import plan of one run."""

    plan: ImportPlan

    @property
    def nothing_to_send(self) -> bool:
        return self.plan.nothing_to_send

    @property
    def import_plan(self) -> ImportPlan:
        return self.plan

    def describe(self) -> str:
        return f"Import plan: {self.plan.describe()}."


class VivaInsightsIngress(DestinationBase):
    """The destination `viva_insights` (see `destinations.base.Destination`)."""

    label = "Viva Insights"
    file_prefix = "viva-insights"
    file_suffix = ".zip"
    file_word = "package"
    writes_despite_errors = True
    nothing_sent = "nothing was packaged or uploaded"

    def settle_pending(self, errors_dir: Path) -> None:
        """Ingestions a previous run left pending: Completed -> into the ledger, failed -> dropped."""
        ledger = self.ledger
        if ledger is None or not ledger.exists() or not ledger.pending or self.settings.dry_run:
            return
        from target_viva_insights.upload.client import field, settle_ingestion

        for record in ledger.pending:
            try:
                document = settle_ingestion(
                    self.settings.require_connection(),
                    record.ingestion_id,
                    errors_dir,
                    self.logger,
                    self.token_cache,
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

    def judge(self, finished: Finished, stamp: str) -> None:
        """Viva's HR rules are the delivery run's own (validation/): nothing to add."""

    def plan(self, finished: Finished) -> IngressShipment:
        plan = plan_import(self.settings, self.ledger, finished.data_zip, finished.rows, self.logger)
        if plan.nothing_to_send:
            last = self.ledger.last_ingestion() if self.ledger is not None else None
            since = f"ingestion {last.ingestion_id} of {last.time}" if last else "the ledger was written"
            self.logger.info("Nothing changed since %s: no upload.", since)
        return IngressShipment(plan)

    def write(self, finished: Finished, shipment: IngressShipment, path: Path) -> None:
        data_zip = finished.data_zip
        if shipment.plan.send is not None:
            data_zip = write_rows_to_send(
                data_zip, [column.field for column in finished.columns], shipment.plan.send, finished.workdir
            )
        metadata = metadata_document(finished.fields, shipment.plan.mode)
        complete_package(data_zip, metadata, path)

    def describe_file(self, finished: Finished, shipment: IngressShipment, path: str) -> str:
        fields = ", ".join(column.field for column in finished.columns)
        return f"Package {path}: {shipment.plan.rows} rows, {len(finished.columns)} columns ({fields})."

    def send(self, shipment: IngressShipment, path: Path, errors_dir: Path) -> None:
        """Upload; the ledger takes the rows once Viva says Completed, or keeps them as pending."""
        from target_viva_insights.upload.client import deliver_package, field

        final = deliver_package(
            self.settings.require_connection(), path, errors_dir, self.logger, self.token_cache
        )
        ledger = self.ledger
        if ledger is None:
            return
        plan = shipment.plan
        people = sorted_distinct(plan.digests.person).size
        record = IngestionRecord(
            str(field(final, "Id")), now_iso(), plan.mode, plan.rows, people, package_sha256(path)
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
