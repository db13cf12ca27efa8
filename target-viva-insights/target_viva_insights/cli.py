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
from target_viva_insights.rules import DateOrder
from target_viva_insights.settings import CONNECTION_SETTINGS
from target_viva_insights.template import MetadataTemplate, load_template

ENV_PREFIXES = ("TARGET_VIVA_INSIGHTS_", "VIVA_INSIGHTS_")  # the second wins
EXTRA_SETTINGS = ("output_dir", "date_order", "metadata_template")  # package settings the commands use
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

    date_order = DateOrder(settings["date_order"]) if settings.get("date_order") else None
    report = validate_package(package, date_order, template=_metadata_template(settings))
    for line in report.summary_lines():
        logger.info(line)
    for issue in report.errors[:10]:
        logger.error("%s", issue.describe())
    if not report.ok:
        path = report.write_csv(_output_dir(settings) / f"validation-{package.stem}.csv")
        raise DataValidationFailed(f"{package} breaks Viva's rules; report: {path}", error_file=path)


def add_template_option(parser: argparse.ArgumentParser) -> None:
    """`--template`: the customer's metadata template, whose type tokens count as known ones."""
    parser.add_argument(
        "--template",
        dest="metadata_template",
        default=None,
        metavar="METADATA_JSON",
        help="metadata.json of the Viva portal's template zip (or the zip): its type tokens are known",
    )


def _metadata_template(settings: Mapping[str, Any]) -> MetadataTemplate | None:
    path = settings.get("metadata_template")
    return load_template(path) if path else None


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
    add_template_option(upload)
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
    date_orders = [order.value for order in DateOrder]
    validate.add_argument("--date-order", dest="date_order", choices=date_orders, default=None)
    validate.add_argument("--output-dir", dest="output_dir", default=None, help="where the report goes")
    add_template_option(validate)
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
