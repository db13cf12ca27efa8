"""The whole target as a process: Singer in, upload to the emulator, STATE only after success."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from target_viva_insights.emulator.process import EmulatorHandle

SCHEMA = {
    "type": "object",
    "properties": {
        "PersonId": {"type": "string"},
        "ManagerId": {"type": ["string", "null"]},
        "Organization": {"type": "string"},
        "EffectiveDate": {"type": "string", "format": "date"},
    },
}
PEOPLE = [
    ("ceo@contoso.com", None, "Executive"),
    ("ana@contoso.com", "ceo@contoso.com", "Sales"),
    ("bo@contoso.com", "ceo@contoso.com", "Engineering"),
    ("cy@contoso.com", "ana@contoso.com", "Sales"),
]
TARGET_MAIN = "from target_viva_insights.target import TargetVivaInsights as T; T.cli()"
STATE = {"bookmarks": {"employees": {"replication_key_value": "2026-11-01"}}}


def singer_input(people: list[tuple[str, str | None, str]]) -> str:
    messages = [{"type": "SCHEMA", "stream": "employees", "schema": SCHEMA, "key_properties": []}]
    messages += [
        {
            "type": "RECORD",
            "stream": "employees",
            "record": {"PersonId": p, "ManagerId": m, "Organization": o, "EffectiveDate": "2026-01-01"},
        }
        for p, m, o in people
    ]
    messages.append({"type": "STATE", "value": STATE})
    return "".join(json.dumps(message) + "\n" for message in messages)


def run_target(
    emulator: EmulatorHandle, tmp_path: Path, people, **settings
) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(emulator.config(output_dir=str(tmp_path / "out"), **settings)))
    return subprocess.run(
        [sys.executable, "-c", TARGET_MAIN, "--config", str(config)],
        input=singer_input(people),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_target_uploads_and_emits_state_after_completion(emulator, tmp_path):
    result = run_target(emulator, tmp_path, PEOPLE)

    assert result.returncode == 0, result.stderr[-3000:]
    assert [json.loads(line) for line in result.stdout.splitlines()] == [STATE]
    (package,) = (tmp_path / "out").glob("viva-insights-*.zip")
    (ingestion,) = [item for item in emulator.state()["ingestions"] if item["Status"] == "Completed"]
    assert Path(ingestion["Upload"]).read_bytes() == package.read_bytes()
    assert emulator.client_secret not in result.stderr


def test_target_rejected_by_the_service_saves_errors_and_emits_no_state(emulator, tmp_path):
    # The pre-flight never lets invalid data through, so the emulator stands for a rule only Viva checks.
    emulator.set_faults(reject=True)

    result = run_target(emulator, tmp_path, PEOPLE)

    assert result.returncode != 0
    assert result.stdout == ""
    (error_file,) = (tmp_path / "out").glob("errors-*.csv")
    assert "service-rule" in error_file.read_text()
    assert "ValidationFailed" in result.stderr


def test_target_with_a_stuck_ingestion_emits_no_state(emulator, tmp_path):
    emulator.set_faults(stuck=True)

    result = run_target(emulator, tmp_path, PEOPLE, await_timeout_minutes=0.02)

    assert result.returncode != 0
    assert result.stdout == ""
    assert "still NotStarted" in result.stderr
