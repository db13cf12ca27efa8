"""The emulator's Entra ID: OpenID discovery, the client-credentials token endpoint, access tokens.

Credentials are checked the way Entra ID does for a confidential client: the client secret, or a client
assertion (a JWT signed RS256 or PS256 with the registered certificate's key, naming the certificate by
its x5t or x5t#S256 thumbprint, with the token endpoint as audience and the client id as issuer and
subject), or a federated assertion (workload identity federation: a JWT another identity provider
issued, accepted when a federated credential of the app names its issuer, subject and audience and the
issuer's key verifies it). An assertion whose issuer is not the client id is a federated one. Refusals
carry Entra's error codes (AADSTS...) and shapes. PyJWT (a dependency of msal) does the JWT work.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGORITHMS = ["RS256", "PS256"]
# What the identity providers of workload identity federation sign with (Kubernetes, GitHub: RS256).
FEDERATED_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
FEDERATION_DOCS = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"


@dataclasses.dataclass(frozen=True)
class FederatedCredential:
    """A federated identity credential on the app, as Entra ID models it: the issuer, the subject and the
    audiences a token must carry, and the issuer's public keys (what Entra fetches from its jwks_uri)."""

    issuer: str
    subject: str
    audiences: tuple[str, ...]
    keys: tuple[tuple[str | None, Any], ...]  # (kid or None, public key)

    @classmethod
    def load(cls, issuer: str, subject: str, audience: str, keys_file: Path) -> FederatedCredential:
        """The credential, with the issuer's keys from a JWKS document or a PEM public key/certificate.

        Raises:
            OSError: The keys file cannot be read.
            ValueError: It holds no usable key.
        """
        return cls(issuer, subject, (audience,), tuple(_issuer_keys(keys_file.read_bytes())))

    def matches(self, claims: dict[str, Any]) -> bool:
        """Issuer and subject exactly (case-sensitive, as Entra matches) and one of the audiences."""
        audiences = claims.get("aud")
        presented = audiences if isinstance(audiences, list) else [audiences]
        return (
            claims.get("iss") == self.issuer
            and claims.get("sub") == self.subject
            and any(audience in self.audiences for audience in presented)
        )

    def keys_for(self, header: dict[str, Any]) -> list[Any]:
        """The keys that may have signed a token with this header (by its kid, when both have one)."""
        kid = header.get("kid")
        return [key for key_id, key in self.keys if kid is None or key_id is None or key_id == kid]


def _issuer_keys(data: bytes) -> list[tuple[str | None, Any]]:
    text = data.strip()
    if text.startswith(b"{"):
        document = json.loads(text)
        jwks = jwt.PyJWKSet.from_dict(document if "keys" in document else {"keys": [document]})
        return [(jwk.key_id, jwk.key) for jwk in jwks.keys]
    if b"-----BEGIN CERTIFICATE-----" in text:
        return [(None, certificate.public_key()) for certificate in x509.load_pem_x509_certificates(text)]
    return [(None, serialization.load_pem_public_key(text))]


ACCESS_TOKEN_ALGORITHM = "HS256"  # noqa: S105 - an algorithm name, not a secret


@dataclasses.dataclass
class RegisteredApp:
    """The one app registration the emulator knows: its tenant, id, secret and/or certificates, its
    federated credentials, and the other tenants where it is consented (a multi-tenant app)."""

    tenant_id: str
    client_id: str
    client_secret: str | None = None
    certificates: list[x509.Certificate] = dataclasses.field(default_factory=list)
    other_tenants: list[str] = dataclasses.field(default_factory=list)
    federated_credentials: list[FederatedCredential] = dataclasses.field(default_factory=list)

    @classmethod
    def load(
        cls,
        tenant_id: str,
        client_id: str,
        client_secret: str | None,
        certificate: Path | None,
        other_tenants: list[str] | None = None,
    ) -> RegisteredApp:
        """The registration, with the first certificate of a PEM file (the public part is enough)."""
        certificates = x509.load_pem_x509_certificates(certificate.read_bytes()) if certificate else []
        return cls(tenant_id, client_id, client_secret, certificates[:1], list(other_tenants or []))

    @property
    def tenants(self) -> frozenset[str]:
        """Every tenant the app can get tokens in, lower case."""
        return frozenset(tenant.lower() for tenant in [self.tenant_id, *self.other_tenants])

    def certificate_for(self, header: dict[str, Any]) -> x509.Certificate | None:
        """The registered certificate an assertion header names (x5t#S256 = SHA-256, x5t = SHA-1)."""
        for name, algorithm in (("x5t#S256", hashes.SHA256()), ("x5t", hashes.SHA1())):  # noqa: S303
            if name in header:
                wanted = _b64url_decode(str(header[name]))
                for certificate in self.certificates:
                    if hmac.compare_digest(certificate.fingerprint(algorithm), wanted):
                        return certificate
        return None


class TokenRefused(Exception):  # noqa: N818 - an answer, not a bug
    """An Entra-style refusal: HTTP status, `error` code, AADSTS number and message."""

    def __init__(self, status: int, error: str, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.code = code
        self.message = message

    def body(self, host_url: str) -> dict[str, Any]:
        trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
        timestamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
        return {
            "error": self.error,
            "error_description": (
                f"AADSTS{self.code}: {self.message}\r\nTrace ID: {trace_id}\r\n"
                f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}"
            ),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{host_url}error?code={self.code}",
        }


def openid_configuration(base_url: str, tenant: str) -> dict[str, Any]:
    """The tenant's discovery document, shaped like Entra ID's v2.0 one (what MSAL reads)."""
    authority = f"{base_url}/{tenant}"
    return {
        "issuer": f"{authority}/v2.0",
        "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
        "token_endpoint": f"{authority}/oauth2/v2.0/token",
        "device_authorization_endpoint": f"{authority}/oauth2/v2.0/devicecode",
        "jwks_uri": f"{base_url}/{tenant}/discovery/v2.0/keys",
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "tenant_region_scope": "EU",
    }


class Identity:
    """Issues and checks access tokens for the registered app."""

    def __init__(self, app: RegisteredApp, token_lifetime: Callable[[], int]) -> None:
        self.app = app
        self._token_lifetime = token_lifetime
        self._signing_key = secrets.token_bytes(32)
        self.tokens_issued = 0

    def known_tenant(self, tenant: str) -> bool:
        """Whether the app is registered or consented in `tenant`."""
        return tenant.lower() in self.app.tenants

    def token_response(self, form: dict[str, str], tenant: str, token_endpoint: str) -> dict[str, Any]:
        """Answer a client-credentials request, or raise TokenRefused as Entra ID would."""
        if not self.known_tenant(tenant):
            raise TokenRefused(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            raise TokenRefused(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        if form.get("client_id") != self.app.client_id:
            raise TokenRefused(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the directory "
                f"'{tenant}'.",
            )
        scope = form.get("scope", "")
        resources = [part[: -len("/.default")] for part in scope.split() if part.endswith("/.default")]
        if len(resources) != 1:
            raise TokenRefused(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have a "
                "scope value with /.default suffixed to the resource identifier (application ID URI).",
            )
        self._check_credential(form, token_endpoint)
        lifetime = self._token_lifetime()
        self.tokens_issued += 1
        return {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": self._access_token(tenant, resources[0], lifetime),
        }

    def _check_credential(self, form: dict[str, str], token_endpoint: str) -> None:
        if form.get("client_assertion"):
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise TokenRefused(400, "invalid_request", 50027, "Invalid client_assertion_type.")
            self._check_assertion(form["client_assertion"], token_endpoint)
        elif form.get("client_secret"):
            expected = self.app.client_secret
            if expected is None or not hmac.compare_digest(form["client_secret"].encode(), expected.encode()):
                raise TokenRefused(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the "
                    f"client secret value, not the client secret ID, for a secret added to app "
                    f"'{self.app.client_id}'.",
                )
        else:
            raise TokenRefused(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: "
                "'client_assertion' or 'client_secret'.",
            )

    def _check_assertion(self, assertion: str, token_endpoint: str) -> None:
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise TokenRefused(
                401, "invalid_client", 50027, f"JWT token is invalid or malformed: {error}"
            ) from error
        if unverified.get("iss") != self.app.client_id:
            self._check_federated_assertion(assertion, header, unverified)
            return
        certificate = self.app.certificate_for(header)
        if certificate is None:
            raise TokenRefused(
                401,
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the client assertion is not registered on "
                f"application. [Reason - The key was not found., Thumbprint of key used by client: "
                f"'{header.get('x5t#S256') or header.get('x5t')}']",
            )
        self._check_x5c(header, certificate)
        try:
            claims = jwt.decode(
                assertion,
                certificate.public_key(),  # type: ignore[arg-type]  # RSA: the only kind registered
                algorithms=ASSERTION_ALGORITHMS,
                audience=token_endpoint,
                issuer=self.app.client_id,
                options={"require": ["exp", "aud", "iss", "sub"]},
            )
        except jwt.InvalidSignatureError as error:
            raise TokenRefused(
                401, "invalid_client", 700027, "Client assertion contains an invalid signature."
            ) from error
        except jwt.ExpiredSignatureError as error:
            raise TokenRefused(
                401, "invalid_client", 700024, "Client assertion is not within its valid time range."
            ) from error
        except jwt.PyJWTError as error:
            raise TokenRefused(
                401, "invalid_client", 50027, f"JWT token is invalid or malformed: {error}"
            ) from error
        if claims["sub"] != self.app.client_id:
            raise TokenRefused(
                401, "invalid_client", 700021, "Client assertion subject is not the client id."
            )

    def _check_federated_assertion(
        self, assertion: str, header: dict[str, Any], unverified: dict[str, Any]
    ) -> None:
        """A federated credential naming the token's issuer, subject and audience, then the issuer's key."""
        credential = next((item for item in self.app.federated_credentials if item.matches(unverified)), None)
        if credential is None:
            audience = unverified.get("aud")
            shown_audience = ", ".join(map(str, audience)) if isinstance(audience, list) else audience
            raise TokenRefused(
                401,
                "invalid_client",
                70021,
                "No matching federated identity record found for presented assertion. Assertion Issuer: "
                f"'{unverified.get('iss')}'. Assertion Subject: '{unverified.get('sub')}'. Assertion "
                f"Audience: '{shown_audience}'. {FEDERATION_DOCS}",
            )
        keys = credential.keys_for(header)
        if not keys:
            raise TokenRefused(
                401,
                "invalid_client",
                50013,
                "Assertion failed signature validation. [Reason - The key was not found., Key id used by "
                f"the issuer: '{header.get('kid')}']",
            )
        for key in keys:
            try:
                jwt.decode(
                    assertion,
                    key,
                    algorithms=FEDERATED_ALGORITHMS,
                    audience=list(credential.audiences),
                    issuer=credential.issuer,
                    options={"require": ["exp", "aud", "iss", "sub"]},
                )
                return
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError as error:
                raise _outside_valid_time(unverified) from error
            except jwt.ImmatureSignatureError as error:
                raise _outside_valid_time(unverified) from error
            except jwt.PyJWTError as error:
                raise TokenRefused(
                    401, "invalid_client", 50027, f"JWT token is invalid or malformed: {error}"
                ) from error
        raise TokenRefused(
            401,
            "invalid_client",
            50013,
            "Assertion failed signature validation. [Reason - The provided signature value did not match "
            "the expected signature value.]",
        )

    @staticmethod
    def _check_x5c(header: dict[str, Any], certificate: x509.Certificate) -> None:
        chain = header.get("x5c")
        if not chain:
            return
        leaf = x509.load_der_x509_certificate(base64.b64decode(chain[0]))
        if leaf != certificate:
            raise TokenRefused(
                401,
                "invalid_client",
                700027,
                "The x5c certificate does not match the assertion's thumbprint.",
            )

    def _access_token(self, tenant: str, audience: str, lifetime: int) -> str:
        now = int(time.time())
        claims = {
            "aud": audience,
            "iss": f"https://sts.emulator.invalid/{tenant}/",
            "tid": tenant,
            "appid": self.app.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._signing_key, algorithm=ACCESS_TOKEN_ALGORITHM)

    def check_access_token(self, token: str) -> dict[str, Any]:
        """The claims of a token this emulator issued; raises jwt.PyJWTError when invalid or expired."""
        return jwt.decode(
            token,
            self._signing_key,
            algorithms=[ACCESS_TOKEN_ALGORITHM],
            options={"verify_aud": False, "require": ["exp", "tid", "appid"]},
        )


def _outside_valid_time(claims: dict[str, Any]) -> TokenRefused:
    def instant(seconds: Any) -> str:
        moment = datetime.datetime.fromtimestamp(float(seconds or 0), datetime.timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")
    return TokenRefused(
        401,
        "invalid_client",
        700024,
        f"Client assertion is not within its valid time range. Current time: {now}, assertion valid from "
        f"{instant(claims.get('nbf'))}, expiry time of assertion {instant(claims.get('exp'))}. Review the "
        "documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
    )


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
