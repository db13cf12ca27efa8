"""Run the emulator: generate TLS material, start werkzeug's threaded HTTPS server, print the URLs."""

from __future__ import annotations

import dataclasses
import logging
import sys

from werkzeug.serving import make_server

from target_viva_insights.emulator import tls
from target_viva_insights.emulator.app import EmulatorApp
from target_viva_insights.emulator.faults import BEHAVIOUR, Faults
from target_viva_insights.emulator.identity import Identity, RegisteredApp
from target_viva_insights.emulator.options import EmulatorOptions
from target_viva_insights.emulator.service import IngestionService

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


def serve(options: EmulatorOptions) -> None:
    """Serve until interrupted; print `name: value` lines, then `ready`, for people and scripts.

    Args:
        options: Where the emulator keeps its files, the app it registers and how it behaves at first.
    """
    data_dir = options.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    ssl_context, ca_file = tls.server_context(data_dir)
    faults = Faults()

    def restore_startup_behaviour() -> None:
        faults.reset(startup_behaviour(options))

    restore_startup_behaviour()
    app = RegisteredApp.load(options.tenant_id, options.client_id, options.client_secret, options.certificate)
    identity = Identity(app, lambda: faults.token_lifetime_seconds)
    service = IngestionService(data_dir, lambda: faults.step_seconds, lambda: faults.unknown_status)
    wsgi = EmulatorApp(identity, service, faults, options.scale_unit, restore_startup_behaviour)
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
