"""The ingestion vocabulary: the statuses Viva reports, the phase each means, and when a run may stop.

One list, shared by the client (which follows an ingestion) and the emulator (which reports one).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum


class IngestionStatus(str, enum.Enum):
    """Status strings of an ingestion as the service writes them."""

    NOT_STARTED = "NotStarted"
    EXTRACTION_COMPLETE = "ExtractionComplete"
    # Written this way in one of Microsoft's READMEs; treated like ExtractionComplete.
    EXTRACTION_COMPLETED = "ExtractionCompleted"
    COMPLETED = "Completed"
    VALIDATION_FAILED = "ValidationFailed"
    # Not documented for HR: plausible names of "validated, still processing" (the survey UI shows one).
    VALIDATED = "Validated"
    VALIDATION_SUCCEEDED = "ValidationSucceeded"
    VALIDATION_COMPLETE = "ValidationComplete"
    VALIDATION_COMPLETED = "ValidationCompleted"
    # What an Insights admin's "abandon" in Import history leaves (the emulator reports it).
    ABANDONED = "Abandoned"


class Phase(enum.Enum):
    """What a status means for the run that follows the ingestion."""

    IN_PROGRESS = "in progress"
    VALIDATED = "validated"
    COMPLETED = "completed"
    VALIDATION_FAILED = "validation failed"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (Phase.COMPLETED, Phase.VALIDATION_FAILED, Phase.FAILED)


_PHASES = {
    IngestionStatus.COMPLETED: Phase.COMPLETED,
    IngestionStatus.VALIDATION_FAILED: Phase.VALIDATION_FAILED,
    IngestionStatus.ABANDONED: Phase.FAILED,
    IngestionStatus.VALIDATED: Phase.VALIDATED,
    IngestionStatus.VALIDATION_SUCCEEDED: Phase.VALIDATED,
    IngestionStatus.VALIDATION_COMPLETE: Phase.VALIDATED,
    IngestionStatus.VALIDATION_COMPLETED: Phase.VALIDATED,
}


def is_known_status(status: str) -> bool:
    return status in IngestionStatus._value2member_map_


def phase_of(status: str) -> Phase:
    """The phase of a status string; unknown strings are in progress unless they name a failure."""
    if is_known_status(status):
        return _PHASES.get(IngestionStatus(status), Phase.IN_PROGRESS)
    return Phase.FAILED if "fail" in status.lower() else Phase.IN_PROGRESS


class AwaitStatus(str, enum.Enum):
    """The `await_status` setting: how far a run follows its ingestion after the upload."""

    NONE = "none"
    VALIDATION = "validation"
    COMPLETION = "completion"

    def reached(self, phase: Phase) -> bool:
        """Whether following the ingestion can stop at `phase`."""
        if self is AwaitStatus.NONE or phase.is_final:
            return True
        return self is AwaitStatus.VALIDATION and phase is Phase.VALIDATED


@dataclasses.dataclass(frozen=True)
class ListedIngestion:
    """One ingestion of the service's listing: its id, status and when it started (UTC, to the second)."""

    id: str
    status: str
    started: datetime.datetime | None

    @property
    def phase(self) -> Phase:
        return phase_of(self.status)
