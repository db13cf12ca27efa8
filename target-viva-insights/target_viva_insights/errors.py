"""Failures of the upload flow, each with the exit code the `viva-insights` command and the target use.

Exit codes (documented in docs/CLI.md):
    0  success
    1  unexpected error (a bug: please report it)
    2  usage or configuration error
    3  data validation failed (locally, or Viva answered ValidationFailed)
    4  authentication failed (Entra ID refused the credentials)
    5  permission denied (the app is not registered in the API-based import connection)
    6  service or network failure (after the retries)
    7  timed out awaiting the ingestion
    8  a previous ingestion is still in progress
"""

# The names state the outcome the user sees (agreed with the target); an "Error" suffix adds nothing.
# ruff: noqa: N818
from __future__ import annotations

from pathlib import Path


class VivaError(Exception):
    """Base of every expected failure; `str(error)` is the message for the user.

    `ingestion_id` names the ingestion the failure concerns when the upload was accepted before it: the
    data is then in Viva's hands and must be followed (`viva-insights status ID`), not sent again.
    """

    exit_code = 1
    ingestion_id: str | None = None
    # True when the upload's POST may have reached the service although its answer never came: the
    # ledger then keeps the upload as sent, and the next run looks for it in the service's listing.
    outcome_unknown: bool = False


class ConfigurationError(VivaError):
    exit_code = 2


class LedgerError(ConfigurationError):
    """The delivery ledger cannot be used as it is: unreadable, another tenant's, or from a newer version."""


class LedgerWriteFailed(LedgerError):
    """The storage refused a ledger write (disk full, over quota, no permission, gone). The ledger
    still holds what it held before: every write is a new file put in place in one step."""


class DataValidationFailed(VivaError):
    """The data broke Viva's rules. `error_file` is where the findings were saved, when there is one."""

    exit_code = 3

    def __init__(
        self, message: str, *, error_file: Path | None = None, ingestion_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.error_file = error_file
        self.ingestion_id = ingestion_id


class AuthenticationFailed(VivaError):
    exit_code = 4


class TokenNotAccepted(AuthenticationFailed):
    """The API turned an access token away (401 after a fresh token, or a sign-in page instead of JSON).

    Entra ID issued the token, so the credentials are right: while an accepted ingestion is followed, this
    is treated as transient and the polling goes on.
    """


class PermissionDenied(VivaError):
    exit_code = 5


class ServiceError(VivaError):
    """The service answered with an error we cannot recover from, or kept failing past the retries."""

    exit_code = 6


class NetworkError(ServiceError):
    """The service could not be reached (DNS, TLS, connection refused or dropped) past the retries."""


class IngestionNotFound(ServiceError):
    """The service has no ingestion by that id (404 on every documented status path)."""


class IngestionFailed(ServiceError):
    """The ingestion ended in a failure status other than ValidationFailed (e.g. a processing failure)."""


class IngestionTimeout(VivaError):
    exit_code = 7

    def __init__(self, message: str, *, ingestion_id: str) -> None:
        super().__init__(message)
        self.ingestion_id = ingestion_id


class PreviousIngestionPending(VivaError):
    exit_code = 8


class LedgerLocked(PreviousIngestionPending):
    """Another run is delivering to this tenant (Viva takes one ingestion at a time)."""


PERMISSION_ADVICE = (
    "Viva Insights refused this app (HTTP 403). An Insights administrator has to open Viva Insights > "
    "Organizational data > Manage data sources > API-based import, and register the application "
    "(client) id {client_id} in that connection. Until then every call is refused."
)


def network_error(action: str, error: Exception) -> NetworkError:
    """A NetworkError for a failed request, with advice for TLS failures (URLs only, never headers)."""
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return NetworkError(
            f"{action}: TLS verification failed (CERTIFICATE_VERIFY_FAILED). If a corporate proxy or the "
            "local emulator issues the certificate, set ca_bundle to its CA file; verification is never "
            "switched off."
        )
    # Other TLS errors (a connection cut during the transfer shows as one) say what happened themselves.
    return NetworkError(f"{action}: {type(error).__name__}: {text[:300]}")
