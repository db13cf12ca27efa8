"""Run the emulator: generate TLS material, start werkzeug's threaded HTTPS server, print the URLs."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import selectors
import socket
import sys

import jwt
from werkzeug.serving import WSGIRequestHandler, make_server

from target_viva_insights.emulator import tls
from target_viva_insights.emulator.app import EmulatorApp
from target_viva_insights.emulator.faults import BEHAVIOUR, Faults
from target_viva_insights.emulator.identity import FederatedCredential, Identity, RegisteredApp
from target_viva_insights.emulator.options import EmulatorOptions
from target_viva_insights.emulator.service import IngestionService
from target_viva_insights.errors import ConfigurationError

HOST = "127.0.0.1"


def startup_behaviour(options: EmulatorOptions) -> dict[str, object]:
    """The behaviour the options start with, as a control-API document (reset returns to it).

    Options and behaviours share their names, except the fault rules (`faults` here, `rules` there).
    """
    document: dict[str, object] = {
        name: getattr(options, name) for name in BEHAVIOUR if hasattr(options, name)
    }
    document["rules"] = [dataclasses.replace(rule) for rule in options.faults]
    return document


def federated_credentials(options: EmulatorOptions) -> list[FederatedCredential]:
    """The app's federated credential the options describe (none without --federated-issuer).

    Raises:
        ConfigurationError: The subject or the keys are missing, or the keys file holds no key (exit 2).
    """
    issuer, subject, keys_file = (
        options.federated_issuer,
        options.federated_subject,
        options.federated_issuer_keys,
    )
    if issuer is None and subject is None and keys_file is None:
        return []
    if issuer is None or subject is None or keys_file is None:
        raise ConfigurationError(
            "A federated credential needs --federated-issuer, --federated-subject and "
            "--federated-issuer-keys."
        )
    try:
        return [FederatedCredential.load(issuer, subject, options.federated_audience, keys_file)]
    except (OSError, ValueError, jwt.PyJWTError) as error:
        raise ConfigurationError(
            f"--federated-issuer-keys {keys_file}: no usable public key ({error})"
        ) from error


def serve(options: EmulatorOptions) -> None:
    """Serve until interrupted; print `name: value` lines, then `ready`, for people and scripts.

    Args:
        options: Where the emulator keeps its files, the app it registers and how it behaves at first.

    Raises:
        ConfigurationError: DATA_DIR cannot be written or the certificate cannot be read (exit 2).
    """
    data_dir = options.data_dir.resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        ssl_context, ca_file = tls.server_context(data_dir)
    except OSError as error:
        raise ConfigurationError(f"--data-dir {options.data_dir}: {error}") from error
    faults = Faults()

    def restore_startup_behaviour() -> None:
        faults.reset(startup_behaviour(options))

    restore_startup_behaviour()
    try:
        app = RegisteredApp.load(
            options.tenant_id,
            options.client_id,
            options.client_secret,
            options.certificate,
            options.extra_tenants,
        )
    except (OSError, ValueError) as error:
        raise ConfigurationError(
            f"--certificate {options.certificate}: not a readable PEM certificate ({error})"
        ) from error
    app.federated_credentials = federated_credentials(options)
    identity = Identity(app, lambda: faults.token_lifetime_seconds)
    service = IngestionService(data_dir, lambda: faults.step_seconds, lambda: faults.unknown_status)
    wsgi = EmulatorApp(
        identity, service, faults, options.scale_unit, restore_startup_behaviour, options.max_upload_bytes
    )
    server = make_server(
        HOST,
        options.port,
        wsgi,
        threaded=True,
        ssl_context=ssl_context,
        request_handler=request_handler(options.max_upload_bytes),
    )
    origin = f"https://localhost:{server.server_port}"
    for name, value in (
        ("authority_host", origin),
        ("api_base_url", f"{origin}/v1.0"),
        ("ca_bundle", ca_file),
        ("control_url", f"{origin}/_emulator"),
        ("tenant_id", options.tenant_id),
        ("client_id", options.client_id),
        ("scale_unit", options.scale_unit),
        ("data_dir", data_dir),
    ):
        print(f"{name}: {value}")
    print("ready", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        service.shutdown()


# After a 413 the unread body is discarded for a moment, so that a client still sending it reads the
# answer instead of a connection reset; a bounded amount, never the body itself.
LINGER_BYTES = 4 << 20
LINGER_SECONDS = 0.5


def request_handler(max_upload_bytes: int) -> type[WSGIRequestHandler]:
    """werkzeug's request handler, answering 413 before the application when a declared body is too big.

    werkzeug would send `100 Continue` and run the application first; an over-sized upload gets its
    answer at once instead, and its body is neither read nor waited for.
    """

    class Handler(WSGIRequestHandler):
        def _oversized(self) -> int | None:
            declared = _declared_length(self.headers.get("Content-Length"))
            return declared if declared is not None and declared > max_upload_bytes else None

        def handle_expect_100(self) -> bool:
            # No "100 Continue" for a body that will be refused: run_wsgi answers 413 instead.
            return True if self._oversized() is not None else super().handle_expect_100()

        def run_wsgi(self) -> None:
            declared = self._oversized()
            if declared is not None:
                self._refuse_oversized(declared)
                return
            super().run_wsgi()

        def _refuse_oversized(self, declared: int) -> None:
            message = f"The request declares {declared} bytes; the limit is {max_upload_bytes} bytes."
            body = json.dumps({"error": {"code": "RequestEntityTooLarge", "message": message}}).encode()
            self.send_response(413)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            _linger(self.connection)

    return Handler


def _declared_length(header: str | None) -> int | None:
    try:
        return int(header) if header is not None else None
    except ValueError:
        return None  # werkzeug answers a malformed length itself


def _linger(connection: socket.socket) -> None:
    """Discard what the client is still sending, briefly and boundedly, before the connection closes."""
    discarded = 0
    with contextlib.suppress(OSError), selectors.DefaultSelector() as selector:
        selector.register(connection, selectors.EVENT_READ)
        while discarded < LINGER_BYTES and selector.select(timeout=LINGER_SECONDS):
            data = connection.recv(64 * 1024)
            if not data:
                break
            discarded += len(data)


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s emulator %(levelname)s %(message)s"
    )
    # werkzeug logs one line per request at INFO: useful when debugging, noise otherwise.
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)
