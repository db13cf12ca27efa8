"""The emulator's start-up options, declared once.

Each field of `EmulatorOptions` carries its flag and help in its metadata. From that one declaration come
the `viva-insights emulator` flags (`add_flags`), the options object a parsed command line gives
(`EmulatorOptions.from_arguments`) and the command line that starts an emulator process
(`EmulatorOptions.command_line`). This module imports nothing heavy: the CLI builds its parser from it.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Any

from target_viva_insights.emulator.faults import (
    DEFAULT_STEP_SECONDS,
    DEFAULT_TOKEN_LIFETIME_SECONDS,
    FaultRule,
    known_rule_id,
)

DEFAULT_DATA_DIR = Path("viva-emulator")
DEFAULT_TENANT_ID = "00000000-0000-0000-0000-000000000001"
DEFAULT_CLIENT_ID = "00000000-0000-0000-0000-000000000002"
DEFAULT_SCALE_UNIT = "emulatorwus2-01"
# The audience Entra ID documents (and its portal fills in) for a federated credential.
FEDERATION_AUDIENCE = "api://AzureADTokenExchange"
# Generous: Viva documents no upload limit for HR files; a 2,000,000-row package is about 150 MB.
DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024**3


def _flag_info(
    help: str,
    *,
    flag: str | None = None,
    metavar: str | None = None,
    parse: Callable[[str], Any] | None = None,
    render: Callable[[Any], str] = str,
) -> dict[str, Any]:
    """The metadata of a field: what the command line needs to know about it.

    Args:
        help: The flag's help text.
        flag: The flag, when it is not `--` plus the field name with dashes.
        metavar: The value's name in the help.
        parse: Turns one command-line value into the field's value (or into one list item).
        render: Turns the field's value (or one list item) back into command-line text.
    """
    return {"help": help, "flag": flag, "metavar": metavar, "parse": parse, "render": render}


@dataclasses.dataclass
class EmulatorOptions:
    """How an emulator starts: where it keeps its files, the app it registers, its initial behaviour.

    Behaviour options (from `step_seconds` on) are also the values `POST /_emulator/reset` returns to.
    """

    data_dir: Path = field(
        default=DEFAULT_DATA_DIR,
        metadata=_flag_info("CA file, kept uploads, error files and org data", metavar="DIR", parse=Path),
    )
    port: int = field(default=0, metadata=_flag_info("0 picks a free port (printed)", parse=int))
    tenant_id: str = field(
        default=DEFAULT_TENANT_ID, metadata=_flag_info("the emulated tenant (Entra directory) id")
    )
    extra_tenants: list[str] = field(
        default_factory=list,
        metadata=_flag_info(
            "another tenant where the app is consented, a multi-tenant app (repeatable): tenants kept apart",
            flag="--extra-tenant",
            metavar="TENANT_ID",
        ),
    )
    client_id: str = field(default=DEFAULT_CLIENT_ID, metadata=_flag_info("the registered app's client id"))
    client_secret: str | None = field(default=None, metadata=_flag_info("the registered app's secret"))
    certificate: Path | None = field(
        default=None,
        metadata=_flag_info(
            "PEM file with the registered app's certificate (the public part is enough)",
            metavar="CERT.pem",
            parse=Path,
        ),
    )
    federated_issuer: str | None = field(
        default=None,
        metadata=_flag_info(
            "issuer (iss) of a federated credential on the app: workload identity federation; needs "
            "--federated-subject and --federated-issuer-keys",
            metavar="URL",
        ),
    )
    federated_subject: str | None = field(
        default=None,
        metadata=_flag_info("subject (sub) the federated credential accepts, matched exactly", metavar="SUB"),
    )
    federated_audience: str = field(
        default=FEDERATION_AUDIENCE,
        metadata=_flag_info("audience (aud) the federated credential accepts", metavar="AUD"),
    )
    federated_issuer_keys: Path | None = field(
        default=None,
        metadata=_flag_info(
            "the issuer's public signing keys: a JWKS file (what its jwks_uri serves), a PEM public key "
            "or a PEM certificate",
            metavar="FILE",
            parse=Path,
        ),
    )
    scale_unit: str = field(
        default=DEFAULT_SCALE_UNIT,
        metadata=_flag_info("the scale unit the service names (x-nova-scaleunit)"),
    )
    max_upload_bytes: int = field(
        default=DEFAULT_MAX_UPLOAD_BYTES,
        metadata=_flag_info(
            "a larger declared body is answered 413 at once, unread", metavar="BYTES", parse=int
        ),
    )
    step_seconds: float = field(
        default=DEFAULT_STEP_SECONDS,
        metadata=_flag_info("duration of each status step", metavar="SECONDS", parse=float),
    )
    token_lifetime_seconds: int = field(
        default=DEFAULT_TOKEN_LIFETIME_SECONDS,
        metadata=_flag_info("access-token lifetime", flag="--token-lifetime", metavar="SECONDS", parse=int),
    )
    stuck: bool = field(default=False, metadata=_flag_info("ingestions never leave NotStarted"))
    unregistered_app: bool = field(default=False, metadata=_flag_info("403 as for an unregistered app"))
    reject: bool = field(
        default=False,
        metadata=_flag_info("every upload ends ValidationFailed (a rule only Viva checks)"),
    )
    refuse_tokens: list[str] = field(
        default_factory=list,
        metadata=_flag_info(
            "a metadata.json type token Viva is to treat as unknown (repeatable): stricter than "
            "the pre-flight",
            flag="--refuse-token",
            metavar="TOKEN",
        ),
    )
    refuse_rules: list[str] = field(
        default_factory=list,
        metadata=_flag_info(
            "a rule id whose findings Viva is to refuse, warnings too (repeatable): stricter",
            flag="--refuse-rule",
            metavar="RULE",
            parse=known_rule_id,
        ),
    )
    ignore_rules: list[str] = field(
        default_factory=list,
        metadata=_flag_info(
            "a rule id whose findings Viva is to ignore (repeatable): looser than the pre-flight",
            flag="--ignore-rule",
            metavar="RULE",
            parse=known_rule_id,
        ),
    )
    faults: list[FaultRule] = field(
        default_factory=list,
        metadata=_flag_info(
            "e.g. error:upload:1:503, throttle:*:2:1, drop:upload, drop_after_accept:upload, slow:*:1:3",
            flag="--fault",
            metavar="ACTION:ENDPOINT[:COUNT[:VALUE]]",
            parse=FaultRule.parse,
            render=FaultRule.spec,
        ),
    )

    @classmethod
    def from_arguments(cls, arguments: argparse.Namespace) -> EmulatorOptions:
        """The options a command line parsed with `add_flags` asks for."""
        return cls(**{item.name: getattr(arguments, item.name) for item in dataclasses.fields(cls)})

    def command_line(self) -> list[str]:
        """The `viva-insights emulator` arguments that start an emulator with these options.

        Options left at their default are left out, so the command stays short and readable.
        """
        defaults = EmulatorOptions()
        arguments: list[str] = []
        for option in dataclasses.fields(self):
            value, flag = getattr(self, option.name), _flag(option)
            if value == getattr(defaults, option.name) or value is None:
                continue
            render = option.metadata["render"]
            if isinstance(value, bool):
                arguments.append(flag)
            elif isinstance(value, list):
                for item in value:
                    arguments += [flag, render(item)]
            else:
                arguments += [flag, render(value)]
        return arguments


def _flag(option: dataclasses.Field[Any]) -> str:
    return option.metadata["flag"] or "--" + option.name.replace("_", "-")


def _reported(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse`, with its complaint shown by argparse (exit 2) instead of a bare "invalid value"."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except (TypeError, ValueError) as error:
            raise argparse.ArgumentTypeError(f"{text!r}: {error}") from error

    return convert


def add_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add one flag per `EmulatorOptions` option, with the option's default, to `parser`.

    Args:
        parser: The `viva-insights emulator` parser (or one of its groups).
    """
    hints = typing.get_type_hints(EmulatorOptions)
    defaults = EmulatorOptions()
    for option in dataclasses.fields(EmulatorOptions):
        default = getattr(defaults, option.name)
        help_text = option.metadata["help"].replace("%", "%%")
        common: dict[str, Any] = {"dest": option.name, "help": help_text}
        if hints[option.name] is bool:
            parser.add_argument(_flag(option), action="store_true", **common)
            continue
        parse = _reported(option.metadata["parse"] or str)
        metavar = option.metadata["metavar"] or option.name.upper()
        if isinstance(default, list):
            parser.add_argument(
                _flag(option), action="append", type=parse, default=[], metavar=metavar, **common
            )
            continue
        if default is not None:
            common["help"] += f" (default: {default})"
        parser.add_argument(_flag(option), type=parse, default=default, metavar=metavar, **common)
