"""The emulator's HTTP surface: Entra ID's discovery and token endpoints, the ingress API, the control API.

Routes (relative to https://localhost:PORT):
    GET  /{tenant}/v2.0/.well-known/openid-configuration        OpenID discovery (what MSAL reads)
    POST /{tenant}/oauth2/v2.0/token                             client-credentials token
    GET  /v1.0/tenants/{tid}/scopes/{tid}/scaleUnit              E1, a quoted string
    GET  /v1.0/scopes/{tid}/ingress/connectors/HR                E2 ping
    GET  /v1.0/scopes/{tid}/ingress/connectors/status?connectorType=Hr   E2 ping, older form
    POST /v1.0/scopes/{tid}/ingress/connectors/HR/ingestions/fileIngestion      E3 upload
    GET  /v1.0/scopes/{tid}/ingress/connectors/HR/ingestions                    list (emulator extension)
    GET  .../ingestions/fileIngestion/{id} and .../ingestions/{id}               E4 status
    GET  .../ingestions/{id}/errors and .../ingestions/fileIngestion/{id}/errors E5 error file
    GET  /_emulator/state, POST /_emulator/faults, POST /_emulator/reset,
    POST /_emulator/ingestions/{id}/abandon,
    GET  /_emulator/org-data?tenant={tid}                        control API (tests, demos)
    POST /v1.0/tenants/{tid}/modis/connectors/HR/ingestions/fileIngestion   MODIS upload (text/csv)
    GET  /_emulator/modis?tenant={tid}                           what a tenant holds in MODIS, per person

MODIS (Organizational data in Microsoft 365) documents no status or listing endpoint: none is offered.

Ingestion ids in paths must be GUIDs (400 otherwise): they are only ever looked up in memory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import jwt
from werkzeug.exceptions import BadRequest, HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from target_viva_insights.emulator.faults import FaultRule, Faults
from target_viva_insights.emulator.identity import Identity, TokenRefused, openid_configuration
from target_viva_insights.emulator.modis import NOT_STARTED, ModisStore, ModisUploadError
from target_viva_insights.emulator.org_data import OrgDataError
from target_viva_insights.emulator.service import VALIDATION_FAILED, Ingestion, IngestionService

logger = logging.getLogger(__name__)

CONNECTOR = "/v1.0/scopes/<tenant>/ingress/connectors/<connector>"
URLS = Map(
    [
        Rule("/<tenant>/v2.0/.well-known/openid-configuration", endpoint="discovery", methods=["GET"]),
        Rule("/<tenant>/oauth2/v2.0/token", endpoint="token", methods=["POST"]),
        Rule("/v1.0/tenants/<tenant>/scopes/<scope>/scaleUnit", endpoint="scale_unit", methods=["GET"]),
        Rule("/v1.0/scopes/<tenant>/ingress/connectors/status", endpoint="ping_legacy", methods=["GET"]),
        Rule(CONNECTOR, endpoint="ping", methods=["GET"]),
        Rule(f"{CONNECTOR}/ingestions", endpoint="list", methods=["GET"]),
        Rule(f"{CONNECTOR}/ingestions/fileIngestion", endpoint="upload", methods=["POST"]),
        Rule(f"{CONNECTOR}/ingestions/fileIngestion/<ingestion_id>", endpoint="status", methods=["GET"]),
        Rule(f"{CONNECTOR}/ingestions/<ingestion_id>", endpoint="status_legacy", methods=["GET"]),
        Rule(f"{CONNECTOR}/ingestions/<ingestion_id>/errors", endpoint="errors", methods=["GET"]),
        Rule(
            f"{CONNECTOR}/ingestions/fileIngestion/<ingestion_id>/errors",
            endpoint="errors_file_ingestion",
            methods=["GET"],
        ),
        Rule("/_emulator/state", endpoint="control_state", methods=["GET"]),
        Rule("/_emulator/faults", endpoint="control_faults", methods=["POST"]),
        Rule("/_emulator/reset", endpoint="control_reset", methods=["POST"]),
        Rule("/_emulator/ingestions/<ingestion_id>/abandon", endpoint="control_abandon", methods=["POST"]),
        Rule("/_emulator/org-data", endpoint="control_org_data", methods=["GET"]),
        Rule(
            "/v1.0/tenants/<tenant>/modis/connectors/<connector>/ingestions/fileIngestion",
            endpoint="modis_upload",
            methods=["POST"],
        ),
        Rule("/_emulator/modis", endpoint="control_modis", methods=["GET"]),
    ]
)
# The documented 400 when an ingestion is already running for the tenant.
PREVIOUS_INGESTION_MESSAGE = "Previous ingestion is not complete."


class DropConnection(Exception):  # noqa: N818 - control flow, not an error
    """Close the client's connection without an answer (fault injection)."""


def _json(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(document), status=status, headers=headers, mimetype="application/json")


def _api_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"error": {"code": code, "message": message}}, status, headers)


class EmulatorApp:
    """The WSGI application; every handler is `on_<endpoint>`."""

    def __init__(
        self,
        identity: Identity,
        service: IngestionService,
        faults: Faults,
        scale_unit: str,
        defaults: Callable[[], None],
        max_upload_bytes: int | None = None,
    ) -> None:
        self.identity = identity
        self.service = service
        self.faults = faults
        self.scale_unit = scale_unit
        self._reset_faults = defaults
        self.max_upload_bytes = max_upload_bytes
        self.modis = ModisStore(service.data_dir / "modis")

    # ---- WSGI plumbing -------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        # A chunked body has no declared length: werkzeug stops reading it past the limit (413).
        request.max_content_length = self.max_upload_bytes
        try:
            response = self.dispatch(request)
        except DropConnection:
            _drop(environ)
            # werkzeug treats this as a dropped connection: no answer, no draining of the unread body.
            raise ConnectionResetError("connection dropped by fault injection") from None
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        try:
            endpoint, arguments = URLS.bind_to_environ(request.environ).match()
        except HTTPException as error:
            return _api_error(error.code or 404, "NotFound", f"No route for {request.method} {request.path}")
        fault = None if endpoint.startswith("control_") else self.faults.take(endpoint)
        if fault is not None:
            early = self._apply_fault(fault, request)
            if early is not None:
                return early
        try:
            response = getattr(self, f"on_{endpoint}")(request, **arguments)
        except HTTPException as error:  # e.g. 413 from the multipart parser for a garbled body
            response = _api_error(error.code or 500, type(error).__name__, error.description or "")
        if fault is not None and fault.action == "drop_after_accept":
            raise DropConnection
        if fault is not None and fault.action == "slow_after_accept":
            time.sleep(fault.delay)
        return response

    def _apply_fault(self, fault: FaultRule, request: Request) -> Response | None:
        logger.info("Injecting fault %s on %s %s", fault.action, request.method, request.path)
        if fault.action == "error":
            return _api_error(fault.status, "InjectedFault", f"Injected HTTP {fault.status}")
        if fault.action == "throttle":
            return _api_error(429, "TooManyRequests", "Throttled", {"Retry-After": str(fault.retry_after)})
        if fault.action == "sign_in_page":
            page = "<html><body>Your session has expired. Please sign in again.</body></html>"
            return Response(page, status=200, mimetype="text/html")
        if fault.action == "slow":
            time.sleep(fault.delay)
        if fault.action == "drop":
            # Take half of the body first, so an upload is cut in the middle of its transfer.
            length = request.content_length or 0
            if length:
                request.stream.read(length // 2)
            raise DropConnection
        return None

    # ---- Entra ID ------------------------------------------------------------------------------

    def on_discovery(self, request: Request, tenant: str) -> Response:
        if not self.identity.known_tenant(tenant):
            refusal = TokenRefused(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
            return _json(refusal.body(request.host_url), refusal.status)
        return _json(openid_configuration(request.host_url.rstrip("/"), tenant))

    def on_token(self, request: Request, tenant: str) -> Response:
        token_endpoint = f"{request.host_url}{tenant}/oauth2/v2.0/token"
        try:
            return _json(self.identity.token_response(request.form.to_dict(), tenant, token_endpoint))
        except TokenRefused as refusal:
            logger.info("Token refused: AADSTS%d %s", refusal.code, refusal.error)
            return _json(refusal.body(request.host_url), refusal.status)

    # ---- ingress API ---------------------------------------------------------------------------

    def _authorize(self, request: Request, tenant: str, *, needs_scale_unit: bool = True) -> Response | None:
        """None when the caller may go on, else the refusal (401 bad token, 403 unknown app)."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _api_error(401, "Unauthorized", "Authorization header with a Bearer token is required.")
        try:
            claims = self.identity.check_access_token(token)
        except jwt.PyJWTError:
            return _api_error(
                401,
                "InvalidAuthenticationToken",
                "Access token has expired or is not yet valid.",
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if claims["tid"].lower() != tenant.lower() or self.faults.unregistered_app:
            return _api_error(403, "Forbidden", "The application is not authorized for this connector.")
        if needs_scale_unit and request.headers.get("x-nova-scaleunit") != self.scale_unit:
            return _api_error(400, "BadRequest", "Missing or unknown x-nova-scaleunit header.")
        return None

    def on_scale_unit(self, request: Request, tenant: str, scope: str) -> Response:
        refusal = self._authorize(request, tenant, needs_scale_unit=False)
        if refusal is not None:
            return refusal
        return _json(self.scale_unit)

    def on_ping(self, request: Request, tenant: str, connector: str) -> Response:
        _require_hr(connector)
        return self._authorize(request, tenant) or _json({"ConnectorId": self.service.connector_id(tenant)})

    def on_ping_legacy(self, request: Request, tenant: str) -> Response:
        if request.args.get("connectorType", "").lower() != "hr":
            raise NotFound("Unknown connector type.")
        return self._authorize(request, tenant) or _json({"ConnectorId": self.service.connector_id(tenant)})

    def on_upload(self, request: Request, tenant: str, connector: str) -> Response:
        _require_hr(connector)
        refusal = self._authorize(request, tenant)
        if refusal is not None:
            return refusal
        if self.service.pending(tenant) is not None:
            return _api_error(400, "BadRequest", PREVIOUS_INGESTION_MESSAGE)
        save, is_zip = _upload_saver(request)
        if save is None:
            return _api_error(500, "InternalServerError", "File is missing.")
        ingestion = self.service.start(
            tenant, save, is_zip=is_zip, stuck=self.faults.stuck, strictness=self.faults.strictness()
        )
        return _json(self.service.as_json(ingestion))

    def on_list(self, request: Request, tenant: str, connector: str) -> Response:
        _require_hr(connector)
        refusal = self._authorize(request, tenant)
        if refusal is not None:
            return refusal
        return _json({"value": [self.service.as_json(item) for item in self.service.all(tenant)]})

    def _ingestion(
        self, request: Request, tenant: str, connector: str, ingestion_id: str
    ) -> Ingestion | Response:
        """The tenant's ingestion, or the refusal to answer (unauthorized); 404 when there is none."""
        _require_hr(connector)
        refusal = self._authorize(request, tenant)
        if refusal is not None:
            return refusal
        ingestion = self.service.get(tenant, _guid(ingestion_id))
        if ingestion is None:
            raise NotFound(f"Ingestion {ingestion_id} not found.")
        return ingestion

    def on_status(self, request: Request, tenant: str, connector: str, ingestion_id: str) -> Response:
        ingestion = self._ingestion(request, tenant, connector, ingestion_id)
        if isinstance(ingestion, Response):
            return ingestion
        return _json(self.service.as_json(ingestion))

    on_status_legacy = on_status

    def on_errors(self, request: Request, tenant: str, connector: str, ingestion_id: str) -> Response:
        ingestion = self._ingestion(request, tenant, connector, ingestion_id)
        if isinstance(ingestion, Response):
            return ingestion
        if self.service.status(ingestion) != VALIDATION_FAILED or ingestion.error_file is None:
            return Response(b"", mimetype="text/csv")  # "a file stream with errors, if any"
        return Response(_file_chunks(ingestion.error_file), mimetype="text/csv", direct_passthrough=True)

    on_errors_file_ingestion = on_errors

    # ---- MODIS (Organizational data in Microsoft 365) -------------------------------------------

    def on_modis_upload(self, request: Request, tenant: str, connector: str) -> Response:
        """The CSV as the raw body; answered at once, processed at once (the outcome: `control_modis`)."""
        _require_hr(connector)
        refusal = self._authorize(request, tenant)
        if refusal is not None:
            return refusal
        if request.mimetype != "text/csv":
            return _api_error(
                415, "UnsupportedMediaType", "The body must be the CSV file (Content-Type: text/csv)."
            )
        try:
            ingestion = self.modis.ingest(tenant, request.get_data(cache=False))
        except ModisUploadError as error:
            return _api_error(400, "BadRequest", str(error))
        # The answer's shape as Microsoft's sample README shows it.
        return _json(
            {
                "FriendlyName": "Data ingress",
                "Id": ingestion.id,
                "ConnectorId": self.service.connector_id(tenant),
                "Submitter": "System",
                "StartDate": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "Status": NOT_STARTED,
                "ErrorDetail": None,
                "EndDate": None,
                "Type": "FileIngestion",
            }
        )

    def on_control_modis(self, request: Request) -> Response:
        """What a tenant holds in MODIS per person, and its ingestions (`tenant`: default the registered)."""
        tenant = request.args.get("tenant") or self.identity.app.tenant_id
        try:
            return _json(self.modis.report(tenant))
        except ModisUploadError as error:
            return _api_error(400, "BadRequest", str(error))

    # ---- control API ---------------------------------------------------------------------------

    def on_control_state(self, request: Request) -> Response:
        ingestions = [
            {
                **self.service.as_json(item),
                "TenantId": item.tenant_id,
                "Upload": str(item.upload),
                "Bytes": item.size,
            }
            for item in self.service.all()
        ]
        return _json(
            {
                "ingestions": ingestions,
                "tokens_issued": self.identity.tokens_issued,
                "faults": self.faults.as_json(),
            }
        )

    def on_control_faults(self, request: Request) -> Response:
        try:
            self.faults.update(request.get_json(force=True))
        except (TypeError, ValueError) as error:
            return _api_error(400, "BadRequest", str(error))
        return _json(self.faults.as_json())

    def on_control_reset(self, request: Request) -> Response:
        """Back to the start-up behaviour; unfinished ingestions are abandoned so the next test can upload.

        Org data is kept, so tests can chain runs; `{"org_data": true}` clears it too, and
        `{"ingestions": true}` forgets the ingestions themselves (a tenant with no history).
        """
        document = request.get_json(force=True, silent=True) if request.content_length else None
        self._reset_faults()
        for ingestion in self.service.all():
            self.service.abandon(ingestion)
        if isinstance(document, dict) and document.get("ingestions") is True:
            self.service.forget_all()
        if isinstance(document, dict) and document.get("org_data") is True:
            self.service.org_data.clear()
            self.modis.clear()
        return _json(self.faults.as_json())

    def on_control_abandon(self, request: Request, ingestion_id: str) -> Response:
        wanted = _guid(ingestion_id)
        for ingestion in self.service.all():
            if ingestion.id == wanted:
                self.service.abandon(ingestion)
                return _json(self.service.as_json(ingestion))
        raise NotFound(f"Ingestion {wanted} not found.")

    def on_control_org_data(self, request: Request) -> Response:
        """What a tenant holds: `tenant` (default the registered one); `records=false`, `row_digests=false`
        leave the rows and their digests out."""
        tenant = request.args.get("tenant") or self.identity.app.tenant_id
        try:
            report = self.service.org_data.report(
                tenant,
                records=_flag(request.args.get("records")),
                row_digests=_flag(request.args.get("row_digests")),
            )
        except OrgDataError as error:
            return _api_error(400, "BadRequest", str(error))
        return _json(report)


def _flag(value: str | None) -> bool:
    return value is None or value.lower() not in ("0", "false", "no")


def _guid(ingestion_id: str) -> str:
    """The id in its canonical form; 400 when it is not a GUID (never used as a path or a file name)."""
    try:
        return str(uuid.UUID(ingestion_id))
    except ValueError:
        raise BadRequest("The ingestion id must be a GUID.") from None


def _require_hr(connector: str) -> None:
    # The sources write HR, Hr and hr; the service is probably case-insensitive here.
    if connector.lower() != "hr":
        raise NotFound(f"Connector {connector} is not emulated (only HR).")


def _upload_saver(request: Request) -> tuple[Callable[[Path], None] | None, bool]:
    """How to keep the uploaded file: the first file part of a multipart body, or a raw .csv/.json body."""
    if request.mimetype == "multipart/form-data":
        upload = next(iter(request.files.values()), None)  # werkzeug's parser spools big parts to disk
        return (None, True) if upload is None else (lambda target: upload.save(target), True)
    if request.mimetype in ("text/csv", "application/json"):

        def save_raw(target: Path) -> None:
            with target.open("wb") as handle:
                while chunk := request.stream.read(1024 * 1024):
                    handle.write(chunk)

        return save_raw, False
    return None, True


def _file_chunks(path: Path) -> Iterable[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            yield chunk


def _drop(environ: dict[str, Any]) -> None:
    connection = environ.get("werkzeug.socket")
    if connection is not None:
        # Linger 0: when werkzeug closes the socket the client gets a reset at once, as when a proxy
        # or load balancer cuts an upload, instead of a half-closed connection it keeps writing into.
        with contextlib.suppress(OSError):
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            connection.shutdown(socket.SHUT_RDWR)
