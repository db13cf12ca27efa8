"""The `viva-insights` command as a user runs it: a real process against the emulator process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from target_viva_insights.emulator.process import EmulatorHandle


def run_cli(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if "VIVA_INSIGHTS_" not in key}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "target_viva_insights.cli", *arguments],
        capture_output=True,
        text=True,
        env=clean,
        timeout=120,
        check=False,
    )


def settings_env(emulator: EmulatorHandle, **overrides: object) -> dict[str, str]:
    """The emulator's settings as VIVA_INSIGHTS_* variables (how a CI job passes secrets)."""
    settings = emulator.config(**overrides)
    return {
        f"VIVA_INSIGHTS_{name.upper()}": str(value) for name, value in settings.items() if value is not None
    }


def test_ping_checks_auth_scale_unit_and_connector(emulator):
    result = run_cli("ping", env=settings_env(emulator))

    assert result.returncode == 0, result.stderr
    assert f"scale_unit: {emulator.scale_unit}" in result.stdout
    assert "connection: OK" in result.stdout


def test_upload_from_a_config_file_reaches_completed(emulator, packages, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(emulator.config()))

    result = run_cli("upload", str(packages["good"]), "--config", str(config), "-v")

    assert result.returncode == 0, result.stderr
    ingestion = json.loads(result.stdout)
    assert ingestion["Status"] == "Completed"
    (kept,) = [item for item in emulator.state()["ingestions"] if item["Id"] == ingestion["Id"]]
    assert Path(kept["Upload"]).read_bytes() == packages["good"].read_bytes()
    assert "Uploading good.zip" in result.stderr
    assert emulator.client_secret not in result.stderr
    assert "Bearer " not in result.stderr
    assert "eyJ" not in result.stderr


def test_upload_of_a_pfx_authenticated_run_logs_no_password(emulator, packages, certificates, pfx_password):
    env = settings_env(
        emulator,
        client_secret=None,
        certificate_path=certificates["pfx"],
        certificate_password=pfx_password,
    )

    result = run_cli("upload", str(packages["good"]), "-v", env=env)

    assert result.returncode == 0, result.stderr
    assert pfx_password not in result.stderr
    assert "eyJ" not in result.stderr


def test_rejected_upload_saves_the_error_file_and_exits_3(emulator, packages, output_dir):
    result = run_cli(
        "upload",
        str(packages["bad"]),
        "--skip-validation",
        "--output-dir",
        str(output_dir),
        env=settings_env(emulator),
    )

    assert result.returncode == 3, result.stderr
    assert result.stdout == ""
    (error_file,) = output_dir.glob("errors-*.csv")
    assert "not-an-email" in error_file.read_text()
    assert "ValidationFailed" in result.stderr


def test_upload_validates_locally_first(emulator, packages, output_dir):
    before = len(emulator.state()["ingestions"])

    result = run_cli(
        "upload", str(packages["bad"]), "--output-dir", str(output_dir), env=settings_env(emulator)
    )

    assert result.returncode == 3
    assert "invalid-email" in result.stderr
    assert len(emulator.state()["ingestions"]) == before


def test_validate_command(packages, tmp_path):
    good = run_cli("validate", str(packages["good"]))
    bad = run_cli("validate", str(packages["bad"]), "--output-dir", str(tmp_path))

    assert good.returncode == 0, good.stderr
    assert bad.returncode == 3
    assert "invalid-email" in (tmp_path / "validation-bad.csv").read_text()


def test_status_and_errors_commands(emulator, packages, tmp_path):
    env = settings_env(emulator)
    uploaded = run_cli(
        "upload", str(packages["bad"]), "--skip-validation", "--output-dir", str(tmp_path), env=env
    )
    ingestion = emulator.state()["ingestions"][-1]

    status = run_cli("status", ingestion["Id"], env=env)
    errors = run_cli("errors", ingestion["Id"], "-o", str(tmp_path / "mine.csv"), env=env)

    assert uploaded.returncode == 3
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["Status"] == "ValidationFailed"
    assert errors.returncode == 0, errors.stderr
    assert "not-an-email" in (tmp_path / "mine.csv").read_text()


def test_flags_win_over_environment_which_wins_over_the_config_file(emulator, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(emulator.config(client_secret="from-the-file")))
    env = {"VIVA_INSIGHTS_CLIENT_SECRET": emulator.client_secret}

    from_env = run_cli("ping", "--config", str(config), env=env)
    from_flag = run_cli("ping", "--config", str(config), "--client-secret", "from-the-flag", env=env)

    assert from_env.returncode == 0, from_env.stderr
    assert from_flag.returncode == 4
    assert "AADSTS7000215" in from_flag.stderr


def test_target_prefixed_environment_variables_are_read(emulator):
    env = {
        key.replace("VIVA_INSIGHTS_", "TARGET_VIVA_INSIGHTS_"): value
        for key, value in settings_env(emulator).items()
    }

    assert run_cli("ping", env=env).returncode == 0


def test_unregistered_app_exits_5_with_advice(emulator):
    emulator.set_faults(unregistered_app=True)

    result = run_cli("ping", env=settings_env(emulator))

    assert result.returncode == 5
    assert "API-based import" in result.stderr


def test_unreachable_service_exits_6(emulator):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env = settings_env(emulator, api_base_url=f"https://localhost:{closed_port}/v1.0", max_retries=0)

    result = run_cli("ping", env=env)

    assert result.returncode == 6
    assert "failed" in result.stderr


@pytest.mark.parametrize("missing", ["VIVA_INSIGHTS_TENANT_ID", "VIVA_INSIGHTS_CLIENT_SECRET"])
def test_missing_settings_exit_2_without_prompting(emulator, missing):
    env = settings_env(emulator)
    del env[missing]

    result = run_cli("ping", env=env)

    assert result.returncode == 2


def test_a_bare_csv_is_uploaded_raw(emulator, packages, tmp_path):
    csv_file = tmp_path / "data.csv"
    with zipfile.ZipFile(packages["good"]) as archive:
        csv_file.write_bytes(archive.read("data.csv"))

    result = run_cli("upload", str(csv_file), env=settings_env(emulator))

    assert result.returncode == 0, result.stderr
    ingestion = json.loads(result.stdout)
    (kept,) = [item for item in emulator.state()["ingestions"] if item["Id"] == ingestion["Id"]]
    assert Path(kept["Upload"]).read_bytes() == csv_file.read_bytes()


def test_tls_is_verified_and_ca_bundle_adds_the_emulator_ca(emulator):
    env = settings_env(emulator, max_retries=0)
    del env["VIVA_INSIGHTS_CA_BUNDLE"]

    result = run_cli("ping", env=env)

    assert result.returncode == 6
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr


@pytest.mark.parametrize("command", ["status", "errors"])
@pytest.mark.parametrize("bad_id", ["../../etc/passwd", "123", "0f8fad5b-d9cb-469f-a165-70867728950e/../x"])
def test_an_ingestion_id_that_is_not_a_guid_exits_2_and_sends_nothing(emulator, command, bad_id):
    before = emulator.state()["tokens_issued"]

    result = run_cli(command, bad_id, env=settings_env(emulator))

    assert result.returncode == 2
    assert "is not an ingestion id" in result.stderr
    assert "Traceback" not in result.stderr
    assert emulator.state()["tokens_issued"] == before, "not even a token was requested"


@pytest.mark.parametrize("endpoint", ["token", "discovery"])
def test_an_identity_outage_exits_6_as_an_outage_without_traceback(emulator, endpoint):
    emulator.set_faults(rules=[{"action": "error", "endpoint": endpoint, "status": 503, "count": 100}])

    result = run_cli("ping", env=settings_env(emulator, max_retries=1))

    assert result.returncode == 6
    assert "identity service is unavailable" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_error_file_is_written_0600_even_over_a_wider_file(emulator, packages, tmp_path):
    env = settings_env(emulator)
    run_cli("upload", str(packages["bad"]), "--skip-validation", "--output-dir", str(tmp_path), env=env)
    ingestion = emulator.state()["ingestions"][-1]
    target = tmp_path / "wide.csv"
    target.write_text("old")
    target.chmod(0o644)

    result = run_cli("errors", ingestion["Id"], "-o", str(target), env=env)

    assert result.returncode == 0, result.stderr
    assert target.stat().st_mode & 0o777 == 0o600
    assert "not-an-email" in target.read_text()
    assert "not-an-email" not in result.stderr, "Viva's error lines hold HR values: not logged"


def test_status_wait_follows_the_ingestion_to_the_await_status_setting(emulator, packages):
    env = settings_env(emulator, await_status="none")
    uploaded = run_cli("upload", str(packages["good"]), env=env)
    ingestion_id = json.loads(uploaded.stdout)["Id"]

    followed = run_cli("status", ingestion_id, "--wait", "--await-status", "completion", env=env)

    assert uploaded.returncode == 0, uploaded.stderr
    assert json.loads(uploaded.stdout)["Status"] == "NotStarted"
    assert followed.returncode == 0, followed.stderr
    assert json.loads(followed.stdout)["Status"] == "Completed"


def test_an_error_file_target_that_cannot_be_written_exits_2_naming_it(emulator, packages, tmp_path):
    env = settings_env(emulator)
    run_cli("upload", str(packages["bad"]), "--skip-validation", "--output-dir", str(tmp_path), env=env)
    ingestion = emulator.state()["ingestions"][-1]

    result = run_cli("errors", ingestion["Id"], "-o", str(tmp_path), env=env)

    assert result.returncode == 2
    assert f"Cannot write the error file {tmp_path}" in result.stderr
    assert "Traceback" not in result.stderr
