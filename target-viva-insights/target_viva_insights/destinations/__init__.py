"""Where the organizational data goes: one folder per destination behind `base.Destination`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from target_viva_insights.destinations.base import Destination, Finished, RunFiles, Shipment
from target_viva_insights.ledger.store import Ledger
from target_viva_insights.settings import DestinationKind, RunSettings

if TYPE_CHECKING:
    import msal  # imported when a run may upload (client.sign_in)

__all__ = ["Destination", "Finished", "RunFiles", "Shipment", "destination_for"]


def destination_for(
    settings: RunSettings,
    ledger: Ledger | None,
    files: RunFiles,
    logger: logging.Logger,
    token_cache: msal.TokenCache | None = None,
) -> Destination[Any]:
    """The one place a run's `destination` setting picks its implementation."""
    if settings.destination is DestinationKind.M365:
        from target_viva_insights.destinations.m365.delivery import Microsoft365

        return Microsoft365(settings, ledger, files, logger, token_cache)
    from target_viva_insights.destinations.viva_insights.ingress import VivaInsightsIngress

    return VivaInsightsIngress(settings, ledger, files, logger, token_cache)
