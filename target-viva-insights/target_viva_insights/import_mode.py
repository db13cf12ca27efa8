"""Whether an import replaces the tenant's organizational data or adds to it: the one home of the idea.

The setting takes all three values; a decided import (the plan of a run, a ledger record, a package's
metadata.json) is FULL or INCREMENTAL, never AUTO.
"""

from __future__ import annotations

import enum


class ImportMode(str, enum.Enum):
    """The `import_mode` setting and what an ingestion did; the value is the setting's token."""

    AUTO = "auto"  # decided per run against the delivery ledger (ledger/plan.py)
    FULL = "full"  # IsBootstrap true: replaces everything the tenant holds
    INCREMENTAL = "incremental"  # IsBootstrap false: upserts by (PersonId, EffectiveDate)

    @property
    def is_bootstrap(self) -> bool:
        """metadata.json's IsBootstrap: only a full import replaces what the tenant holds."""
        return self is ImportMode.FULL


DEFAULT_IMPORT_MODE = ImportMode.AUTO
