"""The Viva Insights HR ingress as a destination: the import plan against the ledger, the zip package,
one ingestion followed as far as `await_status` says, and the ledger's record of it.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

from target_viva_insights.destinations.base import DestinationBase, Finished
from target_viva_insights.destinations.viva_insights.reconcile import Reconciler
from target_viva_insights.errors import DataValidationFailed, IngestionFailed, LedgerWriteFailed, VivaError
from target_viva_insights.ingestion import Phase, phase_of
from target_viva_insights.ledger.digest_index import sorted_distinct
from target_viva_insights.ledger.plan import ImportPlan, plan_import, write_rows_to_send
from target_viva_insights.ledger.store import IngestionRecord, now_iso, package_sha256
from target_viva_insights.package import complete_package, metadata_document


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
        """Uploads an earlier run left, then ingestions the ledger did not make (see reconcile.py)."""
        reconciler = self._reconciler
        if reconciler is not None:
            reconciler.settle_all(errors_dir)
            reconciler.look_for_outside_ingestions()

    def judge(self, finished: Finished, stamp: str) -> None:
        """Viva's HR rules are the delivery run's own (validation/): nothing to add."""

    @functools.cached_property
    def _reconciler(self) -> Reconciler | None:
        """The service's view of the tenant, for a run that may upload (a dry run asks nothing)."""
        if self.ledger is None or self.settings.dry_run or self.settings.connection is None:
            return None
        return Reconciler(self.settings, self.ledger, self.logger, self.token_cache)

    def plan(self, finished: Finished) -> IngressShipment:
        reconciler = self._reconciler
        plan = plan_import(
            self.settings,
            self.ledger,
            finished.data_zip,
            finished.rows,
            self.logger,
            tenant_latest=reconciler.tenant_latest() if reconciler is not None else None,
            full_because=reconciler.full_because if reconciler is not None else None,
        )
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
        """Record the upload in the ledger, upload, and record what became of it.

        The ledger holds the upload (its digests and package) before the POST and its ingestion id as
        soon as the service accepts it, so that whatever ends this process, a later run settles it
        instead of sending the same rows again.
        """
        from target_viva_insights.upload.client import deliver_package, field

        ledger = self.ledger
        if ledger is None:
            deliver_package(
                self.settings.require_connection(), path, errors_dir, self.logger, self.token_cache
            )
            return
        plan = shipment.plan
        people = sorted_distinct(plan.digests.person).size
        record = ledger.begin_upload(
            IngestionRecord("", now_iso(), plan.mode, plan.rows, people, package_sha256(path)),
            plan.digests,
            path,
        )
        try:
            final = deliver_package(
                self.settings.require_connection(),
                path,
                errors_dir,
                self.logger,
                self.token_cache,
                on_accepted=lambda ingestion_id: ledger.accepted(record, ingestion_id),
            )
        except (DataValidationFailed, IngestionFailed):
            # Reported by this run, which exits non-zero: the tap's state does not move on.
            ledger.withdraw(record)
            raise
        except VivaError as error:
            self._keep_or_withdraw(record, error)
            raise
        if phase_of(str(field(final, "Status"))) is not Phase.COMPLETED:
            self.logger.info(
                "Ledger %s: ingestion %s recorded as pending; the next run settles it.",
                ledger.location,
                record.ingestion_id,
            )
            return
        try:
            ledger.record_completed(record, plan.digests)
        except LedgerWriteFailed as error:
            error.args = (
                f"{error} Ingestion {record.ingestion_id} completed; the ledger still holds it as pending, "
                "and the next run records it.",
            )
            raise
        self.logger.info("Ledger %s: ingestion %s recorded.", ledger.location, record.ingestion_id)

    def _keep_or_withdraw(self, record: IngestionRecord, error: VivaError) -> None:
        """After a failure: an accepted or possibly arrived upload stays for the next run to settle;
        one that provably never reached the service is withdrawn (its rows go again)."""
        assert self.ledger is not None
        if record.ingestion_id:
            return
        if error.outcome_unknown:
            error.args = (
                f"{error} The ledger keeps this upload as {record.upload}: the next run looks for it in the "
                "service's listing and settles it.",
            )
            return
        self.ledger.withdraw(record)
