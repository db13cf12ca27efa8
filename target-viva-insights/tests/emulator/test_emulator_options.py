"""The emulator's options, declared once: flags, options object and process command line agree."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from target_viva_insights.catalogue import Rule
from target_viva_insights.cli import build_parser
from target_viva_insights.emulator.faults import FaultRule
from target_viva_insights.emulator.options import EmulatorOptions
from target_viva_insights.emulator.process import emulator_command


def parsed(arguments: list[str]) -> EmulatorOptions:
    return EmulatorOptions.from_arguments(build_parser().parse_args(["emulator", *arguments]))


def test_no_flags_give_the_declared_defaults():
    assert parsed([]) == EmulatorOptions()


def test_every_option_survives_the_command_line_round_trip(tmp_path: Path):
    options = EmulatorOptions(
        data_dir=tmp_path / "emu",
        port=8443,
        tenant_id="t-1",
        extra_tenants=["t-2", "t-3"],
        client_id="c-1",
        client_secret="s3cret",
        certificate=tmp_path / "app.pem",
        federated_issuer="https://token.actions.githubusercontent.com",
        federated_subject="repo:contoso/hr-sync:environment:production",
        federated_audience="api://custom-audience",
        federated_issuer_keys=tmp_path / "jwks.json",
        scale_unit="su-9",
        max_upload_bytes=1000,
        step_seconds=0.25,
        token_lifetime_seconds=5,
        stuck=True,
        unregistered_app=True,
        reject=True,
        refuse_tokens=["StringType", "EmailType"],
        refuse_rules=[Rule.FEW_MONTHLY_SNAPSHOTS.id],
        ignore_rules=[Rule.INVALID_EMAIL.id, Rule.REPORTING_LOOP.id],
        faults=[
            FaultRule("error", "upload", 2, status=502),
            FaultRule("throttle", "*", 1, retry_after=3),
            FaultRule("slow", "status", 1, delay=0.5),
            FaultRule("drop_after_accept", "upload"),
        ],
    )
    # Every field differs from its default, so the round trip covers every flag.
    defaults = EmulatorOptions()
    for option in dataclasses.fields(EmulatorOptions):
        assert getattr(options, option.name) != getattr(defaults, option.name), option.name
    assert parsed(options.command_line()) == options


def test_the_process_command_carries_only_what_differs_from_the_defaults(tmp_path: Path):
    command = emulator_command(EmulatorOptions(data_dir=tmp_path, step_seconds=0.3))
    assert command[:4] == [sys.executable, "-m", "target_viva_insights.cli", "emulator"]
    assert command[4:] == ["--data-dir", str(tmp_path), "--step-seconds", "0.3"]


def test_a_bad_fault_spec_is_a_usage_error_naming_it():
    result = subprocess.run(
        [sys.executable, "-m", "target_viva_insights.cli", "emulator", "--fault", "explode:upload"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--fault" in result.stderr
    assert "unknown fault action 'explode'" in result.stderr


def test_an_unknown_rule_id_is_a_usage_error_with_a_suggestion():
    result = subprocess.run(
        [sys.executable, "-m", "target_viva_insights.cli", "emulator", "--ignore-rule", "invalid-emial"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--ignore-rule" in result.stderr
    assert "did you mean 'invalid-email'?" in result.stderr


@pytest.mark.parametrize(
    "document",
    [{"nonsense": True}, {"refuse_tokens": "StringType"}, {"refuse_rules": ["no-such-rule"]}],
)
def test_the_control_api_refuses_unknown_or_malformed_behaviour(emulator, document):
    import requests

    response = requests.post(
        f"{emulator.control_url}/faults", json=document, verify=str(emulator.ca_bundle), timeout=30
    )
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert next(iter(document)) in message or "no-such-rule" in message


def test_reset_returns_to_the_start_up_behaviour(emulator):
    started = emulator.state()["faults"]
    emulator.set_faults(stuck=True, refuse_tokens=["StringType"], ignore_rules=[Rule.INVALID_EMAIL.id])
    assert emulator.state()["faults"]["refuse_tokens"] == ["StringType"]
    emulator.reset()
    assert emulator.state()["faults"] == started


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--certificate", "{tmp}/missing.pem"], "--certificate"),
        (["--certificate", "{tmp}/not-a-certificate.pem"], "not a readable PEM certificate"),
        (["--data-dir", "{tmp}/a-file/emulator"], "--data-dir"),
    ],
)
def test_unusable_start_up_options_exit_2_naming_the_option(tmp_path: Path, flags: list[str], named: str):
    (tmp_path / "not-a-certificate.pem").write_text("hello")
    (tmp_path / "a-file").write_text("")
    arguments = [flag.format(tmp=tmp_path) for flag in flags]
    if "--data-dir" not in flags:
        arguments += ["--data-dir", str(tmp_path / "emulator")]
    result = subprocess.run(
        [sys.executable, "-m", "target_viva_insights.cli", "emulator", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr
