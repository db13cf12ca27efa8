"""Fixtures of the target's tests: the target in process, test certificates, small packages, and the
emulator as a real process.

The emulator runs per test module (and per xdist worker) on a free port; `emulator` resets its faults
and forgets its ingestions before every test, so tests stay independent.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from target_viva_insights.emulator.process import EmulatorHandle, running_emulator
from target_viva_insights.target import TargetVivaInsights
from viva_testing import Outcome

TENANT_ID = "6f1c2a7e-0000-4000-8000-00000000a001"
CLIENT_ID = "0b4d9c3e-0000-4000-8000-00000000c001"
CLIENT_SECRET = "emulator-secret-Q8v~kJ2.xY"
PFX_PASSWORD = "pfx-password-W4t!zz"
STEP_SECONDS = "0.3"

HEADER = "PersonId,ManagerId,Organization,EffectiveDate"
GOOD_ROWS = [
    "ceo@contoso.com,,Executive,01/01/2026",
    "ana@contoso.com,ceo@contoso.com,Sales,01/01/2026",
    "ben@contoso.com,ceo@contoso.com,Engineering,01/01/2026",
    "cat@contoso.com,ben@contoso.com,Engineering,01/01/2026",
]
METADATA = {
    "DatasetType": "HR",
    "IsBootstrap": "true",
    "Mapping": {
        "PersonId": {"name": "PersonId", "type": "EmailType"},
        "ManagerId": {"name": "ManagerId", "type": "EmailType"},
        "Organization": {"name": "Organization", "type": "StringType"},
        "EffectiveDate": {"name": "EffectiveDate", "type": "DateTime_MMDDYYYY"},
    },
}


def write_package(path: Path, rows: list[str], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        archive.writestr("data.csv", "\n".join([HEADER, *rows]) + "\n")
        archive.writestr("metadata.json", json.dumps(METADATA))
    return path


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("packages")
    bad_rows = [GOOD_ROWS[0], "not-an-email,ceo@contoso.com,Sales,01/01/2026", *GOOD_ROWS[2:]]
    return {
        "good": write_package(folder / "good.zip", GOOD_ROWS),
        "bad": write_package(folder / "bad.zip", bad_rows),
        # About 6 MB stored: big enough for a connection to be cut in the middle of the transfer.
        "large": write_package(
            folder / "large.zip",
            [
                GOOD_ROWS[0],
                *(f"person{n:07d}@contoso.com,ceo@contoso.com,Org{n % 7},01/01/2026" for n in range(120_000)),
            ],
            zipfile.ZIP_STORED,
        ),
    }


def _self_signed(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _pem(key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> bytes:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem + certificate.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The registered app's certificate as PEM (key + cert), PEM with an encrypted key and PFX (both
    with PFX_PASSWORD), the certificate alone, and an unregistered certificate."""
    folder = tmp_path_factory.mktemp("certificates")
    key, certificate = _self_signed("CN=viva-upload-test")
    other_key, other_certificate = _self_signed("CN=someone-else")
    paths = {
        "pem": folder / "app.pem",
        "pfx": folder / "app.pfx",
        "public": folder / "app-public.pem",
        "unregistered": folder / "other.pem",
        "encrypted_pem": folder / "app-encrypted.pem",
    }
    paths["pem"].write_bytes(_pem(key, certificate))
    paths["public"].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    encrypted_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PFX_PASSWORD.encode()),
    )
    paths["encrypted_pem"].write_bytes(encrypted_key + certificate.public_bytes(serialization.Encoding.PEM))
    paths["unregistered"].write_bytes(_pem(other_key, other_certificate))
    paths["pfx"].write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"app", key, certificate, None, serialization.BestAvailableEncryption(PFX_PASSWORD.encode())
        )
    )
    return paths


@pytest.fixture(autouse=True)
def private_ledger_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own default ledger folder (never the user's), also for the processes it starts."""
    home = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.delenv("MELTANO_PROJECT_ROOT", raising=False)
    return home


@pytest.fixture(scope="module")
def emulator_process(
    tmp_path_factory: pytest.TempPathFactory, certificates: dict[str, Path]
) -> Iterator[EmulatorHandle]:
    with running_emulator(
        tmp_path_factory.mktemp("emulator"),
        tenant_id=TENANT_ID,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        certificate=certificates["public"],
        extra_args=["--step-seconds", STEP_SECONDS],
    ) as handle:
        yield handle


@pytest.fixture
def emulator(emulator_process: EmulatorHandle) -> EmulatorHandle:
    # Each test starts with a tenant without history: a run reads the service's listing.
    emulator_process.reset(ingestions=True)
    return emulator_process


@pytest.fixture
def test_logger() -> logging.Logger:
    logger = logging.getLogger("tests.api.upload")
    logger.setLevel(logging.DEBUG)
    return logger


@pytest.fixture
def pfx_password() -> str:
    return PFX_PASSWORD


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    return tmp_path / "output"


@pytest.fixture
def run_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Run the target in this process on Singer text; dry run into a fresh output_dir."""

    def run(lines: str, **settings: Any) -> Outcome:
        output_dir = tmp_path / f"out-{len(list(tmp_path.iterdir()))}"
        config = {"dry_run": True, "output_dir": str(output_dir), **settings}
        capsys.readouterr()
        error: BaseException | None = None
        try:
            TargetVivaInsights(config=config, validate_config=True).listen(io.StringIO(lines))
        except Exception as exc:  # the outcome is asserted by each test
            error = exc
        return Outcome(output_dir, error, capsys.readouterr().out)

    return run
