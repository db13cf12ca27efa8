"""Settings are checked at start-up, before the first record: every problem names its setting and ends
the real `target-viva-insights` process with exit code 2 and our message as stderr's last line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import CLIENT_ID, CLIENT_SECRET, PFX_PASSWORD, TENANT_ID
from target_viva_insights import config_check
from target_viva_insights.config_check import SettingsRefusedError
from target_viva_insights.target import TargetVivaInsights
from viva_testing import hr_schema, run_target_process, singer_lines, small_org

CONFIGURATION_EXIT = 2
# Not JSON: a run that read its input before checking the settings would fail with the data exit code.
UNREADABLE_INPUT = "this line is not a Singer message\n"
CONNECTION = {"tenant_id": TENANT_ID, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    return result.stderr.strip().splitlines()[-1]


def assert_refused(result: subprocess.CompletedProcess[str], *names: str) -> str:
    assert result.returncode == CONFIGURATION_EXIT, result.stderr
    assert "Traceback" not in result.stderr
    line = last_line(result)
    assert "ERROR" in line
    for name in names:
        assert name in line, line
    assert result.stdout == ""  # no STATE
    return line


def run_real(tmp_path: Path, config: dict[str, Any], lines: str = UNREADABLE_INPUT):
    return run_target_process(config, lines, tmp_path)


def test_a_misspelt_setting_is_refused_with_a_did_you_mean(tmp_path: Path) -> None:
    result = run_real(tmp_path, {**CONNECTION, "dryrun": True, "output_dir": str(tmp_path / "out")})
    line = assert_refused(result, "dryrun", "did you mean dry_run?")
    assert "unknown setting" in line
    assert not list((tmp_path / "out").glob("*.zip"))


def test_the_sdk_and_meltano_settings_are_accepted(tmp_path: Path) -> None:
    """The SDK's built-in target settings (part of --about) and Meltano's `_` extras are not typos."""
    config = {
        "dry_run": True,
        "output_dir": str(tmp_path / "out"),
        "batch_size_rows": 1000,
        "validate_records": True,
        "add_record_metadata": False,
        "load_method": "append-only",
        "flattening_enabled": False,
        "flattening_max_depth": 1,
        "stream_maps": {},
        "stream_map_config": {},
        "_dialect": "target_viva_insights",
    }
    result = run_real(tmp_path, config, singer_lines(hr_schema(), small_org()))
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "out").glob("viva-insights-*.zip"))


def test_every_setting_in_about_is_known() -> None:
    schema = dict(TargetVivaInsights.config_jsonschema)
    TargetVivaInsights.append_builtin_config(schema)
    config = dict.fromkeys(schema["properties"])
    assert config_check.unknown_settings(config, schema) == []
    for sdk_setting in ("batch_size_rows", "stream_maps", "flattening_enabled", "validate_records"):
        assert sdk_setting in schema["properties"]


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("poll_interval_seconds", -5, "greater than 0"),
        ("poll_interval_seconds", 0, "greater than 0"),
        ("await_timeout_minutes", 0, "greater than 0"),
        ("request_timeout_seconds", -1, "greater than 0"),
        ("previous_ingestion_wait_minutes", -1, "0 or more"),
        ("max_retries", -1, "0 or more"),
        ("batch_size_rows", 0, "greater than 0"),
        ("poll_interval_seconds", -0.5, "greater than 0"),
        ("date_order", "YMD", "one of MDY, DMY"),
        ("import_mode", "replace", "one of auto, full, incremental"),
        ("await_status", "done", "one of none, validation, completion"),
        ("max_retries", "five", "whole number"),
        ("dry_run", "yes", "true or false"),
    ],
)
def test_values_out_of_range_or_of_the_wrong_kind(
    tmp_path: Path, setting: str, value: Any, expected: str
) -> None:
    result = run_real(tmp_path, {**CONNECTION, setting: value})
    assert_refused(result, setting, expected)


def test_report_only_needs_dry_run(tmp_path: Path) -> None:
    result = run_real(tmp_path, {**CONNECTION, "preflight_report_only": True})
    assert_refused(result, "preflight_report_only", "dry_run")


def test_a_secret_of_the_wrong_type_is_not_echoed(tmp_path: Path) -> None:
    result = run_real(tmp_path, {"tenant_id": TENANT_ID, "client_id": CLIENT_ID, "client_secret": 918273645})
    assert_refused(result, "client_secret", "must be text")
    assert "918273645" not in result.stderr


@pytest.mark.parametrize("missing", ["tenant_id", "client_id", "client_secret"])
def test_connection_settings_are_needed_before_the_stream_is_read(tmp_path: Path, missing: str) -> None:
    config = {key: value for key, value in CONNECTION.items() if key != missing}
    result = run_real(tmp_path, {**config, "output_dir": str(tmp_path / "out")})
    assert_refused(result, missing)
    assert not list((tmp_path / "out").glob("*"))


def test_a_dry_run_needs_no_connection_settings(tmp_path: Path) -> None:
    result = run_real(tmp_path, {"dry_run": True}, singer_lines(hr_schema(), small_org()))
    assert result.returncode == 0, result.stderr


def test_output_dir_that_is_a_file(tmp_path: Path) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    result = run_real(tmp_path, {"dry_run": True, "output_dir": str(a_file)})
    assert_refused(result, "output_dir", "is a file, not a folder")
    below = run_real(tmp_path, {"dry_run": True, "output_dir": str(a_file / "below")})
    assert_refused(below, "output_dir", "cannot create or write")


def test_output_dir_on_a_read_only_place_checked_in_process(tmp_path: Path) -> None:
    """Root ignores folder permissions; /proc refuses everyone, which proves the write probe runs."""
    problems = config_check.output_dir_problems({"output_dir": "/proc/viva-insights-test"})
    assert [problem.setting for problem in problems] == ["output_dir"]


def test_certificate_unreadable_and_wrong_password(tmp_path: Path, certificates: dict[str, Path]) -> None:
    base = {"tenant_id": TENANT_ID, "client_id": CLIENT_ID}
    missing = run_real(tmp_path, {**base, "certificate_path": str(tmp_path / "nope.pem")})
    assert_refused(missing, "certificate_path", "nope.pem")
    wrong = run_real(
        tmp_path, {**base, "certificate_path": str(certificates["pfx"]), "certificate_password": "wrong"}
    )
    line = assert_refused(wrong, "certificate_path")
    assert "wrong" not in line.split("certificate_path", 1)[1].replace("app.pfx", "")
    right = config_check.connection_problems(
        {**base, "certificate_path": str(certificates["pfx"]), "certificate_password": PFX_PASSWORD}
    )
    assert right == []
    no_key = config_check.connection_problems({**base, "certificate_path": str(certificates["public"])})
    assert [problem.setting for problem in no_key] == ["certificate_path"]


def test_ca_bundle_missing_or_not_pem(tmp_path: Path, certificates: dict[str, Path]) -> None:
    missing = run_real(tmp_path, {**CONNECTION, "ca_bundle": str(tmp_path / "ca.pem")})
    assert_refused(missing, "ca_bundle", "not a file")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    assert_refused(run_real(tmp_path, {**CONNECTION, "ca_bundle": str(junk)}), "ca_bundle", "no usable PEM")
    good = config_check.connection_problems({**CONNECTION, "ca_bundle": str(certificates["public"])})
    assert good == []


def test_plain_http_is_refused(tmp_path: Path) -> None:
    result = run_real(tmp_path, {**CONNECTION, "api_base_url": "http://example.invalid/v1.0"})
    assert_refused(result, "api_base_url", "https://")


def test_all_problems_are_listed_at_once() -> None:
    schema = dict(TargetVivaInsights.config_jsonschema)
    with pytest.raises(SettingsRefusedError) as caught:
        config_check.check_settings({"dryrun": True, "max_retries": -1, "date_order": "YMD"}, schema)
    assert [problem.setting for problem in caught.value.problems] == ["dryrun", "date_order", "max_retries"]


def test_a_control_character_in_a_key_does_not_forge_a_log_line(tmp_path: Path) -> None:
    forged = "x\n2026-01-01 00:00:00,000 | INFO | target-viva-insights | Upload accepted"
    result = run_real(tmp_path, {**CONNECTION, forged: 1})
    line = assert_refused(result, "unknown setting")
    assert "\\n2026-01-01" in line
    assert not any(text.startswith("2026-01-01 00:00:00,000") for text in result.stderr.splitlines())


def _run_with_config_file(tmp_path: Path, content: bytes | None, name: str = "config.json"):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    command = [str(Path(sys.executable).parent / "target-viva-insights"), "--config", str(path)]
    result = subprocess.run(command, input="", capture_output=True, text=True, timeout=60, check=False)
    return result, path


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"dry_run": true,', "is not valid JSON"),
        (b'{"poll_interval_seconds": Infinity}', "Infinity is not a JSON number"),
        (b'["dry_run"]', "must hold a JSON object"),
        (b'{"dry_run": "\xff"}', "is not UTF-8"),
        (None, "does not exist"),
    ],
)
def test_a_broken_config_file_is_named(tmp_path: Path, content: bytes | None, expected: str) -> None:
    result, path = _run_with_config_file(tmp_path, content)
    line = assert_refused(result, expected)
    assert str(path) in line


def test_settings_from_the_environment_are_checked_too(tmp_path: Path) -> None:
    env_config = {"TARGET_VIVA_INSIGHTS_MAX_RETRIES": "-3", "TARGET_VIVA_INSIGHTS_DRY_RUN": "true"}
    command = [str(Path(sys.executable).parent / "target-viva-insights"), "--config", "ENV"]
    result = subprocess.run(
        command,
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env_config},
    )
    assert_refused(result, "max_retries")


def test_config_file_written_by_meltano_shape_is_accepted(tmp_path: Path) -> None:
    """Meltano writes every setting of meltano.yml, nulls dropped; those are all known settings."""
    config = json.loads(json.dumps({"dry_run": True, "validate_records": True, "exclude_columns": []}))
    result = run_real(tmp_path, config, singer_lines(hr_schema(), small_org()))
    assert result.returncode == 0, result.stderr


def test_a_file_that_cannot_be_written_during_the_run_is_named(tmp_path: Path) -> None:
    """The report's name is taken by a folder (as a disk gone read-only would refuse it): no traceback."""
    import datetime

    out = tmp_path / "out"
    now = datetime.datetime.now(datetime.timezone.utc)
    for second in range(120):
        stamp = (now + datetime.timedelta(seconds=second)).strftime("%Y%m%dT%H%M%SZ")
        (out / f"viva-insights-{stamp}-validation.csv").mkdir(parents=True)
    result = run_real(
        tmp_path, {"dry_run": True, "output_dir": str(out)}, singer_lines(hr_schema(), small_org())
    )
    line = assert_refused(result, "Cannot write", "-validation.csv", "no state was emitted")
    assert "Is a directory" in line


def test_a_stream_map_that_cannot_apply_is_a_configuration_error(tmp_path: Path) -> None:
    config = {"dry_run": True, "stream_maps": {"employees": {"Extra": "1 +* (("}}}
    result = run_real(tmp_path, config, singer_lines(hr_schema(), small_org()))
    assert_refused(result, "stream_maps", "Failed to parse expression")
