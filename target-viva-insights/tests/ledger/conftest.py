"""Fixtures of the ledger's tests: Azurite (azurite_blob.py) and az:// ledger paths on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azurite_blob import CONTAINER, AzuriteBlob, running_azurite


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteBlob]:
    """One azurite-blob per pytest process (per xdist worker), stopped at the end of the session."""
    with running_azurite(tmp_path_factory.mktemp("azurite")) as handle:
        yield handle


@pytest.fixture
def azure_ledger_path(azurite: AzuriteBlob, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh az:// ledger_path on Azurite; adlfs (in this process and in the target processes a test
    starts) finds the account through AZURE_STORAGE_CONNECTION_STRING."""
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    return f"az://{CONTAINER}/{uuid.uuid4().hex}"
