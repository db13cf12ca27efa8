"""When Viva and our pre-flight disagree: the emulated service made stricter or looser than the target's
validator, and what the target (a real process, not a dry run) does then.

Stricter: the run fails with Viva's error file downloaded, exit code 3 (data) and no STATE on stdout,
so the next run sends the data again. Looser: the pre-flight still keeps data it judges invalid from
being sent at all, while `viva-insights upload --skip-validation` lets the service decide.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from target_viva_insights.catalogue import Rule, Severity
from target_viva_insights.emulator.process import EmulatorHandle
from viva_testing import hr_schema, run_target_process, singer_lines, small_org

DATA_EXIT_CODE = 3
STATE = {"bookmarks": {"employees": {"replication_key_value": "2025-01-01"}}}
# Rules of the catalogue the tests make the service disagree on.
FEW_SNAPSHOTS = Rule.FEW_MONTHLY_SNAPSHOTS.id
INVALID_EMAIL = Rule.INVALID_EMAIL.id


def run(emulator: EmulatorHandle, tmp_path: Path, records: list[dict]) -> subprocess.CompletedProcess[str]:
    config = emulator.config(output_dir=str(tmp_path / "out"))
    return run_target_process(config, singer_lines(hr_schema(), records, state=STATE), tmp_path)


def state_lines(stdout: str) -> list[dict]:
    """What the target emitted as state (a Singer target writes each state value as a JSON line)."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def error_file(tmp_path: Path) -> list[dict[str, str]]:
    (path,) = (tmp_path / "out").glob("errors-*.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def uploads(emulator: EmulatorHandle) -> list[dict]:
    return emulator.state()["ingestions"]


@pytest.fixture
def viva(emulator: EmulatorHandle) -> EmulatorHandle:
    """The emulator with no org data, agreeing with the pre-flight until a test says otherwise."""
    emulator.reset(org_data=True)
    return emulator


def test_when_viva_agrees_the_run_completes_and_emits_state(viva, tmp_path):
    result = run(viva, tmp_path, small_org())
    assert result.returncode == 0, result.stderr[-3000:]
    assert state_lines(result.stdout) == [STATE]
    assert viva.org_data(records=False)["rows"] == len(small_org())


def test_a_type_token_viva_does_not_know_fails_the_run_without_state(viva, tmp_path):
    viva.set_faults(refuse_tokens=["StringType"])
    before = len(uploads(viva))
    result = run(viva, tmp_path, small_org())
    assert result.returncode == DATA_EXIT_CODE, result.stderr[-3000:]
    assert state_lines(result.stdout) == []
    # Our pre-flight passed it (the package went up), Viva refused it and its error file is here.
    assert len(uploads(viva)) == before + 1
    assert uploads(viva)[-1]["Status"] == "ValidationFailed"
    refused = [row for row in error_file(tmp_path) if row["rule"] == "unknown-type"]
    assert refused and refused[0]["severity"] == "error"
    assert refused[0]["column"] == "Organization" and "StringType" in refused[0]["message"]
    assert "errors-" in result.stderr
    assert viva.org_data(records=False)["rows"] == 0


def test_a_rule_viva_enforces_where_we_only_warn_fails_the_run_without_state(viva, tmp_path):
    assert Rule.FEW_MONTHLY_SNAPSHOTS.severity is Severity.WARNING
    viva.set_faults(refuse_rules=[FEW_SNAPSHOTS])
    result = run(viva, tmp_path, small_org())
    assert result.returncode == DATA_EXIT_CODE, result.stderr[-3000:]
    assert state_lines(result.stdout) == []
    findings = [row for row in error_file(tmp_path) if row["rule"] == FEW_SNAPSHOTS]
    assert findings and {row["severity"] for row in findings} == {"error"}
    assert viva.org_data(records=False)["rows"] == 0


def test_a_rule_viva_does_not_check_does_not_get_data_past_our_pre_flight(viva, tmp_path):
    assert Rule.INVALID_EMAIL.severity is Severity.ERROR
    viva.set_faults(ignore_rules=[INVALID_EMAIL])
    before = len(uploads(viva))
    records = [*small_org(), {**small_org()[1], "PersonId": "not-an-email"}]
    result = run(viva, tmp_path, records)
    assert result.returncode == DATA_EXIT_CODE, result.stderr[-3000:]
    assert INVALID_EMAIL in result.stderr
    assert state_lines(result.stdout) == []
    assert len(uploads(viva)) == before  # nothing was sent


def test_upload_skipping_the_pre_flight_lets_the_looser_service_decide(viva, tmp_path, packages):
    """The `bad` package breaks a rule of our pre-flight; a service that ignores that rule takes it."""
    bad_rules = _pre_flight_errors(packages["bad"], tmp_path)
    assert bad_rules, "the bad package should break a rule of the pre-flight"
    viva.set_faults(ignore_rules=sorted(bad_rules))
    config = tmp_path / "config.json"
    config.write_text(json.dumps(viva.config(output_dir=str(tmp_path / "out"))))
    command = [sys.executable, "-m", "target_viva_insights.cli", "upload", str(packages["bad"])]
    result = subprocess.run(
        [*command, "--skip-validation", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["Status"] == "Completed"
    assert viva.org_data(records=False)["rows"] == 4


def _pre_flight_errors(package: Path, tmp_path: Path) -> set[str]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "target_viva_insights.cli",
            "validate",
            str(package),
            "--output-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == DATA_EXIT_CODE, result.stderr[-3000:]
    (report,) = tmp_path.glob("validation-*.csv")
    with report.open(encoding="utf-8", newline="") as handle:
        return {row["rule"] for row in csv.DictReader(handle) if row["severity"] == "error"}
