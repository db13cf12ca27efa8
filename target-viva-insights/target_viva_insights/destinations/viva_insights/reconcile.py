"""The ledger brought in step with the service before a run plans.

- An upload an earlier run left pending is asked for: Completed goes into the ledger; a failure is
  kept, with its package, and refused until it is resent or forgotten (its rows are at the service
  nowhere, and the tap may not send them again).
- An upload whose run died between the POST and the answer is looked for in the service's listing,
  by when it started.
- An ingestion of the tenant the ledger did not make (the admin center, another tool) is named, and
  under `import_mode: auto` the run becomes a full import, since the ledger no longer says what the
  tenant holds.

The listing is not documented for Viva's HR ingress (the emulator has one): where the service does
not list, the run goes on as before, except where only the listing could tell what happened.
"""

from __future__ import annotations

import datetime
import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from target_viva_insights.errors import (
    DataValidationFailed,
    IngestionFailed,
    IngestionNotFound,
    LedgerError,
    PreviousIngestionPending,
    VivaError,
)
from target_viva_insights.import_mode import ImportMode
from target_viva_insights.ingestion import ListedIngestion, Phase, phase_of
from target_viva_insights.ledger.store import IngestionRecord, Ledger, RecordStatus
from target_viva_insights.settings import RunSettings

if TYPE_CHECKING:
    import msal

# How far before the ledger's record of an upload its ingestion may have started at the service
# (the two clocks differ; the ledger writes the record just before the POST).
CLOCK_SKEW = datetime.timedelta(minutes=10)


class FailedUploadRefused(LedgerError):  # noqa: N818 - named for the outcome, as in errors.py
    """An earlier upload ended failed after its run; its rows are not at the service."""


class Reconciler:
    """What the service says about the tenant's ingestions, asked once per run."""

    def __init__(
        self,
        settings: RunSettings,
        ledger: Ledger,
        logger: logging.Logger,
        token_cache: msal.TokenCache | None,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.logger = logger
        self.token_cache = token_cache
        # Why the ledger may no longer say what the tenant holds, once the listing showed it.
        self.full_because: str | None = None

    @functools.cached_property
    def listing(self) -> list[ListedIngestion] | None:
        """The tenant's ingestions, oldest first, asked once; None when the service does not list them."""
        from target_viva_insights.upload.client import tenant_ingestions

        return tenant_ingestions(self.settings.require_connection(), self.logger, self.token_cache)

    # -- uploads an earlier run left ---------------------------------------------------------------

    def settle_all(self, errors_dir: Path) -> None:
        """Settle each pending upload, oldest first; raises what stops the run (see the module)."""
        if not self.ledger.exists():
            return
        for record in self.ledger.pending:
            self._settle(record, errors_dir)

    def _settle(self, record: IngestionRecord, errors_dir: Path) -> None:
        if record.status is RecordStatus.FAILED:
            raise self._refusal(record, None)
        if record.status is RecordStatus.SENDING:
            found = self._find_unanswered(record)
            if found is None:
                return
            self.ledger.accepted(record, found)
        from target_viva_insights.upload.client import field, settle_ingestion

        try:
            document = settle_ingestion(
                self.settings.require_connection(),
                record.ingestion_id,
                errors_dir,
                self.logger,
                self.token_cache,
            )
        except IngestionNotFound as error:
            raise LedgerError(
                f"The ledger at {self.ledger.location} holds ingestion {record.ingestion_id} (uploaded "
                f"{record.time}, {record.rows} rows) as pending, but the service has no such ingestion "
                "(HTTP 404): its history was purged, or the ledger was restored from elsewhere. Nothing was "
                f"sent. `viva-insights ledger forget {record.ingestion_id}` drops it from the ledger; its "
                "rows then go again with the next run whose file holds them."
            ) from error
        except (DataValidationFailed, IngestionFailed) as error:
            self.ledger.mark_failed(record)
            raise self._refusal(record, error) from error
        status = str(field(document, "Status"))
        if phase_of(status) is Phase.COMPLETED:
            self.ledger.settle(record.ingestion_id, completed=True)
            self.logger.info("Pending ingestion %s completed: recorded in the ledger.", record.ingestion_id)
            return
        raise PreviousIngestionPending(
            f"Ingestion {record.ingestion_id} of {record.time} is still {status}; Viva takes one ingestion "
            "at a time. Run again once it has finished (viva-insights status ID)."
        )

    def _find_unanswered(self, record: IngestionRecord) -> str | None:
        """The ingestion an upload without an answer started, from the listing; None: it never arrived
        (the record is withdrawn and its rows go again)."""
        listing = self.listing
        where = (
            f"An upload of {record.time} ({record.rows} rows, recorded in the ledger as {record.upload}) "
            "was sent, but its run ended before the service answered"
        )
        if listing is None:
            raise LedgerError(
                f"{where}, and the service does not list its ingestions to tell whether it arrived. Nothing "
                "was sent. Look in Viva Insights > Organizational data > Import history: if an ingestion "
                "started then, `viva-insights ledger adopt --ingestion-id ID` settles the upload as that "
                f"ingestion; if none did, `viva-insights ledger forget {record.upload}` (its rows go again)."
            )
        since = datetime.datetime.fromisoformat(record.time) - CLOCK_SKEW
        known = self.ledger.known_ingestion_ids()
        candidates = [
            item
            for item in listing
            if item.id not in known and item.started is not None and item.started >= since
        ]
        if not candidates:
            self.ledger.withdraw(record)
            self.logger.warning(
                "%s; the service's listing shows no ingestion since, so it never arrived: its rows go again.",
                where,
            )
            return None
        if len(candidates) > 1:
            named = ", ".join(
                f"{item.id} ({item.started:%Y-%m-%d %H:%M} UTC, {item.status})" for item in candidates
            )
            raise LedgerError(
                f"{where}, and the service's listing shows {len(candidates)} ingestions since: {named}. "
                "Nothing was sent. Name the one it started: `viva-insights ledger adopt --ingestion-id ID`."
            )
        (found,) = candidates
        self.logger.warning("%s; the service's listing shows it arrived as ingestion %s.", where, found.id)
        return found.id

    def _refusal(self, record: IngestionRecord, error: VivaError | None) -> VivaError:
        """The refusal of a run while an upload's failure is unresolved: it names both ways out."""
        if isinstance(error, DataValidationFailed):
            how = "was refused by Viva's validation (ValidationFailed)"
        elif error is not None:
            how = "ended failed at the service"
        else:
            how = "ended failed (an earlier run found it so)"
        message = (
            f"Ingestion {record.ingestion_id}, uploaded {record.time} with {record.rows} rows for "
            f"{record.people} people, {how} after the run that sent it had ended: those rows are not at "
            "the service, and the tap may not send them again. Nothing new was sent. Either resend its "
            f"package, kept in the ledger, once the cause is fixed: `viva-insights ledger resend "
            f"{record.ingestion_id}`; or fix the data at the source, run `viva-insights ledger forget "
            f"{record.ingestion_id}`, and have the tap send those rows again (for Meltano, `meltano run "
            "--full-refresh ...`): the ledger does not hold them, so they go as new."
        )
        error_file = getattr(error, "error_file", None)
        if error_file is not None:
            message += f" Viva's error file: {error_file}."
        if isinstance(error, DataValidationFailed):
            return DataValidationFailed(message, error_file=error_file, ingestion_id=record.ingestion_id)
        if isinstance(error, IngestionFailed):
            failed = IngestionFailed(message)
            failed.ingestion_id = record.ingestion_id
            return failed
        return FailedUploadRefused(message)

    # -- ingestions the ledger did not make --------------------------------------------------------

    def look_for_outside_ingestions(self) -> None:
        """Completed ingestions since the ledger's latest full import that it did not make: named, and
        `full_because` set, so that `auto` may send a file holding everything as a full import."""
        if not self.ledger.holds_data():
            return
        full = [record for record in self.ledger.ingestions if record.mode is ImportMode.FULL]
        since = datetime.datetime.fromisoformat((full or self.ledger.ingestions)[-1].time)
        known = self.ledger.known_ingestion_ids()
        outside = [
            item
            for item in self.listing or []
            if item.phase is Phase.COMPLETED
            and item.id not in known
            and item.started is not None
            and item.started > since
        ]
        auto = self.settings.import_mode is ImportMode.AUTO
        for item in outside:
            self.logger.warning(
                "Ingestion %s (%s UTC, %s) was not made by this target: the ledger at %s does not say what "
                "it changed, so it may no longer match what the tenant holds. %s",
                item.id,
                f"{item.started:%Y-%m-%d %H:%M}",
                item.status,
                self.ledger.location,
                "Under import_mode auto, a file holding everyone and every month the tenant holds goes as "
                "a full import, which brings the two in step again."
                if auto
                else "A full import (import_mode: full) with the whole history brings the two in step again.",
            )
        if outside:
            self.full_because = f"ingestion {outside[-1].id} was made outside this target"

    def tenant_latest(self) -> str | None:
        """The tenant's latest completed ingestion per the listing ("ingestion ID of TIME"), when the
        ledger holds none: under `auto` a missing ledger would otherwise make a full import."""
        if self.ledger.holds_data() or self.settings.import_mode is not ImportMode.AUTO:
            return None
        completed = [item for item in self.listing or [] if item.phase is Phase.COMPLETED]
        if not completed:
            return None
        latest = completed[-1]
        when = f" of {latest.started:%Y-%m-%d %H:%M} UTC" if latest.started else ""
        return f"ingestion {latest.id}{when}"
