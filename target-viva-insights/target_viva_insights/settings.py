"""The target's settings: one JSON Schema shared by the Singer target and the `viva-insights` command."""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from singer_sdk import typing as th

from target_viva_insights.errors import ConfigurationError
from target_viva_insights.import_mode import DEFAULT_IMPORT_MODE, ImportMode
from target_viva_insights.ingestion import AwaitStatus
from target_viva_insights.rules import DEFAULT_DATE_ORDER, TYPE_TOKENS, DateOrder


class DestinationKind(str, enum.Enum):
    """Where the organizational data goes; the value is the setting."""

    VIVA_INSIGHTS = "viva_insights"  # the legacy HR ingress: a zip with data.csv and metadata.json
    M365 = "m365"  # Organizational data in Microsoft 365 (MODIS): a CSV merged into the tenant


DEFAULT_DESTINATION = DestinationKind.VIVA_INSIGHTS


def destination_of(config: Mapping[str, Any]) -> DestinationKind:
    """The run's destination (the schema check has refused any other token)."""
    return DestinationKind(config.get("destination") or DEFAULT_DESTINATION.value)


def default_await_status(config: Mapping[str, Any]) -> AwaitStatus:
    """MODIS documents no status endpoint: nothing to await there."""
    if destination_of(config) is DestinationKind.M365:
        return AwaitStatus.NONE
    return AwaitStatus.COMPLETION


DEFAULT_API_BASE_URL = "https://api.orginsights.viva.office.com/v1.0"
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
# A full import may drop at most this share of what the tenant holds (people, rows, EffectiveDates).
DEFAULT_MAX_POPULATION_DROP_PERCENT = 10
# The resource app id that Microsoft's own upload tools request a token for.
DEFAULT_SCOPE = "9d827643-d003-4cca-9dc8-71213a8f1644/.default"
# Where Azure workload identity (AKS) and other platforms put the path of a federated token file.
FEDERATED_TOKEN_FILE_VARIABLE = "AZURE_FEDERATED_TOKEN_FILE"  # noqa: S105 - a variable name, not a secret


class Credential(enum.Enum):
    """The kind of credential a run signs in with; the value is the setting that holds it."""

    SECRET = "client_secret"  # noqa: S105 - a setting name, not a secret
    CERTIFICATE = "certificate_path"
    FEDERATED = "federated_token_file"


CONNECTION_SETTINGS = th.PropertiesList(
    th.Property(
        "tenant_id", th.StringType, title="Tenant ID", description="Microsoft Entra tenant (directory) id."
    ),
    th.Property(
        "client_id",
        th.StringType,
        title="Client (application) ID",
        description="Application (client) id of the app registration.",
    ),
    th.Property(
        "client_secret",
        th.StringType,
        secret=True,
        title="Client secret",
        description=(
            "Client secret of the app registration. Set one credential: this, `certificate_path` or "
            "`federated_token_file`."
        ),
    ),
    th.Property(
        "certificate_path",
        th.StringType,
        title="Certificate file (PEM or PFX)",
        description=(
            "Certificate for client-assertion auth: a PEM file holding the private key and the "
            "certificate, or a PFX/PKCS#12 file (with `certificate_password`)."
        ),
    ),
    th.Property(
        "certificate_password",
        th.StringType,
        secret=True,
        title="Certificate password",
        description="Password of the PFX file or of the encrypted PEM private key.",
    ),
    th.Property(
        "send_certificate_chain",
        th.BooleanType,
        default=False,
        title="Send certificate chain",
        description="Send the x5c certificate chain with the assertion (subject name/issuer auth).",
    ),
    th.Property(
        "federated_token_file",
        th.StringType,
        title="Federated token file",
        description=(
            "Workload identity federation: a file holding a JWT from an identity provider the app "
            "registration trusts (a federated credential: Kubernetes, GitHub Actions OIDC, ...), "
            "re-read for every token request because the platform rotates it. Cannot be combined with "
            "`client_secret` or `certificate_path`. Not set: the file AZURE_FEDERATED_TOKEN_FILE names "
            "is used when neither `client_secret` nor `certificate_path` is set."
        ),
    ),
    th.Property(
        "authority_host",
        th.StringType,
        default=DEFAULT_AUTHORITY_HOST,
        title="Authority host",
        description="Entra ID authority host; change it for sovereign clouds or the local emulator.",
    ),
    th.Property(
        "api_base_url",
        th.StringType,
        default=DEFAULT_API_BASE_URL,
        title="API base URL",
        description="Base URL of the Viva Insights HR data ingress API.",
    ),
    th.Property(
        "scope",
        th.StringType,
        default=DEFAULT_SCOPE,
        title="OAuth scope",
        description="OAuth scope to request.",
    ),
    th.Property(
        "scale_unit",
        th.StringType,
        title="Scale unit",
        description="Scale unit (x-nova-scaleunit header); discovered from the API when not set.",
    ),
    th.Property(
        "ca_bundle",
        th.StringType,
        title="CA bundle",
        description=(
            "PEM file of extra certificate authorities to trust (corporate proxy, local emulator). "
            "TLS verification is never switched off."
        ),
    ),
    th.Property(
        "await_status",
        th.StringType,
        allowed_values=[status.value for status in AwaitStatus],
        title="Await status",
        description=(
            "How far to follow the ingestion after the upload: `none` (return after the upload), "
            "`validation` (until Viva validated the data) or `completion` (until it is processed). "
            "Default: `completion` for destination viva_insights, `none` for m365 (Microsoft documents "
            "no status endpoint for it, so any other value is refused there)."
        ),
    ),
    th.Property(
        "poll_interval_seconds",
        th.NumberType,
        default=30,
        title="Poll interval (seconds)",
        description="Seconds between two status polls.",
    ),
    th.Property(
        "await_timeout_minutes",
        th.NumberType,
        default=24 * 60,
        title="Await timeout (minutes)",
        description="Give up awaiting the ingestion after this many minutes (processing can take a day).",
    ),
    th.Property(
        "previous_ingestion_wait_minutes",
        th.NumberType,
        default=0,
        title="Previous ingestion wait (minutes)",
        description=(
            "When Viva answers 'Previous ingestion is not complete', keep retrying the upload for "
            "up to this many minutes before failing."
        ),
    ),
    th.Property(
        "request_timeout_seconds",
        th.NumberType,
        default=300,
        title="Request timeout (seconds)",
        description="Timeout of one HTTP request (the upload included).",
    ),
    th.Property(
        "max_retries",
        th.IntegerType,
        default=5,
        title="Maximum retries",
        description="Retries of a request after connection errors, HTTP 5xx and 429.",
    ),
)

PACKAGE_SETTINGS = th.PropertiesList(
    th.Property(
        "destination",
        th.StringType,
        default=DEFAULT_DESTINATION.value,
        allowed_values=[destination.value for destination in DestinationKind],
        title="Destination",
        description=(
            "`viva_insights`: the Viva Insights HR ingress (a zip package). `m365`: Organizational data in "
            "Microsoft 365 (the admin center's API connector): a CSV of the people whose current state "
            "changed since the last run, merged into what the tenant holds. Use m365 once the tenant has "
            "moved to the Microsoft 365 admin center."
        ),
    ),
    th.Property(
        "remove_missing_people",
        th.BooleanType,
        default=False,
        title="Remove missing people",
        description=(
            "m365 with import_mode full only: delete from the tenant the people the ledger holds but the "
            "input lacks (within max_population_drop_percent). Without it they are counted in a warning."
        ),
    ),
    th.Property(
        "full_resend_days",
        th.IntegerType,
        title="Full resend (days)",
        description=(
            "m365 only: send every current person again when the last full send is this many days old "
            "(for tenants whose admins edit data by hand). Off when not set."
        ),
    ),
    th.Property(
        "stream_name",
        th.StringType,
        title="HR stream name",
        description="The HR stream to load when the tap sends several streams.",
    ),
    th.Property(
        "column_mapping",
        th.ObjectType(additional_properties=th.StringType),
        title="Column mapping",
        description=(
            "Source column -> Viva field name. Needed only for names the target does not map itself: "
            "Viva names in any case or spelling, and common HR-system names (work_email, "
            "manager_email, department, Email_-_Primary_Work...) are mapped and logged."
        ),
    ),
    th.Property(
        "field_types",
        th.ObjectType(additional_properties=th.StringType),
        title="Field types",
        description=(
            "Viva field name -> metadata.json type token, overriding the token derived from the "
            "schema and the one of `metadata_template`. Any token is written; one neither in "
            f"the template nor among ours ({', '.join(TYPE_TOKENS)}) gets a warning."
        ),
    ),
    th.Property(
        "metadata_template",
        th.StringType,
        title="Metadata template",
        description=(
            "Path to the metadata.json of the template zip the Viva Insights portal offers for "
            "API-based imports (or to the zip itself). Each field takes its type token from it; "
            "fields the template lacks get a warning. Only EmailType is documented: download the "
            "template before the first real run."
        ),
    ),
    th.Property(
        "exclude_columns",
        th.ArrayType(th.StringType),
        title="Excluded columns",
        description=(
            "Source columns left out of data.csv and metadata.json: names or glob patterns "
            "(`salary_*`). Singer metadata columns (`_sdc_*`) are left out without it. A name that "
            "matches nothing is a warning."
        ),
    ),
    th.Property(
        "date_order",
        th.StringType,
        default=DEFAULT_DATE_ORDER.value,
        allowed_values=[order.value for order in DateOrder],
        title="Date order",
        description="Date format of data.csv: MDY writes MM/DD/YYYY, DMY writes DD/MM/YYYY.",
    ),
    th.Property(
        "import_mode",
        th.StringType,
        default=DEFAULT_IMPORT_MODE.value,
        allowed_values=[mode.value for mode in ImportMode],
        title="Import mode",
        description=(
            "`auto`: the first run for a tenant (no ledger) is a full import, later runs send only the rows "
            "new or changed against the delivery ledger as an incremental import, and nothing when nothing "
            "changed. `full` replaces all organizational data (IsBootstrap true), refused when it would "
            "drop more than max_population_drop_percent of the people Viva holds. `incremental` sends the "
            "file as it is, IsBootstrap false."
        ),
    ),
    th.Property(
        "ledger_path",
        th.StringType,
        title="Ledger path",
        description=(
            "Folder or fsspec URL (s3://, az://, gs:// with its fsspec implementation installed) of the "
            "delivery ledger: what Viva holds per tenant, as keyed digests. Default: "
            "$MELTANO_PROJECT_ROOT/.meltano/viva-insights-ledger under Meltano, else "
            "~/.local/share/viva-insights/ledger ($XDG_DATA_HOME)."
        ),
    ),
    th.Property(
        "max_population_drop_percent",
        th.NumberType,
        title="Max population drop (percent)",
        default=DEFAULT_MAX_POPULATION_DROP_PERCENT,
        description=(
            "A full import that would drop more than this share of the people the ledger says Viva "
            "holds is refused (nothing is sent)."
        ),
    ),
    th.Property(
        "output_dir",
        th.StringType,
        title="Output folder",
        description=(
            "Folder that keeps the package (viva-insights-<timestamp>.zip), the validation report "
            "and Viva's error files. Without it the package and report live in a private temporary "
            "folder removed after the run, and an error file from Viva goes to the working directory."
        ),
    ),
    th.Property(
        "allow_empty",
        th.BooleanType,
        default=False,
        title="Allow empty runs",
        description=(
            "Succeed when the tap sends no records for the HR stream (nothing is packaged or uploaded, "
            "the state is emitted). Without it such a run fails with exit code 3: a tap that sends "
            "nothing is more often misconfigured than up to date. Set it for schedules where an "
            "empty run is normal."
        ),
    ),
    th.Property(
        "dry_run",
        th.BooleanType,
        default=False,
        title="Dry run",
        description="Build and validate the package, then stop: nothing is uploaded.",
    ),
    th.Property(
        "preflight_report_only",
        th.BooleanType,
        default=False,
        title="Pre-flight report only",
        description=(
            "With dry_run only: write the package even when the local validation finds errors, to "
            "inspect a stream that is not Viva-ready yet. The errors are still reported; nothing is "
            "ever uploaded."
        ),
    ),
)

TARGET_SETTINGS = th.PropertiesList(*PACKAGE_SETTINGS.wrapped.values(), *CONNECTION_SETTINGS.wrapped.values())


@dataclasses.dataclass(frozen=True)
class ConnectionSettings:
    """The connection settings of one run, defaults filled in, types and ranges checked.

    Secrets are left out of the repr, so a settings object in a traceback or a log shows none.
    """

    tenant_id: str
    client_id: str
    client_secret: str | None = dataclasses.field(default=None, repr=False)
    certificate_path: str | None = None
    certificate_password: str | None = dataclasses.field(default=None, repr=False)
    send_certificate_chain: bool = False
    federated_token_file: str | None = None
    authority_host: str = DEFAULT_AUTHORITY_HOST
    api_base_url: str = DEFAULT_API_BASE_URL
    scope: str = DEFAULT_SCOPE
    scale_unit: str | None = None
    ca_bundle: str | None = None
    await_status: AwaitStatus = AwaitStatus.COMPLETION
    poll_interval_seconds: float = 30.0
    await_timeout_minutes: float = 24 * 60.0
    previous_ingestion_wait_minutes: float = 0.0
    request_timeout_seconds: float = 300.0
    max_retries: int = 5

    @property
    def credential(self) -> Credential | None:
        """The credential the run signs in with (a federated file beside another one is refused)."""
        if self.federated_token_file:
            return Credential.FEDERATED
        if self.certificate_path:
            return Credential.CERTIFICATE
        if self.client_secret:
            return Credential.SECRET
        return None


def federated_token_file(config: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> str | None:
    """The federated token file of `config`, else AZURE_FEDERATED_TOKEN_FILE when no other credential is set.

    An explicit client_secret or certificate_path is a choice made for this run; the variable is the
    platform's offer (every pod with workload identity has it), so it never overrides a choice.
    """
    if config.get("federated_token_file"):
        return str(config["federated_token_file"])
    if config.get("client_secret") or config.get("certificate_path"):
        return None
    return environ.get(FEDERATED_TOKEN_FILE_VARIABLE) or None


# Which of two credentials a run would use is a guess nobody should have to make about a federated one.
FEDERATED_BESIDE_ANOTHER = (
    "cannot be combined with client_secret or certificate_path: set one credential (the others unset)"
)


def federated_beside_another(config: Mapping[str, Any]) -> bool:
    """Whether `config` sets federated_token_file together with client_secret or certificate_path."""
    return bool(config.get("federated_token_file")) and bool(
        config.get("client_secret") or config.get("certificate_path")
    )


_POSITIVE = ("poll_interval_seconds", "await_timeout_minutes", "request_timeout_seconds")
_NOT_NEGATIVE = ("previous_ingestion_wait_minutes", "max_retries")


def settings_with_defaults(config: Mapping[str, Any]) -> ConnectionSettings:
    """The connection settings of `config`, with the schema's defaults for absent or null values.

    Other keys of `config` (the package settings of the target) are ignored here.

    Args:
        config: The target's config, or the settings the `viva-insights` command gathered.

    Returns:
        Typed settings: `await_status` is an `AwaitStatus`, numbers are numbers.

    Raises:
        ConfigurationError: A required setting is missing, or a value has the wrong type or range, or a
            URL is not https://; the message names the setting.
    """
    properties = CONNECTION_SETTINGS.to_dict()["properties"]
    merged = {name: spec.get("default") for name, spec in properties.items()}
    merged.update({name: config[name] for name in properties if config.get(name) is not None})
    if merged["await_status"] is None:
        merged["await_status"] = default_await_status(config).value
    for required in ("tenant_id", "client_id"):
        if not merged.get(required):
            raise ConfigurationError(f"The setting {required} is required.")
    if federated_beside_another(config):
        raise ConfigurationError(f"The setting federated_token_file {FEDERATED_BESIDE_ANOTHER}.")
    try:
        merged["await_status"] = AwaitStatus(merged["await_status"])
    except ValueError:
        choices = ", ".join(status.value for status in AwaitStatus)
        raise ConfigurationError(f"await_status must be one of {choices}.") from None
    for url_setting in ("authority_host", "api_base_url"):
        if not str(merged[url_setting]).lower().startswith("https://"):
            # Tokens and HR data never travel over plain HTTP.
            raise ConfigurationError(f"{url_setting} must be an https:// URL.")
    for name in _POSITIVE + _NOT_NEGATIVE:
        merged[name] = _number(name, merged[name], whole=name == "max_retries")
    for name in _POSITIVE:
        if merged[name] <= 0:
            raise ConfigurationError(f"{name} must be greater than 0 (it is {merged[name]}).")
    for name in _NOT_NEGATIVE:
        if merged[name] < 0:
            raise ConfigurationError(f"{name} must not be negative (it is {merged[name]}).")
    merged["send_certificate_chain"] = bool(merged["send_certificate_chain"])
    merged["federated_token_file"] = federated_token_file(config)
    for name in ("tenant_id", "client_id", "authority_host", "api_base_url", "scope"):
        merged[name] = str(merged[name])
    return ConnectionSettings(**merged)


def _number(name: str, value: Any, *, whole: bool) -> Any:
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be a number, not {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a number, not {value!r}.") from None
    if not whole:
        return number
    if not number.is_integer():
        raise ConfigurationError(f"{name} must be a whole number, not {value!r}.")
    return int(number)


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """Every setting of one run, parsed once at start-up after `config_check` accepted the config.

    Nothing below the target and the command reads the config dict: they pass this object down.
    """

    destination: DestinationKind = DEFAULT_DESTINATION
    import_mode: ImportMode = DEFAULT_IMPORT_MODE
    date_order: DateOrder = DEFAULT_DATE_ORDER
    output_dir: Path | None = None
    dry_run: bool = False
    preflight_report_only: bool = False
    allow_empty: bool = False
    stream_name: str | None = None
    tenant_id: str | None = None
    api_base_url: str = DEFAULT_API_BASE_URL
    ledger_path: str | None = None
    max_population_drop_percent: float = DEFAULT_MAX_POPULATION_DROP_PERCENT
    remove_missing_people: bool = False
    full_resend_days: int | None = None
    column_mapping: Mapping[str, str] = dataclasses.field(default_factory=dict)
    field_types: Mapping[str, str] = dataclasses.field(default_factory=dict)
    exclude_columns: Sequence[str] = ()
    metadata_template: str | None = None
    validate_records: bool = True
    # None on a dry run whose connection settings are absent or incomplete: it signs in nowhere.
    connection: ConnectionSettings | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RunSettings:
        """The typed settings of a config `config_check.check_settings` accepted; defaults filled in.

        Raises:
            ConfigurationError: a connection setting is missing or invalid on a run that uploads.
        """
        try:
            connection: ConnectionSettings | None = settings_with_defaults(config)
        except ConfigurationError:
            if not config.get("dry_run"):
                raise
            connection = None
        output_dir = config.get("output_dir")
        drop = config.get("max_population_drop_percent")
        resend = config.get("full_resend_days")
        return cls(
            destination=destination_of(config),
            import_mode=ImportMode(config.get("import_mode") or DEFAULT_IMPORT_MODE.value),
            date_order=DateOrder(config.get("date_order") or DEFAULT_DATE_ORDER.value),
            output_dir=Path(str(output_dir)).expanduser() if output_dir else None,
            dry_run=bool(config.get("dry_run")),
            preflight_report_only=bool(config.get("preflight_report_only")),
            allow_empty=bool(config.get("allow_empty")),
            stream_name=config.get("stream_name") or None,
            tenant_id=str(config["tenant_id"]) if config.get("tenant_id") else None,
            api_base_url=str(config.get("api_base_url") or DEFAULT_API_BASE_URL),
            ledger_path=str(config["ledger_path"]) if config.get("ledger_path") else None,
            max_population_drop_percent=DEFAULT_MAX_POPULATION_DROP_PERCENT if drop is None else float(drop),
            remove_missing_people=bool(config.get("remove_missing_people")),
            full_resend_days=int(resend) if resend else None,
            column_mapping=dict(config.get("column_mapping") or {}),
            field_types=dict(config.get("field_types") or {}),
            exclude_columns=tuple(config.get("exclude_columns") or ()),
            metadata_template=config.get("metadata_template") or None,
            validate_records=bool(config.get("validate_records", True)),
            connection=connection,
        )

    def require_connection(self) -> ConnectionSettings:
        """The connection settings of a run that uploads (`config_check` made sure they are there)."""
        if self.connection is None:
            raise ConfigurationError(
                "This run needs the connection settings (tenant_id, client_id, a credential)."
            )
        return self.connection
