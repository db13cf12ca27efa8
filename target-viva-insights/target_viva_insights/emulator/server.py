"""Run the emulator: generate TLS material, start werkzeug's threaded HTTPS server, print the URLs."""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

from werkzeug.serving import make_server

from target_viva_insights.emulator import tls
from target_viva_insights.emulator.app import EmulatorApp
from target_viva_insights.emulator.faults import (
    DEFAULT_STEP_SECONDS,
    DEFAULT_TOKEN_LIFETIME_SECONDS,
    FaultRule,
    Faults,
)
from target_viva_insights.emulator.identity import Identity, RegisteredApp
from target_viva_insights.emulator.service import IngestionService

DEFAULT_SCALE_UNIT = "emulatorwus2-01"
HOST = "127.0.0.1"


@dataclasses.dataclass
class EmulatorOptions:
    data_dir: Path
    tenant_id: str
    client_id: str
    client_secret: str | None = None
    certificate: Path | None = None
    port: int = 0
    scale_unit: str = DEFAULT_SCALE_UNIT
    step_seconds: float = DEFAULT_STEP_SECONDS
    token_lifetime_seconds: int = DEFAULT_TOKEN_LIFETIME_SECONDS
    stuck: bool = False
    unregistered_app: bool = False
    reject: bool = False
    faults: list[FaultRule] = dataclasses.field(default_factory=list)


def serve(options: EmulatorOptions) -> None:
    """Serve until interrupted; print `name: value` lines, then `ready`, for people and scripts."""
    data_dir = options.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    ssl_context, ca_file = tls.server_context(data_dir)
    faults = Faults()

    def startup_behaviour() -> None:
        faults.reset(options.step_seconds, options.token_lifetime_seconds)
        faults.stuck = options.stuck
        faults.unregistered_app = options.unregistered_app
        faults.reject = options.reject
        faults.rules = [dataclasses.replace(rule) for rule in options.faults]

    startup_behaviour()
    app = RegisteredApp.load(options.tenant_id, options.client_id, options.client_secret, options.certificate)
    identity = Identity(app, lambda: faults.token_lifetime_seconds)
    service = IngestionService(data_dir, lambda: faults.step_seconds, lambda: faults.unknown_status)
    wsgi = EmulatorApp(identity, service, faults, options.scale_unit, startup_behaviour)
    server = make_server(HOST, options.port, wsgi, threaded=True, ssl_context=ssl_context)
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


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s emulator %(levelname)s %(message)s"
    )
    # werkzeug logs one line per request at INFO: useful when debugging, noise otherwise.
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)
