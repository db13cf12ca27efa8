"""The upload to Organizational data in Microsoft 365 (MODIS), as Microsoft's sample
microsoft/orgdata_apibasedimport makes it.

The same token (client credentials, the same app id and scope), the same scale-unit lookup and the
same HTTP layer as the legacy ingress (`client.IngressApi`, `transport.py`, `auth.py`); only the upload
path differs: `POST {api_base_url}/tenants/{tid}/modis/connectors/HR/ingestions/fileIngestion`, the CSV
as the raw body (`Content-Type: text/csv`), answered with the ingestion's `Id`, `ConnectorId` and
`Status`.

At most once, as for the legacy upload: the file is sent again only when the earlier attempt provably
did not arrive (no connection, body not sent whole, 401/429/503 before processing). MODIS documents no
status or listing endpoint, so an attempt whose outcome is unknown (a timeout or a 5xx after the whole
body) can never be proven absent: the run stops there, sends nothing more, and says where the admin
sees the truth. No undocumented path is ever requested.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from target_viva_insights.errors import ConfigurationError, NetworkError
from target_viva_insights.settings import ConnectionSettings
from target_viva_insights.upload.client import IngressApi, _Attempt, field

if TYPE_CHECKING:
    import msal  # imported when a run may upload (client.sign_in)

WHERE_RESULTS_SHOW = "Microsoft 365 admin center > Setup > Migration and imports"


class ModisApi(IngressApi):
    """One tenant's HR connector on MODIS: the legacy client's token, sessions and POST, another path."""

    def __init__(
        self, settings: ConnectionSettings, logger: logging.Logger, token_cache: msal.TokenCache | None = None
    ) -> None:
        super().__init__(settings, logger, token_cache)
        self._listing_available = False  # none is documented for MODIS

    @property
    def connector_path(self) -> str:
        return f"/tenants/{self.tenant_id}/modis/connectors/HR"

    def list_ingestions(self) -> list[dict[str, Any]] | None:
        """None: MODIS documents no listing, and no undocumented path is requested."""
        return None

    def _arrived_despite(
        self, attempt: _Attempt, known_ids: set[str] | None, since: datetime | None
    ) -> dict[str, Any] | None:
        """An attempt that may have arrived cannot be proven absent without a listing: never resent."""
        raise NetworkError(
            f"The upload's outcome is unknown ({attempt.reason}), so the file is not sent again: Microsoft "
            f"365 may have taken it. Check {WHERE_RESULTS_SHOW} before the next run."
        )


def upload_csv(
    settings: ConnectionSettings,
    csv_path: Path,
    logger: logging.Logger,
    token_cache: msal.TokenCache | None = None,
) -> dict[str, Any]:
    """POST the upload CSV to MODIS once and return the service's answer.

    Args:
        settings: the connection settings (`scale_unit` skips the lookup).
        csv_path: the upload, a `.csv` file (it is sent raw as text/csv).
        logger: where progress is logged (never a token, a secret or a value of the file).
        token_cache: the start-up sign-in's cache (`client.sign_in`), so the run signs in once.

    Returns:
        The answer, with the ingestion's `Id`, `ConnectorId` and `Status`.

    Raises:
        ConfigurationError: the file is not a .csv, or a connection setting is wrong (exit 2).
        VivaError: as `client.IngressApi.upload` (4 token refused, 5 app not permitted, 6 service or an
            outcome that cannot be known, 8 another ingestion running).
    """
    if csv_path.suffix.lower() != ".csv":
        raise ConfigurationError(f"{csv_path}: the MODIS upload is a .csv file, sent as text/csv")
    with ModisApi(settings, logger, token_cache) as api:
        api.scale_unit()
        ingestion = api.upload(csv_path)
    logger.info(
        "Microsoft 365 accepted the upload: ingestion %s (status %s). Microsoft documents no status "
        "endpoint for it; the result shows in %s.",
        field(ingestion, "Id"),
        field(ingestion, "Status"),
        WHERE_RESULTS_SHOW,
    )
    return ingestion
