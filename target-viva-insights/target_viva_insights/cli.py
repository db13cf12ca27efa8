"""`viva-insights`: upload, status, errors, ping, validate, report, m365-header, emulator; scriptable, no
prompts.

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
from target_viva_insights.log_text import keep_log_messages_on_one_line
from target_viva_insights.rules import DateOrder
from target_viva_insights.settings import CONNECTION_SETTINGS, settings_with_defaults
from target_viva_insights.template import MetadataTemplate, load_template

ENV_PREFIXES = ("TARGET_VIVA_INSIGHTS_", "VIVA_INSIGHTS_")  # the second wins
# Package settings the commands use too.
EXTRA_SETTINGS = ("output_dir", "date_order", "metadata_template", "ledger_path")
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
    """Add a `--<setting>` flag for every connection setting of the target, and `--output-dir`.

    Args:
        parser: The parser (or parent parser) of the commands that talk to the service.
    """
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
    """Merge config file, environment and flags (later wins); the client fills the schema defaults.

    Args:
        arguments: The parsed command line (`--config` and the setting flags).
        environ: The environment (`TARGET_VIVA_INSIGHTS_<SETTING>`, then `VIVA_INSIGHTS_<SETTING>`).

    Returns:
        The settings given, without defaults.

    Raises:
        ConfigurationError: The config file cannot be read or is not a JSON object, or an environment
            value has the wrong type; the message names the file or the variable.
    """
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
    """`viva-insights upload FILE`: check a package locally, upload it once, follow the ingestion.

    Args:
        arguments: The parsed command line (`file`, `--skip-validation`).
        settings: The merged settings (config file, environment, flags).

    Returns:
        0 once `await_status` was reached; the last ingestion document is printed as JSON.

    Raises:
        ConfigurationError: FILE is not a file, or a setting is wrong (exit 2).
        VivaError: Any other failure, with its exit code (errors.py).
    """
    from target_viva_insights.upload.client import deliver_package

    package = Path(arguments.file)
    if not package.is_file():
        raise ConfigurationError(f"{package} is not a file")
    if package.suffix.lower() == ".zip" and not arguments.skip_validation:
        _validate_or_raise(package, settings)
    _print_json(deliver_package(settings_with_defaults(settings), package, _output_dir(settings), logger))
    return 0


def command_status(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    """`viva-insights status ID [--wait]`: print an ingestion's document, or follow it first.

    Args:
        arguments: The parsed command line (`ingestion_id`, `--wait`).
        settings: The merged settings; `await_status` says how far `--wait` follows.

    Returns:
        0; the ingestion document is printed as JSON.

    Raises:
        ConfigurationError: ID is not a GUID (exit 2, nothing is sent).
        VivaError: Any other failure; with `--wait`, as for `upload`.
    """
    from target_viva_insights.upload.client import IngressApi, checked_ingestion_id

    ingestion_id = checked_ingestion_id(arguments.ingestion_id)
    with IngressApi(settings_with_defaults(settings), logger) as api:
        ingestion = api.ingestion(ingestion_id)
        if arguments.wait:
            ingestion = api.await_ingestion(ingestion, _output_dir(settings))
    _print_json(ingestion)
    return 0


def command_errors(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    """`viva-insights errors ID [-o FILE]`: download an ingestion's error file (mode 0600).

    Args:
        arguments: The parsed command line (`ingestion_id`, `--output`).
        settings: The merged settings; `output_dir` is the default folder.

    Returns:
        0; the path written is printed.

    Raises:
        ConfigurationError: ID is not a GUID (exit 2, nothing is sent).
        VivaError: Any other failure, with its exit code.
    """
    from target_viva_insights.upload.client import IngressApi, checked_ingestion_id

    ingestion_id = checked_ingestion_id(arguments.ingestion_id)
    with IngressApi(settings_with_defaults(settings), logger) as api:
        target = Path(arguments.output) if arguments.output else None
        saved = api.download_errors(ingestion_id, _output_dir(settings), target)
    print(saved)
    return 0


def command_ping(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    """`viva-insights ping`: check the credentials, the scale unit and the HR connector.

    Args:
        arguments: The parsed command line.
        settings: The merged settings.

    Returns:
        0; tenant, scale unit and connector id are printed.

    Raises:
        VivaError: The failure, with its exit code (4 credentials, 5 app not registered, 6 outage).
    """
    from target_viva_insights.upload.client import IngressApi, field

    with IngressApi(settings_with_defaults(settings), logger) as api:
        scale_unit = api.scale_unit()
        answer = api.ping()
    print(f"tenant_id: {api.tenant_id}")
    print(f"scale_unit: {scale_unit}")
    print(f"connector_id: {field(answer, 'ConnectorId')}")
    print("connection: OK")
    return 0


def _validate_or_raise(package: Path, settings: Mapping[str, Any]) -> None:
    from target_viva_insights.validation.validator import validate_package

    date_order = DateOrder(settings["date_order"]) if settings.get("date_order") else None
    report = validate_package(package, date_order, template=_metadata_template(settings))
    for line in report.summary_lines():
        logger.info(line)
    for issue in report.errors[:10]:
        logger.error("%s", issue.describe_without_value())  # values only in the report file
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
    """`viva-insights validate FILE`: check a package against Viva's rules, without any upload.

    Args:
        arguments: The parsed command line (`file`, `--date-order`, `--output-dir`).
        settings: The settings (`date_order`, `output_dir`).

    Returns:
        0 when the package is valid.

    Raises:
        DataValidationFailed: It breaks a rule; the report is written to the output folder (exit 3).
    """
    _validate_or_raise(Path(arguments.file), settings)
    print(f"{arguments.file}: valid")
    return 0


def command_emulator(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    """Run the local emulator of the ingress API until interrupted (see docs/CLI.md, "The emulator").

    Args:
        arguments: The parsed command line: the `EmulatorOptions` flags, `--verbose`, and
            `--show-org-data` / `--export-org-data FILE`, which report what DATA_DIR holds for the
            tenant instead of serving, and `--show-modis`, what it holds in MODIS per person.
        settings: Unused (the emulator takes no connection settings).

    Returns:
        0 once the emulator was stopped.
    """
    from target_viva_insights.emulator.options import EmulatorOptions

    options = EmulatorOptions.from_arguments(arguments)
    if arguments.show_modis:
        from target_viva_insights.emulator.modis import ModisStore, ModisUploadError

        try:
            held = ModisStore(options.data_dir / "modis").people(options.tenant_id)
        except ModisUploadError as error:
            raise ConfigurationError(str(error)) from error
        _print_json({"tenant_id": options.tenant_id, "person_count": len(held), "people": held})
        return 0
    if arguments.show_org_data or arguments.export_org_data:
        from target_viva_insights.emulator.org_data import OrgDataError, held_summary

        export = Path(arguments.export_org_data) if arguments.export_org_data else None
        try:
            _print_json(held_summary(options.data_dir, options.tenant_id, export))
        except OrgDataError as error:
            raise ConfigurationError(str(error)) from error
        return 0
    from target_viva_insights.emulator.server import configure_logging, serve

    configure_logging(arguments.verbose)
    serve(options)
    return 0


# ---- the delivery ledger (see ledger.py and docs/CLI.md) ------------------------------------------------


def _open_ledger(arguments: argparse.Namespace, settings: Mapping[str, Any]) -> Any:
    from target_viva_insights.ledger.store import Ledger, default_ledger_path

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
    from target_viva_insights.ledger.digests import open_for_digests
    from target_viva_insights.ledger.store import Keep

    ledger = _open_ledger(arguments, settings)
    path = _existing_file(arguments.file)
    with open_for_digests(path) as (batches, date_order):
        comparison, _ = ledger.compare_batches(batches, date_order, keep=Keep.NEW_OR_CHANGED)
    document: dict[str, Any] = {"ledger": ledger.location, **comparison.summary()}
    masks = {
        "people_added_list": comparison.new_people,
        "rows_new_list": comparison.new_rows,
        "rows_changed_list": comparison.changed_rows,
    }
    document.update(_rows_named(path, masks, arguments.limit))
    document["people_added_list"] = [row["PersonId"] for row in document["people_added_list"]]
    document["lists_limited_to"] = arguments.limit
    _print_json(document)
    return 0


def _rows_named(path: Path, masks: Mapping[str, Any], limit: int) -> dict[str, list[dict[str, Any]]]:
    """(PersonId, EffectiveDate) of the first `limit` rows each mask marks, read again from the file."""
    import pyarrow as pa

    from target_viva_insights.ledger.digests import DATE_FIELD, PERSON_FIELD, open_for_digests

    named: dict[str, list[dict[str, Any]]] = {name: [] for name in masks}
    start = 0
    with open_for_digests(path) as (batches, _):
        for batch in batches:
            names = [name for name in (PERSON_FIELD, DATE_FIELD) if name in batch.schema.names]
            keys = pa.Table.from_batches([batch]).select(names)
            for list_name, mask in masks.items():
                wanted = limit - len(named[list_name])
                chosen = mask[start : start + batch.num_rows]
                if wanted > 0 and chosen.any():
                    rows = keys.filter(pa.array(chosen)).slice(0, wanted)
                    named[list_name].extend(_decoded(rows).to_pylist())
            start += batch.num_rows
    return named


def _decoded(table: Any) -> Any:
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = [pc.cast(column, pa.string()) for column in table.columns]
    return pa.table(columns, names=table.column_names)


def command_ledger_adopt(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    """Record a package as what Viva holds (a tenant whose data was uploaded by other means)."""
    from target_viva_insights.import_mode import ImportMode
    from target_viva_insights.ledger.digest_index import sorted_distinct
    from target_viva_insights.ledger.digests import digest_batches, open_for_digests
    from target_viva_insights.ledger.store import IngestionRecord, now_iso, package_sha256

    ledger = _open_ledger(arguments, settings)
    if arguments.package is None:
        return _adopt_ingestion_id(ledger, arguments.ingestion_id)
    package = _existing_file(arguments.package)
    with ledger.locked():
        if ledger.exists() and not arguments.replace:
            raise ConfigurationError(
                f"A ledger for tenant {ledger.tenant_id} exists at {ledger.location}; adopt replaces it "
                "only with --replace."
            )
        with open_for_digests(package) as (batches, date_order):
            digests = digest_batches(ledger.digester, batches, date_order)
        record = IngestionRecord(
            arguments.ingestion_id or f"adopted:{package.name}",
            now_iso(),
            ImportMode.FULL,
            len(digests),
            sorted_distinct(digests.person).size,
            package_sha256(package),
        )
        ledger.record_completed(record, digests)
    _print_json(ledger.summary())
    return 0


def _adopt_ingestion_id(ledger: Any, ingestion_id: str | None) -> int:
    """Name the ingestion an upload started whose run ended before the service answered."""
    from target_viva_insights.ledger.store import RecordStatus
    from target_viva_insights.upload.client import checked_ingestion_id

    if not ingestion_id:
        raise ConfigurationError(
            "ledger adopt needs a PACKAGE (what the tenant holds), or --ingestion-id ID alone for an "
            "upload the ledger holds as sent without an answer"
        )
    checked_ingestion_id(ingestion_id)
    with ledger.locked():
        sending = [record for record in ledger.pending if record.status is RecordStatus.SENDING]
        if len(sending) != 1:
            raise ConfigurationError(
                f"The ledger at {ledger.location} holds {len(sending)} uploads sent without an answer; "
                "--ingestion-id alone names the ingestion of exactly one (see `viva-insights ledger show`)."
            )
        ledger.accepted(sending[0], ingestion_id)
    print(
        f"Upload {sending[0].upload} is ingestion {ingestion_id}: the next run settles it.", file=sys.stderr
    )
    _print_json(ledger.summary())
    return 0


def command_ledger_forget(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    """Drop a pending or failed upload from the ledger: its rows are not held, so they go again."""
    ledger = _open_ledger(arguments, settings)
    with ledger.locked():
        record = ledger.find_pending(arguments.name)
        ledger.withdraw(record)
    print(
        f"Forgot {record.name} ({record.status.value}, {record.rows} rows, uploaded {record.time}): the "
        "ledger does not hold its rows, so the next run whose file holds them sends them.",
        file=sys.stderr,
    )
    _print_json(ledger.summary())
    return 0


def command_ledger_resend(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    """Upload the package of a failed upload again, from the ledger, and record what becomes of it."""
    import tempfile

    from target_viva_insights.errors import DataValidationFailed, IngestionFailed, LedgerError
    from target_viva_insights.ingestion import Phase, phase_of
    from target_viva_insights.ledger.store import RecordStatus, package_sha256
    from target_viva_insights.upload.client import deliver_package, field

    ledger = _open_ledger(arguments, settings)
    connection = settings_with_defaults(settings)
    with ledger.locked(), tempfile.TemporaryDirectory(prefix="viva-resend-") as work:
        record = ledger.find_pending(arguments.name)
        if record.status is not RecordStatus.FAILED:
            raise ConfigurationError(
                f"{record.name} is {record.status.value}, not failed: the next run settles it."
            )
        package = ledger.pending_package(record, Path(work) / "package.zip")
        if package is None or package_sha256(package) != record.package_sha256:
            raise LedgerError(
                f"The ledger at {ledger.location} keeps no intact package for {record.name}. Fix the data at "
                f"the source, run `viva-insights ledger forget {record.name}`, and have the tap send those "
                "rows again."
            )
        try:
            final = deliver_package(
                connection,
                package,
                _output_dir(settings),
                logger,
                on_accepted=lambda ingestion_id: ledger.accepted(record, ingestion_id),
            )
        except (DataValidationFailed, IngestionFailed):
            ledger.mark_failed(record)
            raise
        if phase_of(str(field(final, "Status"))) is Phase.COMPLETED:
            ledger.settle(record.ingestion_id, completed=True)
    _print_json(final)
    return 0


def add_ledger_commands(commands: Any, with_settings: argparse.ArgumentParser) -> None:
    """`viva-insights ledger [show|diff|adopt|forget|resend]`; tenant_id and ledger_path: the settings."""
    ledger_flags = argparse.ArgumentParser(add_help=False, parents=[with_settings])
    ledger_flags.add_argument(
        "--ledger-path", dest="ledger_path", default=None, help="folder or fsspec URL of the ledger"
    )
    ledger = commands.add_parser(
        "ledger",
        parents=[ledger_flags],
        help="what Viva holds per the delivery ledger (show, diff, adopt, forget, resend)",
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
    adopt.add_argument(
        "package",
        nargs="?",
        help="the package .zip (or data .csv) Viva holds; omit with --ingestion-id alone",
    )
    adopt.add_argument(
        "--ingestion-id",
        help="the id of the ingestion that uploaded it; alone: the ingestion of an upload left unanswered",
    )
    adopt.add_argument("--replace", action="store_true", help="replace an existing ledger")
    adopt.set_defaults(handler=command_ledger_adopt)
    forget = actions.add_parser(
        "forget", parents=[ledger_flags], help="drop a pending or failed upload (its rows go again)"
    )
    forget.add_argument("name", metavar="ID", help="its ingestion id, or its upload id (ledger show)")
    forget.set_defaults(handler=command_ledger_forget)
    resend = actions.add_parser(
        "resend", parents=[ledger_flags], help="upload a failed upload's package again, from the ledger"
    )
    resend.add_argument("name", metavar="ID", help="its ingestion id (ledger show)")
    resend.set_defaults(handler=command_ledger_resend)


# ---- the data-quality report (see quality/) -------------------------------------------------------


def command_report(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    """`viva-insights report FILE`: the HTML data-quality report of a package, data.csv or M365 CSV.

    With tenant_id set and a delivery ledger for it, the report also says what the file changes
    against what was delivered last. Prints the report's path.

    Returns:
        0 once the report is written (whatever it finds).

    Raises:
        ConfigurationError: the file is missing or unreadable (exit 2).
        DataValidationFailed: the zip is not a package, or the CSV cannot be read as CSV (exit 3).
    """
    import dataclasses

    from target_viva_insights.quality import Delivery, report_path_for, write_report
    from target_viva_insights.quality.inputs import load
    from target_viva_insights.quality.profile import InputKind, changes_of, profile_table

    path = Path(arguments.file)
    loaded = load(path)
    profile = profile_table(loaded.table, loaded.columns, source=path.name, kind=loaded.kind)
    profile = profile.with_findings(loaded.report)
    if loaded.kind is not InputKind.M365_CSV:
        changes, reason = None, "set tenant_id (and ledger_path) to compare with the delivery ledger"
        if settings.get("tenant_id"):
            ledger = _open_ledger(arguments, settings)
            reason = f"the ledger at {ledger.location} holds no delivery for this tenant"
            if ledger.holds_data() and "PersonId" in loaded.table.column_names:
                from target_viva_insights.ledger.digests import open_for_digests
                from target_viva_insights.ledger.store import Keep

                with open_for_digests(path) as (batches, date_order):
                    comparison, _ = ledger.compare_batches(batches, date_order, keep=Keep.NEW_OR_CHANGED)
                last = ledger.last_ingestion()
                last_text = f"ingestion {last.ingestion_id} of {last.time}" if last else None
                changes = changes_of(comparison, loaded.table.column("PersonId"), last_text)
        mode = loaded.import_mode.value if loaded.import_mode else "unknown"
        delivery = Delivery(
            "none: made from a file, not sent", f"{mode} import (as the file says)", changes, reason
        )
        profile = dataclasses.replace(profile, delivery=delivery)
    output = Path(arguments.output) if arguments.output else report_path_for(path)
    written = write_report(profile, output, show_examples=arguments.show_examples)
    print(written)
    return 0


def add_report_command(commands: Any, with_settings: argparse.ArgumentParser) -> None:
    """`viva-insights report FILE [-o OUT.html] [--show-examples]`."""
    report = commands.add_parser(
        "report",
        parents=[with_settings],
        help="write the HTML data-quality report of a package, data.csv or Microsoft 365 CSV",
    )
    report.add_argument("file", help="package .zip, data .csv, or a Microsoft 365 organizational CSV")
    report.add_argument("-o", "--output", help="the .html to write (default: FILE-quality.html beside FILE)")
    report.add_argument(
        "--show-examples",
        action="store_true",
        help="add up to five example rows per finding, with their values (personal data)",
    )
    report.add_argument(
        "--ledger-path", dest="ledger_path", default=None, help="folder or fsspec URL of the ledger"
    )
    report.set_defaults(handler=command_report)


def command_m365_header(arguments: argparse.Namespace, settings: dict[str, Any]) -> int:
    """`viva-insights m365-header FILE [-o OUT.csv]`: the header-only CSV for the admin center's mapping.

    The header is what the target's `destination: m365` run sends for FILE (a package .zip or a
    data.csv): Microsoft_* names for the known attributes, `column_mapping` of --config applied, no
    EffectiveDate. Only the header row is written; no value of FILE is.

    Returns:
        0 once the header is printed or written.

    Raises:
        ConfigurationError: the file is missing or unreadable, or two columns take one header (exit 2).
        DataValidationFailed: the zip is not a package, or the CSV cannot be read as CSV (exit 3).
    """
    from target_viva_insights.destinations.m365.columns import plan_columns
    from target_viva_insights.quality.inputs import load
    from target_viva_insights.rules import SUPERVISOR_INDICATOR

    loaded = load(Path(arguments.file))
    fields = {column.name: column.kind for column in loaded.columns}
    names = loaded.table.column_names
    supervisor = (
        loaded.table.column(SUPERVISOR_INDICATOR).unique().to_pylist()
        if SUPERVISOR_INDICATOR in names
        else []
    )
    try:
        plan = plan_columns(
            fields, column_mapping=settings.get("column_mapping"), supervisor_values=supervisor
        )
    except ValueError as error:
        raise ConfigurationError(f"{arguments.file}: {error}") from error
    for level, note in plan.notes:
        logger.log(level, "%s", note)
    if not arguments.output:
        sys.stdout.write(plan.header_csv().decode("utf-8"))
        return 0
    from target_viva_insights.destinations.m365.delivery import write_header_csv

    print(write_header_csv(plan, Path(arguments.output)))
    return 0


def add_m365_header_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """`viva-insights m365-header FILE [-o OUT.csv]`."""
    header = commands.add_parser(
        "m365-header",
        parents=[common],
        help="print or write the header-only CSV that the Microsoft 365 admin center maps (no data)",
    )
    header.add_argument("file", help="package .zip or data .csv whose columns the m365 upload would carry")
    header.add_argument("-o", "--output", help="the .csv to write (0600; default: print to stdout)")
    header.set_defaults(handler=command_m365_header)


# ---- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The `viva-insights` parser: one subcommand per command function above.

    Returns:
        The parser; each subcommand sets `handler` to its command function.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="JSON file of settings (the target's config file works)")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging (never shows secrets)")
    common.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    with_settings = argparse.ArgumentParser(add_help=False, parents=[common])
    add_setting_flags(with_settings)

    parser = argparse.ArgumentParser(
        prog="viva-insights",
        description="Upload HR data to Microsoft Viva Insights and follow the ingestion (see docs/CLI.md).",
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

    from target_viva_insights.emulator.options import add_flags as add_emulator_flags

    emulator = commands.add_parser("emulator", parents=[common], help="run the local emulator of the service")
    add_emulator_flags(emulator)
    emulator.add_argument(
        "--show-org-data",
        action="store_true",
        help="print what the emulated tenant holds (rows, people, columns, digest) from DIR, and exit",
    )
    emulator.add_argument(
        "--export-org-data",
        metavar="FILE.csv",
        help="write the rows the emulated tenant holds to FILE.csv (0600), print the summary, and exit",
    )
    emulator.add_argument(
        "--show-modis",
        action="store_true",
        help="print what the emulated tenant holds in MODIS (Microsoft 365) per person from DIR, and exit",
    )
    emulator.set_defaults(handler=command_emulator)
    add_ledger_commands(commands, with_settings)
    add_report_command(commands, with_settings)
    add_m365_header_command(commands, common)
    return parser


def configure_logging(arguments: argparse.Namespace) -> None:
    """Log to stderr: INFO, DEBUG with `-v`, WARNING with `-q`."""
    level = logging.DEBUG if arguments.verbose else logging.WARNING if arguments.quiet else logging.INFO
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `viva-insights` command.

    Args:
        argv: The arguments after the program name (default: `sys.argv[1:]`).

    Returns:
        The exit code: 0, or the `exit_code` of the `VivaError` that ended the command (errors.py), 130
        after Ctrl-C.
    """
    arguments = build_parser().parse_args(argv)
    if arguments.command != "emulator":
        configure_logging(arguments)
        keep_log_messages_on_one_line()  # column names from a package never forge a log line
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
