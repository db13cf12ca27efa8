"""Client certificates for Entra ID: a PEM file (private key and certificate) or a PFX/PKCS#12 file,
read with `cryptography` so that both behave the same and the thumbprint comes from the certificate.

Ground floor: the start-up check (config_check.py) reads the certificate before any upload code runs.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from target_viva_insights.errors import ConfigurationError

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)
_PFX_SUFFIXES = (".pfx", ".p12")


@dataclasses.dataclass(frozen=True)
class Certificate:
    """A private key and its certificate chain (leaf first), ready for MSAL."""

    private_key_pem: str
    chain_pem: str
    sha1_thumbprint: str
    not_valid_after: datetime.datetime

    def __repr__(self) -> str:  # never print the key, not even in a traceback
        return f"Certificate(sha1_thumbprint={self.sha1_thumbprint!r})"


def load_certificate(path: Path, password: str | None) -> Certificate:
    """Read a PEM (key + certificate) or PFX file; the thumbprint is computed from the certificate."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ConfigurationError(f"Cannot read certificate_path {path}: {error.strerror}") from error
    secret = password.encode() if password else None
    try:
        if path.suffix.lower() in _PFX_SUFFIXES or not data.lstrip().startswith(b"-----"):
            key, certificates = _read_pfx(data, secret)
        else:
            key, certificates = _read_pem(data, secret)
    except (ValueError, TypeError) as error:
        # cryptography's messages name the problem (bad password, no key) without echoing secrets.
        raise ConfigurationError(f"Cannot load the certificate {path}: {error}") from error
    if not certificates:
        raise ConfigurationError(f"{path} holds a private key but no certificate.")
    return Certificate(
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode(),
        chain_pem="".join(cert.public_bytes(serialization.Encoding.PEM).decode() for cert in certificates),
        sha1_thumbprint=certificates[0].fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - Entra's x5t
        not_valid_after=certificates[0].not_valid_after_utc,
    )


def _read_pfx(data: bytes, password: bytes | None) -> tuple[Any, list[x509.Certificate]]:
    key, leaf, extra = pkcs12.load_key_and_certificates(data, password)
    if key is None:
        raise ValueError("the PFX file holds no private key")
    return key, [cert for cert in (leaf, *extra) if cert is not None]


def _read_pem(data: bytes, password: bytes | None) -> tuple[Any, list[x509.Certificate]]:
    key = None
    certificates = []
    for block in _PEM_BLOCK.finditer(data):
        label = block.group(1)
        if label == b"CERTIFICATE":
            certificates.append(x509.load_pem_x509_certificate(block.group(0)))
        elif label.endswith(b"PRIVATE KEY"):
            key = serialization.load_pem_private_key(block.group(0), password)
    if key is None:
        raise ValueError("the PEM file holds no private key")
    return key, certificates
