"""The target's settings, checked at start-up before the first record is read.

A run that reads a million records and then finds it cannot deliver them wastes the run and, worse, may
already have done something: a typo such as `dryrun`, if ignored, would let the run upload for real.
So everything a run needs is checked here, once, when the target starts: no unknown keys (with a
did-you-mean), values of the right type and within range, the combinations that make sense, and the
things a real run touches: the output folder, the credential, the certificate and its password, the
federated token file, the CA bundle. Every problem names its setting and ends the run with the
configuration exit code (2).

Values of settings are never shown in the messages: some are secrets.
"""

from __future__ import annotations

import dataclasses
import decimal
import difflib
import enum
import json
import math
import os
import ssl
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema

from target_viva_insights.errors import ConfigurationError
from target_viva_insights.federated_token import read_federated_token
from target_viva_insights.log_text import printable
from target_viva_insights.settings import (
    FEDERATED_BESIDE_ANOTHER,
    FEDERATED_TOKEN_FILE_VARIABLE,
    federated_beside_another,
    federated_token_file,
)

# Meltano keeps its plugin extras (`_dialect`, `_log_parser`, ...) under names that start with an
# underscore; no setting of this target does, so such keys are never a misspelt setting.
EXTRA_PREFIX = "_"
ENV_CONFIG = "ENV"  # `--config ENV` asks the SDK to read TARGET_VIVA_INSIGHTS_* variables
HTTPS_SETTINGS = ("authority_host", "api_base_url")


class Bound(enum.Enum):
    """The range a numeric setting must lie in."""

    POSITIVE = "greater than 0"
    NON_NEGATIVE = "0 or more"

    def admits(self, number: float | decimal.Decimal) -> bool:
        return number > 0 if self is Bound.POSITIVE else number >= 0


NUMERIC_BOUNDS: dict[str, Bound] = {
    "poll_interval_seconds": Bound.POSITIVE,
    "await_timeout_minutes": Bound.POSITIVE,
    "request_timeout_seconds": Bound.POSITIVE,
    "previous_ingestion_wait_minutes": Bound.NON_NEGATIVE,
    "max_retries": Bound.NON_NEGATIVE,
    "full_resend_days": Bound.POSITIVE,
    # The SDK's own settings.
    "batch_size_rows": Bound.POSITIVE,
    "flattening_max_depth": Bound.NON_NEGATIVE,
    "flattening_max_key_length": Bound.POSITIVE,
}


@dataclasses.dataclass(frozen=True)
class SettingProblem:
    """What is wrong with one setting (never its value)."""

    setting: str
    problem: str

    def __str__(self) -> str:
        return f"{printable(self.setting)}: {self.problem}"


class SettingsRefusedError(ConfigurationError):
    """The configuration cannot run; every problem found is listed, each naming its setting."""

    def __init__(self, problems: Sequence[SettingProblem]) -> None:
        self.problems = list(problems)
        noun = "problem" if len(self.problems) == 1 else "problems"
        listed = "; ".join(str(problem) for problem in self.problems)
        super().__init__(f"Configuration refused ({len(self.problems)} {noun}): {listed}")


class ConfigFileError(ConfigurationError):
    """A --config file that is missing, unreadable or not a JSON object."""


# -- the --config files ------------------------------------------------------------------------------


def read_config_files(paths: Iterable[str]) -> dict[str, Any]:
    """The settings of the --config files, merged (later files win), each file read once.

    Each file must exist, be readable UTF-8 and hold one JSON object. Reading once matters: a
    `--config <(echo ...)` is a pipe, empty when read a second time.

    Args:
        paths: The values given to --config (`ENV` stands for the environment, not a file).

    Returns:
        The merged settings; fractions are `Decimal`, as the SDK's own reader gives them.

    Raises:
        ConfigFileError: naming the file and what is wrong with it.
    """
    merged: dict[str, Any] = {}
    for name in paths:
        if name == ENV_CONFIG:
            continue
        merged |= _read_config_file(Path(name))
    return merged


def _read_config_file(path: Path) -> dict[str, Any]:
    shown = printable(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"Config file {shown} does not exist.") from None
    except IsADirectoryError:
        raise ConfigFileError(f"Config file {shown} is a folder, not a file.") from None
    except OSError as error:
        raise ConfigFileError(f"Cannot read config file {shown}: {error.strerror}.") from None
    except UnicodeDecodeError as error:
        raise ConfigFileError(f"Config file {shown} is not UTF-8 text (byte {error.start}).") from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant, parse_float=decimal.Decimal)
    except json.JSONDecodeError as error:
        # The position, never the text: the file may hold secrets.
        raise ConfigFileError(
            f"Config file {shown} is not valid JSON: {error.msg} "
            f"at line {error.lineno}, column {error.colno}."
        ) from None
    except ValueError as error:
        raise ConfigFileError(f"Config file {shown} is not valid JSON: {error}.") from None
    if not isinstance(document, dict):
        raise ConfigFileError(f"Config file {shown} must hold a JSON object of settings.")
    return document


def _refuse_constant(name: str) -> None:
    # Python's json reads NaN and Infinity, the SDK's reader does not: refuse them here, by name.
    raise ValueError(f"{name} is not a JSON number")


# -- the settings ------------------------------------------------------------------------------------


def check_settings(config: Mapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Everything the run will need, checked before it reads its first record.

    Args:
        config: The merged settings (files and environment).
        schema: The target's settings schema including the SDK's built-in settings (`--about`).

    Raises:
        SettingsRefusedError: listing every problem, each naming its setting.
    """
    problems = [
        *unknown_settings(config, schema),
        *schema_problems(config, schema),
        *range_problems(config),
        *combination_problems(config),
    ]
    if not problems:
        # Touching files and folders is only worth it once the settings themselves make sense.
        problems += output_dir_problems(config)
        if not config.get("dry_run"):
            problems += connection_problems(config)
    if problems:
        raise SettingsRefusedError(problems)


def unknown_settings(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[SettingProblem]:
    """Keys that are no setting of the target or the SDK, each with the closest known name."""
    known = sorted(schema.get("properties", {}))
    problems = []
    for key in config:
        if key in schema.get("properties", {}) or key.startswith(EXTRA_PREFIX):
            continue
        guess = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        if not guess:  # a case slip ("Dry_Run") is a near miss too
            guess = [name for name in known if name.lower() == key.lower()][:1]
        hint = f"; did you mean {guess[0]}?" if guess else " (see target-viva-insights --about)"
        problems.append(SettingProblem(key, f"unknown setting{hint}"))
    return problems


def schema_problems(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[SettingProblem]:
    """Types and allowed values, in our words: jsonschema's messages would repeat the value."""
    properties = schema.get("properties", {})
    known = {key: value for key, value in config.items() if key in properties}
    validator = jsonschema.Draft202012Validator({"type": "object", "properties": properties})
    problems = []
    for error in sorted(validator.iter_errors(known), key=lambda error: list(map(str, error.path))):
        setting = ".".join(str(part) for part in error.path) or "(settings)"
        problems.append(SettingProblem(setting, _describe_schema_error(error)))
    return problems


def _describe_schema_error(error: jsonschema.ValidationError) -> str:
    if error.validator == "enum":
        return f"must be one of {', '.join(str(choice) for choice in error.validator_value)}"
    if error.validator == "type":
        expected = error.validator_value
        kinds = expected if isinstance(expected, list) else [expected]
        return f"must be {' or '.join(_TYPE_WORDS.get(kind, str(kind)) for kind in kinds if kind != 'null')}"
    return f"breaks the rule '{error.validator}' of its schema"


_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object of names and values",
    "array": "a list",
}


def range_problems(config: Mapping[str, Any]) -> list[SettingProblem]:
    """Intervals and timeouts above zero, retries not negative, every number finite."""
    problems = []
    for setting, bound in NUMERIC_BOUNDS.items():
        value = config.get(setting)
        # The SDK reads fractions from --config files as Decimal.
        if not isinstance(value, (int, float, decimal.Decimal)) or isinstance(value, bool):
            continue  # absent, or a type problem reported by schema_problems
        if not math.isfinite(value):
            problems.append(SettingProblem(setting, "must be a finite number"))
        elif not bound.admits(value):
            problems.append(SettingProblem(setting, f"must be {bound.value}"))
    return problems


def combination_problems(config: Mapping[str, Any]) -> list[SettingProblem]:
    problems = []
    m365 = config.get("destination") == "m365"
    if m365 and config.get("await_status") not in (None, "none"):
        problems.append(
            SettingProblem(
                "await_status",
                "must be none (or unset) with destination m365: Microsoft documents no status endpoint "
                "for Organizational data in Microsoft 365; the result shows in the Microsoft 365 admin "
                "center > Setup > Migration and imports",
            )
        )
    for setting in ("remove_missing_people", "full_resend_days"):
        if config.get(setting) and not m365:
            problems.append(SettingProblem(setting, "applies only to destination m365"))
    if config.get("remove_missing_people") and config.get("import_mode") != "full":
        problems.append(
            SettingProblem(
                "remove_missing_people",
                "needs import_mode: full (only a whole-population input tells who left)",
            )
        )
    if config.get("preflight_report_only") and not config.get("dry_run"):
        problems.append(
            SettingProblem(
                "preflight_report_only",
                "needs dry_run: true (data with errors is never uploaded)",
            )
        )
    return problems


def output_dir_problems(config: Mapping[str, Any]) -> list[SettingProblem]:
    """output_dir is a folder we can create and write to (created here, before any record)."""
    configured = config.get("output_dir")
    if not configured:
        return []
    path = Path(str(configured)).expanduser()
    shown = printable(path)
    if path.exists() and not path.is_dir():
        return [SettingProblem("output_dir", f"{shown} is a file, not a folder")]
    try:
        # A folder we create holds HR data: its owner's alone (an existing folder keeps its mode).
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        return [SettingProblem("output_dir", f"cannot create or write to {shown}: {error.strerror}")]
    return []


def connection_problems(config: Mapping[str, Any]) -> list[SettingProblem]:
    """What an upload needs: who we are, a credential that loads, a CA bundle that loads, HTTPS."""
    problems = [
        SettingProblem(setting, "is required to upload (or set dry_run: true)")
        for setting in ("tenant_id", "client_id")
        if not config.get(setting)
    ]
    token_file = federated_token_file(config)
    if not config.get("client_secret") and not config.get("certificate_path") and not token_file:
        problems.append(
            SettingProblem(
                "client_secret",
                "set one credential to upload (or dry_run: true): client_secret, certificate_path or "
                f"federated_token_file (or {FEDERATED_TOKEN_FILE_VARIABLE} in the environment)",
            )
        )
    if federated_beside_another(config):
        problems.append(SettingProblem("federated_token_file", FEDERATED_BESIDE_ANOTHER))
    elif token_file:
        problems += _federated_token_problems(config, token_file)
    if config.get("certificate_path"):
        problems += _certificate_problems(config)
    if config.get("ca_bundle"):
        problems += _ca_bundle_problems(str(config["ca_bundle"]))
    for setting in HTTPS_SETTINGS:
        value = config.get(setting)
        if isinstance(value, str) and not value.lower().startswith("https://"):
            # Tokens and HR data never travel over plain HTTP.
            problems.append(SettingProblem(setting, "must be an https:// URL"))
    return problems


def _certificate_problems(config: Mapping[str, Any]) -> list[SettingProblem]:
    from target_viva_insights.certificates import load_certificate  # cryptography: only when uploading

    path = Path(str(config["certificate_path"])).expanduser()
    try:
        load_certificate(path, config.get("certificate_password"))
    except ConfigurationError as error:
        return [SettingProblem("certificate_path", printable(error))]
    return []


def _federated_token_problems(config: Mapping[str, Any], token_file: str) -> list[SettingProblem]:
    """The token file exists and holds a JWT now; it is read again for every token request."""
    setting = "federated_token_file"
    if not config.get(setting):
        setting = f"{setting} ({FEDERATED_TOKEN_FILE_VARIABLE})"
    try:
        read_federated_token(Path(token_file).expanduser())
    except ConfigurationError as error:
        # The message is ours (the path in it made printable already): kept whole, never the content.
        return [SettingProblem(setting, printable(error, limit=None))]
    return []


def _ca_bundle_problems(configured: str) -> list[SettingProblem]:
    path = Path(configured).expanduser()
    shown = printable(path)
    if not path.is_file():
        return [SettingProblem("ca_bundle", f"{shown} is not a file")]
    if not os.access(path, os.R_OK):
        return [SettingProblem("ca_bundle", f"{shown} cannot be read")]
    try:
        ssl.create_default_context().load_verify_locations(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or type(error).__name__
        return [SettingProblem("ca_bundle", f"{shown} holds no usable PEM certificate ({reason})")]
    return []


def file_system_failure(error: OSError) -> ConfigurationError:
    """A file we could not write during the run (disk full, folder gone or read-only), by its place."""
    return ConfigurationError(
        f"Cannot write {printable(error.filename)}: {error.strerror or type(error).__name__}. "
        "Check output_dir and the temporary folder (TMPDIR); no state was emitted."
    )
