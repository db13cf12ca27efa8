"""`viva-insights`: upload, status, errors, ping, validate and emulator, scriptable and without prompts.

Settings come from (later wins): the schema defaults, `--config FILE` (JSON, the target's config works),
TARGET_VIVA_INSIGHTS_<SETTING>, VIVA_INSIGHTS_<SETTING>, and the command-line flags. Flags are derived
from the target's CONNECTION_SETTINGS so both always accept the same settings. Exit codes: errors.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from target_viva_insights.errors import ConfigurationError, DataValidationFailed, VivaError
from target_viva_insights.settings import CONNECTION_SETTINGS

ENV_PREFIXES = ("TARGET_VIVA_INSIGHTS_", "VIVA_INSIGHTS_")  # the second wins
EXTRA_SETTINGS = ("output_dir", "date_order", "ledger_path")  # package settings the commands also use
logger = logging.getLogger("viva_insights")


# ---- settings ------------------------------------------------------------------------------------


def _setting_specs() -> dict[str, dict[str, Any]]:
    return dict(CONNECTION_SETTINGS.to_dict()["properties"])


def _json_type(spec: Mapping[str, Any]) -> str:
    kinds = spec.get("type", "string")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    return next((kind for kind in kinds if kind != "null"), "string")


def _convert(name: str, raw: str, kind: str) -> Any:
    try:
        if kind == "boolean":
            if raw.strip().lower() in ("1", "true", "yes", "on"):
                return True
            if raw.strip().lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError as error:
        raise ConfigurationError(f"{name}: {raw!r} is not a valid {kind}") from error
    return raw


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection settings (also VIVA_INSIGHTS_<NAME> or --config)")
    for name, spec in _setting_specs().items():
        flag = "--" + name.replace("_", "-")
        kind = _json_type(spec)
        help_text = (spec.get("description") or "").replace("%", "%%")
        if kind == "boolean":
            group.add_argument(
                flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        else:
            converter = {"integer": int, "number": float}.get(kind, str)
            group.add_argument(
                flag,
                dest=name,
                type=converter,
                default=None,
                choices=spec.get("enum"),
                metavar=name.upper(),
                help=help_text,
            )
    group.add_argument(
        "--output-dir", dest="output_dir", default=None, help="Where error files go (default: .)"
    )


def resolve_settings(
    arguments: argparse.Namespace, environ: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    """Merge config file, environment and flags; the client fills the schema defaults."""
    settings: dict[str, Any] = {}
    if arguments.config:
        try:
            loaded = json.loads(Path(arguments.config).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ConfigurationError(f"Cannot read the config file {arguments.config}: {error}") from error
        if not isinstance(loaded, dict):
            raise ConfigurationError(f"The config file {arguments.config} must hold a JSON object")
        settings.update({key: value for key, value in loaded.items() if value is not None})
    specs = _setting_specs()
    kinds = {name: _json_type(spec) for name, spec in specs.items()}
    kinds.update(dict.fromkeys(EXTRA_SETTINGS, "string"))
    for prefix in ENV_PREFIXES:
        for name, kind in kinds.items():
            raw = environ.get(prefix + name.upper())
            if raw is not None:
                settings[name] = _convert(prefix + name.upper(), raw, kind)
    for name in kinds:
        value = getattr(arguments, name, None)
        if value is not None:
            settings[name] = value
    return settings


# ---- commands ------------------------------------------------------------------------------------


def _output_dir(settings: Mapping[str, Any]) -> Path:
    return Path(settings.get("output_dir") or ".").expanduser()


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, sort_keys=True))


def command_upload(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    from target_viva_insights.client import deliver_package

    package = Path(arguments.file)
    if not package.is_file():
        raise ConfigurationError(f"{package} is not a file")
    if package.suffix.lower() == ".zip" and not arguments.skip_validation:
        _validate_or_raise(package, settings)
    _print_json(deliver_package(settings, package, _output_dir(settings), logger))
    return 0


def command_status(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    from target_viva_insights.client import IngressApi

    with IngressApi(settings, logger) as api:
        ingestion = api.ingestion(arguments.ingestion_id)
        if arguments.wait:
            ingestion = api.await_ingestion(ingestion, api.settings["await_status"], _output_dir(settings))
    _print_json(ingestion)
    return 0


def command_errors(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    from target_viva_insights.client import IngressApi

    with IngressApi(settings, logger) as api:
        target = Path(arguments.output) if arguments.output else None
        saved = api.download_errors(arguments.ingestion_id, _output_dir(settings), target)
    print(saved)
    return 0


def command_ping(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    from target_viva_insights.client import IngressApi, field

    with IngressApi(settings, logger) as api:
        scale_unit = api.scale_unit()
        answer = api.ping()
    print(f"tenant_id: {api.tenant_id}")
    print(f"scale_unit: {scale_unit}")
    print(f"connector_id: {field(answer, 'ConnectorId')}")
    print("connection: OK")
    return 0


def _validate_or_raise(package: Path, settings: Mapping[str, Any]) -> None:
    from target_viva_insights.validation import validate_package

    report = validate_package(package, settings.get("date_order"))
    for line in report.summary_lines():
        logger.info(line)
    for issue in report.errors[:10]:
        logger.error("%s", issue.describe())
    if not report.ok:
        path = report.write_csv(_output_dir(settings) / f"validation-{package.stem}.csv")
        raise DataValidationFailed(f"{package} breaks Viva's rules; report: {path}", error_file=path)


def command_validate(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    _validate_or_raise(Path(arguments.file), settings)
    print(f"{arguments.file}: valid")
    return 0


def command_emulator(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    from target_viva_insights.emulator.faults import FaultRule
    from target_viva_insights.emulator.server import EmulatorOptions, configure_logging, serve

    configure_logging(arguments.verbose)
    try:
        faults = [FaultRule.parse(spec) for spec in arguments.fault]
    except (ValueError, TypeError) as error:
        raise ConfigurationError(f"--fault: {error}") from error
    serve(
        EmulatorOptions(
            data_dir=Path(arguments.data_dir),
            tenant_id=arguments.tenant_id,
            client_id=arguments.client_id,
            client_secret=arguments.client_secret,
            certificate=Path(arguments.certificate) if arguments.certificate else None,
            port=arguments.port,
            scale_unit=arguments.scale_unit,
            step_seconds=arguments.step_seconds,
            token_lifetime_seconds=arguments.token_lifetime,
            stuck=arguments.stuck,
            unregistered_app=arguments.unregistered_app,
            reject=arguments.reject,
            faults=faults,
        )
    )
    return 0


# ---- the delivery ledger (see ledger.py and CLI.md) ------------------------------------------------


def _open_ledger(arguments: argparse.Namespace, settings: Mapping[str, Any]) -> Any:
    from target_viva_insights.ledger import Ledger, default_ledger_path

    tenant_id = settings.get("tenant_id")
    if not tenant_id:
        raise ConfigurationError("the ledger is kept per tenant: set tenant_id (--tenant-id or --config)")
    return Ledger(str(settings.get("ledger_path") or default_ledger_path()), str(tenant_id))


def _existing_file(name: str) -> Path:
    path = Path(name)
    if not path.is_file():
        raise ConfigurationError(f"{path} is not a file")
    return path


def command_ledger_show(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    """Print what the ledger says Viva holds: imports, people, rows, last EffectiveDate, pending."""
    ledger = _open_ledger(arguments, settings)
    if not ledger.exists():
        print(
            f"No ledger for tenant {ledger.tenant_id} at {ledger.location}: "
            "the next auto run is a full import."
        )
        return 0
    _print_json(ledger.summary())
    return 0


def command_ledger_diff(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    """Print what a package or CSV would change against the ledger, naming only the file's own values."""
    import numpy as np
    import pyarrow as pa

    from target_viva_insights.ledger import PERSON_FIELD, digest_file

    ledger = _open_ledger(arguments, settings)
    digests, keys = digest_file(ledger, _existing_file(arguments.file))
    comparison = ledger.compare(digests)
    document: dict[str, Any] = {"ledger": ledger.location, **comparison.summary()}

    def named(mask: np.ndarray) -> list[dict[str, Any]]:
        chosen = keys.filter(pa.array(mask)).slice(0, arguments.limit)
        return chosen.to_pylist()

    document["people_added_list"] = [row[PERSON_FIELD] for row in named(comparison.new_people)]
    document["rows_new_list"] = named(comparison.new_rows)
    document["rows_changed_list"] = named(comparison.changed_rows)
    document["lists_limited_to"] = arguments.limit
    _print_json(document)
    return 0


def command_ledger_adopt(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    """Record a package as what Viva holds (a tenant whose data was uploaded by other means)."""
    import numpy as np

    from target_viva_insights.ledger import (
        ImportKind,
        IngestionRecord,
        digest_file,
        now_iso,
        package_sha256,
    )

    ledger = _open_ledger(arguments, settings)
    package = _existing_file(arguments.package)
    with ledger.locked():
        if ledger.exists() and not arguments.replace:
            raise ConfigurationError(
                f"A ledger for tenant {ledger.tenant_id} exists at {ledger.location}; adopt replaces it "
                "only with --replace."
            )
        digests, _ = digest_file(ledger, package)
        record = IngestionRecord(
            arguments.ingestion_id or f"adopted:{package.name}",
            now_iso(),
            ImportKind.FULL,
            len(digests),
            len(np.unique(digests.person)),
            package_sha256(package),
        )
        ledger.record_completed(record, digests)
    _print_json(ledger.summary())
    return 0


def add_ledger_commands(commands: Any, with_settings: argparse.ArgumentParser) -> None:
    """`viva-insights ledger [show|diff|adopt]`; tenant_id and ledger_path come from the settings."""
    ledger_flags = argparse.ArgumentParser(add_help=False, parents=[with_settings])
    ledger_flags.add_argument(
        "--ledger-path", dest="ledger_path", default=None, help="folder or fsspec URL of the ledger"
    )
    ledger = commands.add_parser(
        "ledger", parents=[ledger_flags], help="what Viva holds per the delivery ledger (show, diff, adopt)"
    )
    ledger.set_defaults(handler=command_ledger_show)
    actions = ledger.add_subparsers(dest="ledger_action", metavar="ACTION")
    show = actions.add_parser(
        "show", parents=[ledger_flags], help="imports, people, rows, last EffectiveDate"
    )
    show.set_defaults(handler=command_ledger_show)
    diff = actions.add_parser("diff", parents=[ledger_flags], help="what a package or CSV would change")
    diff.add_argument("file", help="package .zip or data .csv")
    diff.add_argument("--limit", type=int, default=20, help="names listed per kind of change (default 20)")
    diff.set_defaults(handler=command_ledger_diff)
    adopt = actions.add_parser(
        "adopt", parents=[ledger_flags], help="record a package as what Viva holds (existing tenants)"
    )
    adopt.add_argument("package", help="the package .zip (or data .csv) Viva holds")
    adopt.add_argument("--ingestion-id", help="the id of the ingestion that uploaded it, when known")
    adopt.add_argument("--replace", action="store_true", help="replace an existing ledger")
    adopt.set_defaults(handler=command_ledger_adopt)


# ---- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="JSON file of settings (the target's config file works)")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging (never shows secrets)")
    common.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    with_settings = argparse.ArgumentParser(add_help=False, parents=[common])
    add_setting_flags(with_settings)

    parser = argparse.ArgumentParser(
        prog="viva-insights",
        description="Upload HR data to Microsoft Viva Insights and follow the ingestion (see CLI.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    upload = commands.add_parser("upload", parents=[with_settings], help="upload a package and await it")
    upload.add_argument("file", help="package .zip (data.csv + metadata.json), or a bare .csv / .json")
    upload.add_argument(
        "--skip-validation", action="store_true", help="upload a .zip without the local check"
    )
    upload.set_defaults(handler=command_upload)

    status = commands.add_parser("status", parents=[with_settings], help="show an ingestion's status")
    status.add_argument("ingestion_id")
    status.add_argument("--wait", action="store_true", help="follow it until await_status is reached")
    status.set_defaults(handler=command_status)

    errors = commands.add_parser("errors", parents=[with_settings], help="download an ingestion's error file")
    errors.add_argument("ingestion_id")
    errors.add_argument("-o", "--output", help="file to write (default OUTPUT_DIR/errors-<id>.<ext>)")
    errors.set_defaults(handler=command_errors)

    ping = commands.add_parser("ping", parents=[with_settings], help="check auth, scale unit and connector")
    ping.set_defaults(handler=command_ping)

    validate = commands.add_parser("validate", parents=[common], help="check a package against Viva's rules")
    validate.add_argument("file", help="package .zip")
    validate.add_argument("--date-order", dest="date_order", choices=["MDY", "DMY"], default=None)
    validate.add_argument("--output-dir", dest="output_dir", default=None, help="where the report goes")
    validate.set_defaults(handler=command_validate)

    emulator = commands.add_parser("emulator", parents=[common], help="run the local emulator of the service")
    emulator.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    emulator.add_argument("--data-dir", default="viva-emulator", help="CA file, kept uploads, error files")
    emulator.add_argument("--tenant-id", default="00000000-0000-0000-0000-000000000001")
    emulator.add_argument("--client-id", default="00000000-0000-0000-0000-000000000002")
    emulator.add_argument("--client-secret", help="the registered app's secret")
    emulator.add_argument("--certificate", help="PEM file with the registered app's certificate")
    emulator.add_argument("--scale-unit", default="emulatorwus2-01")
    emulator.add_argument("--step-seconds", type=float, default=1.5, help="duration of each status step")
    emulator.add_argument("--token-lifetime", type=int, default=3600, help="access-token lifetime, seconds")
    emulator.add_argument("--stuck", action="store_true", help="ingestions never leave NotStarted")
    emulator.add_argument("--unregistered-app", action="store_true", help="403 as for an unregistered app")
    emulator.add_argument("--reject", action="store_true", help="every upload ends ValidationFailed")
    emulator.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="ACTION:ENDPOINT[:COUNT[:VALUE]]",
        help="e.g. error:upload:1:503, throttle:*:2:1, drop:upload, drop_after_accept:upload, slow:*:1:3",
    )
    emulator.set_defaults(handler=command_emulator)
    add_ledger_commands(commands, with_settings)
    return parser


def configure_logging(arguments: argparse.Namespace) -> None:
    level = logging.DEBUG if arguments.verbose else logging.WARNING if arguments.quiet else logging.INFO
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    if arguments.command != "emulator":
        configure_logging(arguments)
    try:
        settings = resolve_settings(arguments) if arguments.command != "emulator" else {}
        return int(arguments.handler(arguments, settings))
    except VivaError as error:
        logger.error("%s", error)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
