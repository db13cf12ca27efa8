"""Azurite, Microsoft's Azure Storage emulator, for the ledger's az:// tests (fixtures in conftest.py).

Azurite comes from npm at the version azurite/package-lock.json pins; `npm ci` installs it into
azurite/node_modules the first time a test needs it (the only time the tests reach a registry). Each
pytest process (each xdist worker) starts its own azurite-blob on a free port, with the emulator's
well-known development account, in a private temporary folder, and stops it at the end. Without node or
npm the az:// tests are skipped, saying so; under CI (CI set) they fail instead, since they must run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

AZURITE = Path(__file__).resolve().parent / "azurite"
# The development account every Azurite has (documented by Microsoft for the emulator): not a secret.
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONTAINER = "ledger"
LISTENING = re.compile(r"Blob service successfully listens on (http://\S+)")
START_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class AzuriteBlob:
    """A running azurite-blob: its endpoint, its data folder and the connection string for it."""

    endpoint: str
    folder: Path

    @property
    def connection_string(self) -> str:
        return self.connection_string_with(ACCOUNT_KEY)

    def connection_string_with(self, key: str) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={key};"
            f"BlobEndpoint={self.endpoint}/{ACCOUNT};"
        )

    def read_only_connection_string(self) -> str:
        """A connection string with a SAS that lets it read and list CONTAINER, nothing more."""
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=12)
        permission = ContainerSasPermissions(read=True, list=True)
        sas = generate_container_sas(ACCOUNT, CONTAINER, ACCOUNT_KEY, permission=permission, expiry=expiry)
        return f"BlobEndpoint={self.endpoint}/{ACCOUNT};SharedAccessSignature={sas}"

    def stored_bytes(self) -> int:
        """The size of the blob data Azurite holds on disk (it grows while an upload streams in)."""
        return sum(path.stat().st_size for path in (self.folder / "__blobstorage__").glob("*"))


def pinned_version() -> str:
    return str(json.loads((AZURITE / "package.json").read_text(encoding="utf-8"))["dependencies"]["azurite"])


def installed_version() -> str | None:
    manifest = AZURITE / "node_modules" / "azurite" / "package.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"the az:// ledger tests must run on CI, but {reason}")
    pytest.skip(f"az:// ledger tests skipped: {reason}")


def install_azurite(npm: str) -> None:
    """`npm ci` from the committed lock, once: xdist workers wait for the first one's install (a lock
    on package.json, so the install leaves no file of its own)."""
    with (AZURITE / "package.json").open("rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if installed_version() == pinned_version():
                return
            installed = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=AZURITE,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if installed.returncode != 0:
                unavailable(f"`npm ci` in {AZURITE} failed: {installed.stderr.strip()[-2000:]}")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def running_azurite(folder: Path) -> Iterator[AzuriteBlob]:
    """azurite-blob on a free port with its data in `folder`, holding an empty container CONTAINER.

    Skips (or fails, on CI) without node and npm; installs the pinned Azurite when it is missing."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        unavailable("node and npm are needed to run Azurite (the Azure Storage emulator)")
    if installed_version() != pinned_version():
        install_azurite(npm)
    log = folder / "azurite.log"
    data = folder / "data"
    data.mkdir(mode=0o700)
    command = [
        node, str(AZURITE / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"),
        "--blobHost", "127.0.0.1", "--blobPort", "0", "--location", str(data),
        "--disableTelemetry", "--skipApiVersionCheck", "--silent",
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_SECONDS
        while (found := LISTENING.search(log.read_text(encoding="utf-8", errors="replace"))) is None:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"azurite-blob did not start: {log.read_text(encoding='utf-8', errors='replace')}"
                )
            time.sleep(0.05)
        handle = AzuriteBlob(found.group(1), data)
        from azure.storage.blob import BlobServiceClient

        with BlobServiceClient.from_connection_string(handle.connection_string) as service:
            service.create_container(CONTAINER)
        yield handle
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
