"""Personal data stays where it belongs: values only in the validation report, files we write 0600
whatever the umask, a report that is safe in a spreadsheet, names that cannot forge a log line."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import METADATA, write_package
from target_viva_insights.log_text import printable
from target_viva_insights.validation.report import Issue, Rule, ValidationReport, spreadsheet_safe
from viva_testing import hr_schema, run_target_process, singer_lines, small_org


@pytest.fixture
def open_umask() -> Iterator[None]:
    """umask 000: every file we create would be world-readable unless we set its mode ourselves."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_package_and_report_are_0600_whatever_the_umask(run_target, open_umask) -> None:
    records = small_org()
    records[2]["Organization"] = ""  # one error: the report has a row
    bad = run_target(singer_lines(hr_schema(), records), preflight_report_only=True)
    assert bad.error is None, bad.error
    (package,) = bad.packages
    (report,) = bad.output_dir.glob("viva-insights-*-validation.csv")
    assert mode(package) == 0o600
    assert mode(report) == 0o600


def test_an_existing_report_file_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_text("old")
    path.chmod(0o644)
    ValidationReport(source="test").write_csv(path)
    assert mode(path) == 0o600


FORMULAS = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tindent", "\rreturn"]


@pytest.mark.parametrize("formula", FORMULAS)
def test_spreadsheet_formulas_are_neutralised_in_the_report(formula: str) -> None:
    assert spreadsheet_safe(formula) == "'" + formula
    assert spreadsheet_safe("Sales") == "Sales"


def test_report_neutralises_formulas_but_data_csv_keeps_them(run_target) -> None:
    records = small_org()
    records[1]["Organization"] = "=cmd|' /C calc'!A0"
    records[2]["Organization"] = ""  # an error, so the report lists a row
    records[3]["PersonId"] = "@not-an-email"
    outcome = run_target(singer_lines(hr_schema(), records), preflight_report_only=True)
    assert outcome.error is None, outcome.error
    data = list(csv.DictReader(io.StringIO(outcome.data_csv().decode("utf-8"))))
    assert data[1]["Organization"] == "=cmd|' /C calc'!A0"  # exactly as sent
    assert data[3]["PersonId"] == "@not-an-email"
    for row in outcome.report_rows:
        for cell in row.values():
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
    values = [row["value"] for row in outcome.report_rows]
    assert "'@not-an-email" in values


def test_issue_descriptions_for_logs_hold_no_value() -> None:
    issue = Issue(Rule.INVALID_EMAIL, "not a valid email address", 3, "PersonId", "alice@x")
    assert "alice@x" not in issue.describe_without_value()


def test_validate_command_prints_no_cell_value(tmp_path: Path) -> None:
    secret_value = "salary-98765-not-an-email"
    package = write_package(
        tmp_path / "bad.zip",
        ["ceo@contoso.com,,Executive,01/01/2026", f"{secret_value},ceo@contoso.com,Sales,01/01/2026"],
    )
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
    assert result.returncode == 3
    assert secret_value not in result.stderr + result.stdout
    report = tmp_path / "validation-bad.csv"
    assert secret_value in report.read_text()  # the value is where it belongs
    assert mode(report) == 0o600


def test_logs_of_a_run_hold_no_record_value(tmp_path: Path) -> None:
    """A failing run through the real process: what it logs names rows and columns, never values."""
    records = small_org()
    records[1]["PersonId"] = "zed-private-value"
    records[1]["Organization"] = "Org-private-value"
    result = run_target_process(
        {"dry_run": True, "output_dir": str(tmp_path / "out")}, singer_lines(hr_schema(), records), tmp_path
    )
    assert result.returncode == 3
    assert "private-value" not in result.stderr
    assert "contoso.com" not in result.stderr


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Org\nERROR forged", "Org\\nERROR forged"),
        ("A\x1b[2Jclear", "A\\x1b[2Jclear"),
        ("line\u2028sep", "line\\u2028sep"),
        ("tab\there", "tab\\there"),
        ("Zoë 山田", "Zoë 山田"),
    ],
)
def test_printable_escapes_what_could_forge_a_log_line(name: str, shown: str) -> None:
    assert printable(name) == shown
    assert "\n" not in printable(name)


def test_a_column_name_with_a_line_break_does_not_forge_a_log_line(tmp_path: Path) -> None:
    forged = "Dept\n2026-01-01 00:00:00,000 | INFO     | target-viva-insights | Upload accepted"
    records = [{**record, forged: "x"} for record in small_org()]
    schema = hr_schema({forged: {"type": "string"}})
    result = run_target_process(
        {"dry_run": True, "output_dir": str(tmp_path / "out")}, singer_lines(schema, records), tmp_path
    )
    # The name is written in Viva's name form, and the log line naming it stays one line.
    assert result.returncode == 0, result.stderr
    assert "Dept20260101000000000InfoTargetVivaInsightsUploadAccepted" in result.stderr
    assert not any(line.startswith("2026-01-01 00:00:00,000") for line in result.stderr.splitlines())


def test_zip_members_of_the_package_keep_data_as_sent(run_target) -> None:
    outcome = run_target(singer_lines(hr_schema(), small_org()))
    assert outcome.error is None
    (package,) = outcome.packages
    with zipfile.ZipFile(package) as archive:
        assert sorted(archive.namelist()) == ["data.csv", "metadata.json"]


def test_org_chart_findings_name_rows_not_people(tmp_path: Path) -> None:
    """A reporting loop, a second top, a duplicate row: the log names rows; addresses stay in the report."""
    records = small_org()
    records[3]["ManagerId"] = "di@contoso.com"  # cy -> di
    records[4]["ManagerId"] = "cy@contoso.com"  # di -> cy: a loop
    records[5]["ManagerId"] = None  # ed: a second top
    records.append(dict(records[1]))  # ana twice on the same date
    out = tmp_path / "out"
    result = run_target_process(
        {"dry_run": True, "output_dir": str(out)}, singer_lines(hr_schema(), records), tmp_path
    )
    assert result.returncode == 3, result.stderr
    assert "@contoso.com" not in result.stderr
    (report,) = out.glob("viva-insights-*-validation.csv")
    with report.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rules = {row["rule"] for row in rows}
    assert {"reporting-loop", "manager-missing", "duplicate-person-date"} <= rules
    for row in rows:
        assert "@" not in row["message"], row  # values only in the value column
    loop = [row for row in rows if row["rule"] == "reporting-loop"]
    assert {row["value"] for row in loop} == {"di@contoso.com", "cy@contoso.com"}
    assert "row 5 -> row 6 -> row 5" in loop[0]["message"] or "row 6 -> row 5 -> row 6" in loop[0]["message"]


def test_an_unreadable_row_is_reported_without_its_text(tmp_path: Path) -> None:
    """Arrow's CSV errors quote the row; the finding keeps only the problem."""
    package = write_package(
        tmp_path / "ragged.zip",
        [
            "ceo@contoso.com,,Executive,01/01/2026",
            "zoe-ragged-row@contoso.com,ceo@contoso.com,Sales,01/01/2026,extra",
        ],
    )
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
    assert result.returncode == 3, result.stderr
    assert "zoe-ragged-row" not in result.stderr + result.stdout
    assert "Expected 4 columns, got 5" in result.stderr


def test_validate_command_escapes_a_forged_header(tmp_path: Path) -> None:
    package = tmp_path / "forged.zip"
    header = '"Org\nERROR forged line",PersonId,ManagerId,Organization,EffectiveDate'
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("data.csv", header + "\nx,ceo@contoso.com,,Executive,01/01/2026\n")
        mapping = {**METADATA["Mapping"], "Org\nERROR forged line": {"name": "Org", "type": "StringType"}}
        archive.writestr("metadata.json", json.dumps({**METADATA, "Mapping": mapping}))
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
    assert result.returncode == 3, result.stderr
    assert "Org\\nERROR forged line" in result.stderr  # named, escaped
    assert not any(line.startswith("ERROR forged line") for line in result.stderr.splitlines())


def test_an_output_dir_we_create_is_private(run_target, open_umask) -> None:
    outcome = run_target(singer_lines(hr_schema(), small_org()))
    assert outcome.error is None, outcome.error
    assert mode(outcome.output_dir) == 0o700
