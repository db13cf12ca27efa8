"""End to end: the real `meltano` CLI runs this repository's meltano.yml against the emulator.

The plugins are installed by Meltano itself from the local folders (pip_url -e ./...), as a user's
`meltano run` would. Each test gets its own system database (state) and output folder.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from target_viva_insights.emulator.process import EmulatorHandle

ROOT = Path(__file__).resolve().parents[2]
STATE_ID = "dev:tap-hrsource-to-target-viva-insights"
SAMPLE = ROOT / "sample-data" / "hr" / "employees.csv"

# A module runs on one worker (run.py), and the repository's Meltano project serves one module at a time.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("repository_project")]


@pytest.fixture
def project_env(tmp_path: Path, emulator: EmulatorHandle) -> dict[str, str]:
    emulator.reset(ingestions=True)  # a tenant without history: each scenario starts its own ledger
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for name, value in emulator.config(
        poll_interval_seconds=1, await_timeout_minutes=5, output_dir=str(tmp_path / "out")
    ).items():
        env[f"TARGET_VIVA_INSIGHTS_{name.upper()}"] = str(value)
    env["MELTANO_DATABASE_URI"] = f"sqlite:///{tmp_path / 'meltano.db'}"
    # Each test its own delivery ledger, as its own state (the default would be the project's .meltano/).
    env["TARGET_VIVA_INSIGHTS_LEDGER_PATH"] = str(tmp_path / "ledger")
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return env


def meltano(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "meltano"), "--environment=dev", *args]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )


def stored_state(env: dict[str, str]) -> dict:
    result = meltano(env, "state", "get", STATE_ID)
    return (
        json.loads(result.stdout.strip().splitlines()[-1])
        if result.returncode == 0 and result.stdout.strip()
        else {}
    )


def test_the_pipeline_uploads_the_package_and_stores_state_after_completion(project_env, emulator) -> None:
    before = len(emulator.state()["ingestions"])
    result = meltano(project_env, "run", "tap-hrsource", "target-viva-insights")
    assert result.returncode == 0, result.stderr[-3000:]

    (ingestion,) = emulator.state()["ingestions"][before:]
    assert ingestion["Status"] == "Completed"
    (package,) = Path(project_env["TARGET_VIVA_INSIGHTS_OUTPUT_DIR"]).glob("viva-insights-*.zip")
    assert Path(ingestion["Upload"]).read_bytes() == package.read_bytes()
    with zipfile.ZipFile(package) as archive:
        header = archive.read("data.csv").decode("utf-8").splitlines()[0].split(",")
        assert list(json.loads(archive.read("metadata.json"))["Mapping"]) == header
    assert "EmployeeNumber" not in header  # exclude_columns from meltano.yml
    assert (
        stored_state(project_env)["singer_state"]["bookmarks"]["employees"]["snapshot_end_date"]
        == "2026-10-01"
    )

    # Nothing changed: the tap sends no records, nothing is uploaded, and the run still succeeds.
    again = meltano(project_env, "run", "tap-hrsource", "target-viva-insights")
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(emulator.state()["ingestions"]) == before + 1
    assert "No records arrived for the HR stream" in again.stderr


def test_bad_data_fails_the_run_before_any_upload_and_commits_no_state(
    project_env, emulator, tmp_path
) -> None:
    with SAMPLE.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:300]
    rows[41]["PersonId"] = "not an address"
    bad = tmp_path / "bad.csv"
    with bad.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    project_env["TAP_HRSOURCE_STREAMS"] = json.dumps(
        [{"name": "employees", "path": str(bad), "key_properties": ["PersonId", "EffectiveDate"]}]
    )

    before = len(emulator.state()["ingestions"])
    result = meltano(project_env, "run", "tap-hrsource", "target-viva-insights")

    assert result.returncode != 0
    assert "column PersonId: not a valid email address" in result.stderr
    assert "not an address" not in result.stderr  # values stay in the report
    assert len(emulator.state()["ingestions"]) == before
    assert stored_state(project_env) == {}
    out = Path(project_env["TARGET_VIVA_INSIGHTS_OUTPUT_DIR"])
    assert list(out.glob("*.zip")) == []
    (report,) = out.glob("*-validation.csv")
    with report.open(encoding="utf-8") as handle:
        findings = [row for row in csv.DictReader(handle) if row["rule"] == "invalid-email"]
    assert [(row["column"], row["value"]) for row in findings] == [("PersonId", "not an address")]
