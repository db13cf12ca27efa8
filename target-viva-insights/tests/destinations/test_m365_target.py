"""The whole target as a process with `destination: m365`, against the emulator's MODIS store: a first
load, an unchanged rerun that posts nothing, a change that posts only the changed people with `''` for a
removed value, a wrong secret refused before any POST, and await_status refused at start-up."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from target_viva_insights.emulator.process import EmulatorHandle

SCHEMA = {
    "type": "object",
    "properties": {
        "PersonId": {"type": "string"},
        "ManagerId": {"type": ["string", "null"]},
        "Organization": {"type": "string"},
        "Team": {"type": ["string", "null"]},
        "EffectiveDate": {"type": "string", "format": "date"},
    },
}
TARGET_MAIN = "from target_viva_insights.target import TargetVivaInsights as T; T.cli()"
# A leader and 20 reports: every manager set but the leader's (95.2%, above the service's 95% gate).
PEOPLE: list[dict[str, Any]] = [
    {"PersonId": "lead@contoso.com", "ManagerId": None, "Organization": "Exec", "Team": "Top"},
    *(
        {
            "PersonId": f"p{n}@contoso.com",
            "ManagerId": "lead@contoso.com",
            "Organization": "Sales",
            "Team": "Red",
        }
        for n in range(1, 21)
    ),
]


def singer_input(people: list[dict[str, Any]], *, history: bool = False) -> str:
    messages: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": "employees", "schema": SCHEMA, "key_properties": []}
    ]
    for person in people:
        if history:  # an older row per person: only the latest may be sent
            old = {**person, "Organization": "Old", "EffectiveDate": "2020-01-01"}
            messages.append({"type": "RECORD", "stream": "employees", "record": old})
        record = {**person, "EffectiveDate": "2026-01-01"}
        messages.append({"type": "RECORD", "stream": "employees", "record": record})
    return "".join(json.dumps(message) + "\n" for message in messages)


def run_m365(
    config: dict[str, Any], tmp_path: Path, people: list[dict[str, Any]], name: str, **settings: Any
) -> tuple[subprocess.CompletedProcess[str], Path]:
    history = bool(settings.pop("history", False))
    out = tmp_path / name
    path = tmp_path / f"{name}.json"
    path.write_text(
        json.dumps(
            {**config, "destination": "m365", "output_dir": str(out), "ledger_path": str(tmp_path / "ledger")}
            | settings
        )
    )
    result = subprocess.run(
        [sys.executable, "-c", TARGET_MAIN, "--config", str(path)],
        input=singer_input(people, history=history),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return result, out


def sent_rows(out: Path) -> list[dict[str, str]]:
    (upload,) = [p for p in out.glob("m365-*.csv") if not p.name.endswith(("-header.csv", "-validation.csv"))]
    return list(csv.DictReader(io.StringIO(upload.read_text(encoding="utf-8"))))


@pytest.fixture
def modis(emulator: EmulatorHandle) -> EmulatorHandle:
    emulator.reset(org_data=True)
    return emulator


def test_first_run_rerun_and_change_against_the_emulator(modis: EmulatorHandle, tmp_path: Path) -> None:
    first, out = run_m365(modis.config(), tmp_path, PEOPLE, "first")
    assert first.returncode == 0, first.stderr[-3000:]
    rows = sent_rows(out)
    assert len(rows) == 21 and list(rows[0]) == [
        "Microsoft_PersonEmail",
        "Microsoft_ManagerEmail",
        "Microsoft_Organization",
        "Team",
    ]
    (header,) = out.glob("m365-*-header.csv")
    assert header.read_text() == "Microsoft_PersonEmail,Microsoft_ManagerEmail,Microsoft_Organization,Team\n"
    assert "Migration and imports" in first.stderr
    assert len(modis.modis()["ingestions"]) == 1

    rerun, out = run_m365(modis.config(), tmp_path, PEOPLE, "rerun")
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "Nothing changed since the last upload to Microsoft 365: no upload." in rerun.stderr
    assert sorted(p.name.split("-")[-1] for p in out.glob("m365-*")) == ["header.csv", "validation.csv"]
    assert len(modis.modis()["ingestions"]) == 1

    changed = [dict(person) for person in PEOPLE]
    changed[1]["Team"] = None  # a removed value
    changed[2]["Organization"] = "Engineering"
    change, out = run_m365(modis.config(), tmp_path, changed, "change")
    assert change.returncode == 0, change.stderr[-3000:]
    rows = sent_rows(out)
    assert [row["Microsoft_PersonEmail"] for row in rows] == ["p1@contoso.com", "p2@contoso.com"]
    assert rows[0]["Team"] == "''" and rows[1]["Microsoft_Organization"] == "Engineering"
    assert len(modis.modis()["ingestions"]) == 2
    held = modis.modis()["people"]
    assert (
        "Team" not in held["p1@contoso.com"]
        and held["p2@contoso.com"]["Microsoft_Organization"] == "Engineering"
    )


def test_a_lost_ledger_sends_no_deletions_and_warns_that_blanks_keep_held_values(
    modis: EmulatorHandle, tmp_path: Path
) -> None:
    first, _ = run_m365(modis.config(), tmp_path, PEOPLE, "first")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Its 1 blank cells (Microsoft_ManagerEmail 1)" in first.stderr  # the leader's manager
    shutil.rmtree(tmp_path / "ledger")  # an ephemeral runner
    changed = [dict(person) for person in PEOPLE]
    changed[1]["Team"] = None  # removed at the source after the upload the ledger forgot
    again, out = run_m365(modis.config(), tmp_path, changed, "again")
    assert again.returncode == 0, again.stderr[-3000:]
    rows = {row["Microsoft_PersonEmail"]: row for row in sent_rows(out)}
    assert len(rows) == 21 and rows["p1@contoso.com"]["Team"] == ""  # a blank, not the delete token
    assert not [row for row in rows.values() if "''" in row.values()]
    assert "Its 2 blank cells (Microsoft_ManagerEmail 1, Team 1) keep whatever the tenant" in again.stderr
    assert modis.modis()["people"]["p1@contoso.com"]["Team"] == "Red"  # stale, and the log says so


def test_only_the_latest_row_of_each_person_is_sent(modis: EmulatorHandle, tmp_path: Path) -> None:
    result, out = run_m365(modis.config(), tmp_path, PEOPLE, "history", history=True)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = sent_rows(out)
    assert len(rows) == 21 and "Old" not in {row["Microsoft_Organization"] for row in rows}


def test_a_wrong_secret_fails_before_anything_is_posted(modis: EmulatorHandle, tmp_path: Path) -> None:
    result, _ = run_m365(modis.config(client_secret="wrong"), tmp_path, PEOPLE, "wrong")
    assert result.returncode == 4, result.stderr[-3000:]
    assert modis.modis()["ingestions"] == []


def test_await_status_other_than_none_is_refused_at_start_up(modis: EmulatorHandle, tmp_path: Path) -> None:
    result, _ = run_m365(modis.config(), tmp_path, PEOPLE, "await", await_status="completion")
    assert result.returncode == 2
    assert "await_status" in result.stderr and "no status endpoint" in result.stderr
    assert modis.modis()["ingestions"] == []


def test_coverage_below_95_percent_is_refused_before_the_post(modis: EmulatorHandle, tmp_path: Path) -> None:
    few = [dict(person) for person in PEOPLE]
    for person in few[1:4]:
        person["ManagerId"] = None
    result, out = run_m365(modis.config(), tmp_path, few, "coverage")
    assert result.returncode == 3, result.stderr[-3000:]
    assert "m365-coverage" in result.stderr
    assert modis.modis()["ingestions"] == []
    assert list(out.glob("m365-*-validation.csv"))


def test_the_header_command_prints_and_writes_the_header_only_csv(tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("PersonId,ManagerId,FunctionType,EffectiveDate,Team\na@x.com,,Eng,01/01/2025,Secret\n")
    command = [sys.executable, "-m", "target_viva_insights.cli", "m365-header", str(data)]
    printed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == "Microsoft_PersonEmail,Microsoft_ManagerEmail,Microsoft_JobDiscipline,Team\n"
    config = tmp_path / "config.json"
    # A name column_mapping gives is kept: the admin mapped "Company" in the admin center.
    config.write_text(json.dumps({"column_mapping": {"employer": "Company"}}))
    data.write_text("PersonId,Company\na@x.com,Secret\n")
    output = tmp_path / "header.csv"
    output.write_text("an older file, world-readable\n")
    output.chmod(0o644)
    written = subprocess.run(
        [*command, "--config", str(config), "-o", str(output)], capture_output=True, text=True, timeout=60
    )
    assert written.returncode == 0, written.stderr
    assert output.read_text() == "Microsoft_PersonEmail,Company\n"
    assert output.stat().st_mode & 0o777 == 0o600
    assert "Secret" not in written.stdout + written.stderr + printed.stdout + printed.stderr


def test_the_header_command_names_a_missing_file(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "target_viva_insights.cli", "m365-header", str(tmp_path / "none.csv")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2 and "none.csv" in result.stderr


def test_a_whole_population_input_counts_the_missing_and_deletes_them_only_when_asked(
    modis: EmulatorHandle, tmp_path: Path
) -> None:
    first, _ = run_m365(modis.config(), tmp_path, PEOPLE, "first", import_mode="full")
    assert first.returncode == 0, first.stderr[-3000:]
    without_p20 = PEOPLE[:-1]
    counted, _ = run_m365(modis.config(), tmp_path, without_p20, "counted", import_mode="full")
    assert counted.returncode == 0, counted.stderr[-3000:]
    assert "1 people the tenant holds are not in this whole-population input" in counted.stderr
    assert "p20@contoso.com" in modis.modis()["people"]
    deleted, out = run_m365(
        modis.config(), tmp_path, without_p20, "deleted", import_mode="full", remove_missing_people=True
    )
    assert deleted.returncode == 0, deleted.stderr[-3000:]
    (row,) = sent_rows(out)
    assert row == {
        "Microsoft_PersonEmail": "p20@contoso.com",
        "Microsoft_ManagerEmail": "''",
        "Microsoft_Organization": "''",
        "Team": "''",
    }
    assert "p20@contoso.com" not in modis.modis()["people"]


def test_deleting_more_than_the_drop_guard_allows_is_refused(modis: EmulatorHandle, tmp_path: Path) -> None:
    first, _ = run_m365(modis.config(), tmp_path, PEOPLE, "first")
    assert first.returncode == 0, first.stderr[-3000:]
    settings = {"import_mode": "full", "remove_missing_people": True, "max_population_drop_percent": 1}
    refused, _ = run_m365(modis.config(), tmp_path, PEOPLE[:-1], "refused", **settings)
    assert refused.returncode == 3, refused.stderr[-3000:]
    assert "max_population_drop_percent" in refused.stderr
    assert len(modis.modis()["ingestions"]) == 1


def test_remove_missing_people_needs_a_whole_population_input(modis: EmulatorHandle, tmp_path: Path) -> None:
    result, _ = run_m365(modis.config(), tmp_path, PEOPLE, "settings", remove_missing_people=True)
    assert result.returncode == 2 and "needs import_mode: full" in result.stderr


def test_full_resend_days_sends_everyone_once_the_last_full_send_is_old(
    modis: EmulatorHandle, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    first, _ = run_m365(modis.config(), tmp_path, PEOPLE, "first", full_resend_days=30)
    assert first.returncode == 0, first.stderr[-3000:]
    soon, _ = run_m365(modis.config(), tmp_path, PEOPLE, "soon", full_resend_days=30)
    assert "no upload" in soon.stderr
    (state_file,) = (tmp_path / "ledger").glob("*/m365-state.parquet")
    state = pq.read_table(state_file)
    pq.write_table(state.replace_schema_metadata({b"last_full_send": b"2020-01-01"}), state_file)
    late, out = run_m365(modis.config(), tmp_path, PEOPLE, "late", full_resend_days=30)
    assert late.returncode == 0, late.stderr[-3000:]
    assert len(sent_rows(out)) == 21 and "everyone resent (full_resend_days)" in late.stderr


def _dry_run(
    tmp_path: Path, extra: dict[str, str | None], **settings: Any
) -> subprocess.CompletedProcess[str]:
    """A dry run (no connection settings) of PEOPLE with `extra` set on the first report."""
    names = ["PersonId", "ManagerId", "Organization", "EffectiveDate", *extra]
    schema = {"type": "object", "properties": {name: {"type": ["string", "null"]} for name in names}}
    messages: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": "hr", "schema": schema, "key_properties": []}
    ]
    for number, person in enumerate(PEOPLE):
        record = {key: person[key] for key in ("PersonId", "ManagerId", "Organization")}
        record["EffectiveDate"] = "2026-01-01"
        record.update(extra if number == 1 else dict.fromkeys(extra))
        messages.append({"type": "RECORD", "stream": "hr", "record": record})
    config = tmp_path / "dry.json"
    config.write_text(
        json.dumps({"destination": "m365", "dry_run": True, "output_dir": str(tmp_path), **settings})
    )
    return subprocess.run(
        [sys.executable, "-c", TARGET_MAIN, "--config", str(config)],
        input="".join(json.dumps(message) + "\n" for message in messages),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize(
    ("extra", "rule"),
    [
        ({"GlintEmploymentStatus": "Gone"}, "m365-glint-employment-status"),
        # The HR rules already refuse these (the same formats), before Microsoft 365's are applied.
        ({"Layer": "-2"}, "Layer"),
        ({"HourlyRate": "$12"}, "invalid-double"),
        ({"HireDate": "2026-02-30"}, "HireDate"),
    ],
)
def test_microsoft_365_rules_refuse_the_run_before_any_upload(
    tmp_path: Path, extra: dict[str, str | None], rule: str
) -> None:
    result = _dry_run(tmp_path, extra)
    assert result.returncode == 3, result.stderr[-3000:]
    assert rule in result.stderr and "nothing was uploaded to Microsoft 365" in result.stderr
    assert not [
        p for p in tmp_path.glob("m365-*.csv") if not p.name.endswith(("-header.csv", "-validation.csv"))
    ]


def test_a_partial_name_group_is_a_warning_and_the_dry_run_writes_the_csv(tmp_path: Path) -> None:
    result = _dry_run(tmp_path, {"FirstName": "Ann", "LastName": None, "DisplayName": None})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "m365-name-group" in result.stderr
    assert "dry_run: the CSV is not uploaded" in result.stderr
    (upload,) = [
        p for p in tmp_path.glob("m365-*.csv") if not p.name.endswith(("-header.csv", "-validation.csv"))
    ]
    assert (
        upload.read_text()
        .splitlines()[0]
        .endswith("Microsoft_FirstName,Microsoft_LastName,Microsoft_DisplayName")
    )


def test_two_columns_taking_one_header_end_naming_column_mapping(tmp_path: Path) -> None:
    result = _dry_run(tmp_path, {"Microsoft_PersonEmail": "x@contoso.com"})
    assert result.returncode == 2, result.stderr[-3000:]
    assert "column_mapping" in result.stderr and "Traceback" not in result.stderr


def test_a_microsoft_365_run_leaves_the_data_quality_report_beside_its_csv(tmp_path: Path) -> None:
    result = _dry_run(tmp_path, {})
    assert result.returncode == 0, result.stderr[-3000:]
    (page,) = tmp_path.glob("m365-*-quality.html")
    assert (page.stat().st_mode & 0o777) == 0o600
    assert f"Data-quality report: {page}" in result.stderr
    assert f"{len(PEOPLE):,}" in page.read_text(encoding="utf-8")
    refused = tmp_path / "refused"
    refused.mkdir()
    result = _dry_run(refused, {"GlintEmploymentStatus": "Gone"})
    assert result.returncode == 3
    (page,) = refused.glob("m365-*-quality.html")
    assert f"Data-quality report: {page}" in result.stderr
