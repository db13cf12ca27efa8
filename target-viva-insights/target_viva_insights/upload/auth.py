"""Entra ID tokens for the ingress API: MSAL confidential client, client-credentials flow.

The credential is a client secret, a certificate read from a PEM file (private key and certificate)
or a PFX/PKCS#12 file, or a federated token: a JWT another identity provider issued (Kubernetes, GitHub
Actions OIDC, ...), read from a file and sent as the client assertion (workload identity federation).
Certificates are loaded here with `cryptography` rather than by MSAL so that PEM and PFX behave the same
and the thumbprint always comes from the certificate itself.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msal
import requests
from msal.exceptions import MsalServiceError

from target_viva_insights.certificates import Certificate, load_certificate
from target_viva_insights.errors import AuthenticationFailed, ConfigurationError, ServiceError, network_error
from target_viva_insights.federated_token import read_federated_token
from target_viva_insights.log_text import printable
from target_viva_insights.settings import FEDERATED_TOKEN_FILE_VARIABLE, ConnectionSettings, Credential
from target_viva_insights.upload.transport import Sessions


class FederatedToken:
    """The federated token file as MSAL's client assertion: read again for every token request.

    Kubernetes and Azure rotate the file (roughly hourly) and a GitHub Actions token lives minutes, so
    the JWT is never kept: MSAL calls this only when it sends a token request, and its cache serves the
    access token in between. The target never signs or decodes the JWT; Entra ID checks it against
    the app's federated credentials.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self) -> str:
        return read_federated_token(self.path)

    def __repr__(self) -> str:  # the path only: the token is a credential
        return f"FederatedToken(path={str(self.path)!r})"


def client_credential(settings: ConnectionSettings) -> str | dict[str, Any]:
    """The `client_credential` argument of MSAL: the client secret, a certificate dict, or an assertion.

    Args:
        settings: The connection settings (`federated_token_file` beside another credential is refused
            by `settings_with_defaults`; `certificate_path` wins over `client_secret`).

    Returns:
        The secret; the private key with the thumbprint (or with the chain when `send_certificate_chain`
        is set); or a callable that reads the federated token file.

    Raises:
        ConfigurationError: No credential is set, or the certificate cannot be read or decrypted.
        AuthenticationFailed: The certificate has expired (Entra ID refuses an expired certificate).
    """
    if settings.federated_token_file:
        return {"client_assertion": FederatedToken(Path(settings.federated_token_file).expanduser())}
    if settings.certificate_path:
        path = Path(settings.certificate_path).expanduser()
        certificate = load_certificate(path, settings.certificate_password)
        _refuse_expired(certificate, path)
        if settings.send_certificate_chain:
            # MSAL then signs with PS256, sends x5t#S256 (SHA-256 thumbprint) and the x5c chain.
            return {"private_key": certificate.private_key_pem, "public_certificate": certificate.chain_pem}
        # Given a thumbprint MSAL signs with RS256 and sends x5t (SHA-1), which every Entra cloud accepts.
        return {"private_key": certificate.private_key_pem, "thumbprint": certificate.sha1_thumbprint}
    if settings.client_secret:
        return settings.client_secret
    raise ConfigurationError(
        "Set a credential: client_secret, certificate_path (with certificate_password for a PFX) or "
        f"federated_token_file (or {FEDERATED_TOKEN_FILE_VARIABLE} in the environment)."
    )


def _refuse_expired(certificate: Certificate, path: Path) -> None:
    """An expired certificate is refused here, with the fix, rather than by Entra ID with a riddle."""
    expired = certificate.not_valid_after
    if expired <= datetime.datetime.now(datetime.timezone.utc):
        raise AuthenticationFailed(
            f"The certificate in certificate_path {printable(path)} (thumbprint "
            f"{certificate.sha1_thumbprint}) expired on {expired:%Y-%m-%d %H:%M} UTC; Entra ID refuses it. "
            "Fix: create a new certificate, upload its public part to the app registration (Certificates "
            "& secrets) and set certificate_path to the new key and certificate."
        )


# Answers of the identity service that mean "unavailable now", not "these credentials are wrong".
_OUTAGE_STATUSES = frozenset({429, 500, 502, 503, 504})


class TokenProvider:
    """Bearer tokens for the API, reused from MSAL's in-memory cache until they near expiry.

    Refusals of the credentials are `AuthenticationFailed` (exit 4); outages of the identity service (429
    and 5xx past the retries, from its discovery document or its token endpoint) are `ServiceError`
    (exit 6), never reported as bad credentials.
    """

    def __init__(
        self,
        settings: ConnectionSettings,
        sessions: Sessions,
        logger: logging.Logger,
        token_cache: msal.TokenCache | None = None,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._logger = logger
        # Shared with the start-up sign-in (`client.sign_in`): its token serves the run's calls.
        self._token_cache = token_cache
        self._app: msal.ConfidentialClientApplication | None = None

    @property
    def scope(self) -> str:
        return self._settings.scope

    def token(self) -> str:
        """A valid access token; MSAL fetches a new one when the cached one expires within minutes.

        Returns:
            The access token.

        Raises:
            AuthenticationFailed: Entra ID refused the credentials.
            ServiceError: The identity service is unavailable (429 or 5xx past the retries).
            NetworkError: The identity service cannot be reached.
            ConfigurationError: The credential settings are unusable.
        """
        application = self._application()
        try:
            result = application.acquire_token_for_client(scopes=[self.scope])
        except requests.RequestException as error:
            raise network_error("Cannot reach the token endpoint", error) from error
        except (MsalServiceError, ValueError) as error:
            # MSAL raises for a 5xx, and a ValueError for an answer that is not JSON.
            raise self._unavailable("token endpoint", error) from error
        if "access_token" not in result:
            if self._sessions.identity_status in _OUTAGE_STATUSES:
                raise self._unavailable("token endpoint")
            raise AuthenticationFailed(_describe_token_error(result, self._settings.credential))
        if result.get("token_source") == "identity_provider":
            self._logger.debug("Obtained a new access token (expires in %s s)", result.get("expires_in"))
        return str(result["access_token"])

    def invalidate(self) -> None:
        """Forget cached tokens after the API refused one, so the next call fetches a new token."""
        if self._app is not None:
            self._app.remove_tokens_for_client()

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            self._app = self._build_application()
        return self._app

    def _build_application(self) -> msal.ConfidentialClientApplication:
        settings = self._settings
        authority = f"{settings.authority_host.rstrip('/')}/{settings.tenant_id}"
        credential = client_credential(settings)
        if settings.credential is Credential.FEDERATED:
            # The path only, never the token; it says which file a rotation has to reach.
            self._logger.debug(
                "Signing in with the federated token file %s", printable(settings.federated_token_file)
            )
        try:
            # MSAL reads the tenant's OpenID configuration here.
            return msal.ConfidentialClientApplication(
                client_id=settings.client_id,
                client_credential=credential,
                authority=authority,
                # No call to Microsoft's central instance-discovery endpoint: the tenant's own OpenID
                # document is enough, and it lets sovereign clouds and the emulator work offline.
                instance_discovery=False,
                http_client=self._sessions.identity,
                timeout=settings.request_timeout_seconds,
                token_cache=self._token_cache,
            )
        except requests.HTTPError as error:
            raise self._unavailable("OpenID configuration", error) from error
        except requests.RequestException as error:
            raise network_error(f"Cannot reach the authority {authority}", error) from error
        except (MsalServiceError, RuntimeError) as error:
            raise self._unavailable("OpenID configuration", error) from error
        except ValueError as error:
            # MSAL raises ValueError when the tenant's OpenID configuration is refused (4xx: an unknown
            # tenant, unless it is a 429) or is not JSON (a proxy's page: the service is not reachable).
            status = self._sessions.identity_status
            if status is not None and 400 <= status < 500 and status not in _OUTAGE_STATUSES:
                raise AuthenticationFailed(f"Authority {authority} was refused: {error}") from error
            raise self._unavailable("OpenID configuration", error) from error

    def _unavailable(self, what: str, error: Exception | None = None) -> ServiceError:
        status = self._sessions.identity_status
        answer = f"HTTP {status}" if status is not None else type(error).__name__
        return ServiceError(
            f"The identity service is unavailable: {self._settings.authority_host} answered {answer} for "
            f"its {what} (after {self._settings.max_retries} retries). This is an outage of Entra ID, "
            "not a problem with the credentials; run again later."
        )


# What to change for Entra ID's refusals of a confidential client, by AADSTS code.
_TOKEN_ERROR_FIXES: dict[int, str] = {
    7000215: (
        "client_secret is not a secret of this app: create a client secret in the app registration "
        "(Certificates & secrets) and set its Value, not its Secret ID, as client_secret."
    ),
    7000222: (
        "client_secret has expired: create a new client secret in the app registration (Certificates & "
        "secrets) and set its Value as client_secret."
    ),
    700016: (
        "client_id names no application in this tenant: set client_id to the Application (client) ID "
        "of the app registration in the tenant tenant_id names."
    ),
    700027: (
        "the certificate is not registered on the app (or no longer valid): upload the public part of "
        "the certificate in certificate_path to the app registration (Certificates & secrets)."
    ),
    700024: "the client assertion is outside its valid time: check this machine's clock.",
    90002: "tenant_id names no tenant: set it to the Directory (tenant) ID.",
}

_NO_MATCHING_FEDERATED_CREDENTIAL = (
    "no federated credential of the app matches the token in the federated token file: in the app "
    "registration (Certificates & secrets > Federated credentials) the issuer, subject and audience "
    "(api://AzureADTokenExchange) must equal the token's iss, sub and aud claims exactly (they are "
    "case-sensitive)."
)
# The same refusals, when the assertion is a federated token: the fix is on the other identity provider
# or in the app's federated credentials, never this machine's clock or certificate.
_FEDERATED_TOKEN_ERROR_FIXES: dict[int, str] = {
    70021: _NO_MATCHING_FEDERATED_CREDENTIAL,
    700211: _NO_MATCHING_FEDERATED_CREDENTIAL,
    700212: _NO_MATCHING_FEDERATED_CREDENTIAL,
    700213: _NO_MATCHING_FEDERATED_CREDENTIAL,
    7002138: _NO_MATCHING_FEDERATED_CREDENTIAL,
    700024: (
        "the token in the federated token file has expired: whatever writes the file (the kubelet's "
        "projected token, the CI step) must write a fresh one; a GitHub Actions token lives minutes, "
        "so request it in the step right before the run."
    ),
    50013: (
        "the token's signature does not verify against the issuer's published keys: the file holds a "
        "token from another issuer than the federated credential names, or a damaged one."
    ),
}


def _describe_token_error(result: Mapping[str, Any], credential: Credential | None = None) -> str:
    description = str(result.get("error_description") or "").splitlines()
    first_line = description[0] if description else "no description"
    message = f"Entra ID refused the credentials: {result.get('error', 'unknown_error')}: {first_line}"
    codes = result.get("error_codes") or []
    known = _TOKEN_ERROR_FIXES
    if credential is Credential.FEDERATED:
        known = {**_TOKEN_ERROR_FIXES, **_FEDERATED_TOKEN_ERROR_FIXES}
    fixes = [known[code] for code in codes if code in known]
    return f"{message} Fix: {fixes[0]}" if fixes else message
