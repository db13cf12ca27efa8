"""The emulator under hostile requests: over-sized bodies, ingestion ids that are not GUIDs, and the
privacy of the files it keeps."""

from __future__ import annotations

import socket
import ssl
import stat
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from target_viva_insights.emulator.process import EmulatorHandle, running_emulator
from target_viva_insights.settings import settings_with_defaults

UPLOAD_PATH = "/v1.0/scopes/{tenant}/ingress/connectors/HR/ingestions/fileIngestion"
# If the emulator waited for the body, reading its answer would hang: this only bounds a broken run.
HANG_GUARD_SECONDS = 60


def raw_request(emulator: EmulatorHandle, head: str) -> bytes:
    """Send a request head without its body over TLS; what the emulator answers before any body."""
    address = urlsplit(emulator.api_base_url)
    context = ssl.create_default_context(cafile=str(emulator.ca_bundle))
    with (
        socket.create_connection((address.hostname, address.port), timeout=HANG_GUARD_SECONDS) as plain,
        context.wrap_socket(plain, server_hostname=address.hostname) as connection,
    ):
        connection.sendall(head.encode("ascii"))
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


def token(emulator: EmulatorHandle) -> str:
    response = requests.post(
        f"{emulator.authority_host}/{emulator.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
            "scope": "https://api.orginsights.viva.office.com/.default",
        },
        verify=str(emulator.ca_bundle),
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["access_token"]


def test_an_oversized_declared_body_is_answered_413_without_waiting_for_it(emulator):
    # 3 GB declared, nothing sent: past the default 2 GB limit.
    before = len(emulator.state()["ingestions"])
    head = (
        f"POST {UPLOAD_PATH.format(tenant=emulator.tenant_id)} HTTP/1.1\r\n"
        f"Host: localhost\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {3 * 1024**3}\r\nExpect: 100-continue\r\n\r\n"
    )
    answer = raw_request(emulator, head)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"100 Continue" not in answer
    assert b"the limit is 2147483648 bytes" in rest
    assert len(emulator.state()["ingestions"]) == before


def test_a_sender_of_an_oversized_body_reads_the_413(tmp_path: Path):
    """A client that sends its body first (as requests does) still gets the answer, not a reset."""
    with running_emulator(
        tmp_path / "emulator", tenant_id=str(uuid.uuid4()), client_id=str(uuid.uuid4()), max_upload_bytes=1000
    ) as small:
        response = requests.post(
            f"{small.api_base_url}/scopes/{small.tenant_id}/ingress/connectors/HR/ingestions/fileIngestion",
            files={"file": ("data.zip", b"x" * 100_000, "application/zip")},
            verify=str(small.ca_bundle),
            timeout=HANG_GUARD_SECONDS,
        )
        assert response.status_code == 413
        assert "the limit is 1000 bytes" in response.json()["error"]["message"]
        assert small.state()["ingestions"] == []


@pytest.mark.parametrize(
    "ingestion_id", ["not-a-guid", "..%2F..%2Fetc%2Fpasswd", "12345678-1234-1234-1234-1234567890ab-x"]
)
@pytest.mark.parametrize("suffix", ["fileIngestion/{id}", "{id}", "{id}/errors", "fileIngestion/{id}/errors"])
def test_ingestion_ids_must_be_guids(emulator, ingestion_id, suffix):
    path = f"{emulator.api_base_url}/scopes/{emulator.tenant_id}/ingress/connectors/HR/ingestions/"
    response = requests.get(
        path + suffix.format(id=ingestion_id),
        headers={"Authorization": f"Bearer {token(emulator)}", "x-nova-scaleunit": emulator.scale_unit},
        verify=str(emulator.ca_bundle),
        timeout=30,
    )
    assert response.status_code in (400, 404)
    if response.status_code == 400:
        assert response.json()["error"]["message"] == "The ingestion id must be a GUID."


def test_an_unknown_guid_is_404(emulator):
    path = f"{emulator.api_base_url}/scopes/{emulator.tenant_id}/ingress/connectors/HR/ingestions/"
    response = requests.get(
        path + str(uuid.uuid4()),
        headers={"Authorization": f"Bearer {token(emulator)}", "x-nova-scaleunit": emulator.scale_unit},
        verify=str(emulator.ca_bundle),
        timeout=30,
    )
    assert response.status_code == 404


def test_abandon_wants_a_guid(emulator):
    response = requests.post(
        f"{emulator.control_url}/ingestions/not-a-guid/abandon", verify=str(emulator.ca_bundle), timeout=30
    )
    assert response.status_code == 400


def test_uploads_and_error_files_are_private(emulator, packages, tmp_path):
    from target_viva_insights.errors import DataValidationFailed
    from target_viva_insights.upload.client import deliver_package

    emulator.set_faults(reject=True)
    with pytest.raises(DataValidationFailed):
        deliver_package(settings_with_defaults(emulator.config()), packages["good"], tmp_path, _logger())
    for folder in ("uploads", "errors"):
        assert stat.S_IMODE((emulator.data_dir / folder).stat().st_mode) == 0o700, folder
        files = list((emulator.data_dir / folder).iterdir())
        assert files, folder
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def _logger():
    import logging

    return logging.getLogger("tests.emulator.hardening")
