"""The columns real taps send, through the real target process with no mapping of its own.

CSV and S3 taps send spaced headers (`Employee ID`, `Job Title`), dBase and legacy exports short names
(`EMP_EMAIL`, `EFF_DATE`), databases and other integration tools technical columns (`id`, `updated_at`,
`_airbyte_*`). Each case below is a run of the installed `target-viva-insights` command.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from target_viva_insights import rules
from target_viva_insights.build import names
from viva_testing import hr_schema, run_target_process, singer_lines, small_org

TEXT = {"type": ["string", "null"]}
DATE = {"type": ["string", "null"], "format": "date"}
TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}


def text_schema(*columns: str, **typed: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {**dict.fromkeys(columns, TEXT), **typed}}


def renamed_org(names_by_field: dict[str, str], date: str = "2025-01-01") -> list[dict[str, Any]]:
    """`small_org` with its columns renamed the way a tap names them (Layer as text)."""
    rows = []
    for row in small_org(date):
        renamed = {names_by_field[field]: value for field, value in row.items() if field in names_by_field}
        if "Layer" in names_by_field:
            renamed[names_by_field["Layer"]] = str(row["Layer"])
        rows.append(renamed)
    return rows


def run(tmp_path: Path, lines: str, **settings: Any) -> subprocess.CompletedProcess[str]:
    config = {"dry_run": True, "output_dir": str(tmp_path / "out"), **settings}
    return run_target_process(config, lines, tmp_path)


def package_of(tmp_path: Path) -> zipfile.ZipFile:
    (package,) = sorted((tmp_path / "out").glob("viva-insights-*.zip"))
    return zipfile.ZipFile(package)


def mapped_fields(tmp_path: Path) -> list[str]:
    with package_of(tmp_path) as archive:
        return list(json.loads(archive.read("metadata.json"))["Mapping"])


def report_rows(tmp_path: Path) -> list[dict[str, str]]:
    (report,) = sorted((tmp_path / "out").glob("viva-insights-*-validation.csv"))
    with report.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def log_lines(result: subprocess.CompletedProcess[str], level: str) -> list[str]:
    return [line for line in result.stderr.splitlines() if f"| {level}" in line]


# ---- spaced headers: Viva's name form ----

SPACED = {
    "PersonId": "Work Email",
    "ManagerId": "Manager Email",
    "Organization": "Department",
    "EffectiveDate": "Effective Date",
    "Layer": "Management Layer",
}


def test_spaced_headers_are_written_in_viva_name_form_and_the_rule_is_logged_once(tmp_path: Path) -> None:
    records = renamed_org(SPACED)
    for index, record in enumerate(records):
        record["Employee ID"] = f"E{index:04d}"
        record["Job Title"] = "Engineer" if index % 2 else "Seller"
    schema = text_schema(*SPACED.values(), "Employee ID", "Job Title")
    result = run(tmp_path, singer_lines(schema, records))

    assert result.returncode == 0, result.stderr
    assert mapped_fields(tmp_path) == [
        "PersonId",
        "ManagerId",
        "Organization",
        "EffectiveDate",
        "Layer",
        "EmployeeId",
        "JobTitle",
    ]
    (rule_line,) = [line for line in result.stderr.splitlines() if "Viva's name form" in line]
    assert "Employee ID -> EmployeeId, Job Title -> JobTitle" in rule_line
    assert names.NAME_FORM_RULE in rule_line
    # `Employee ID` looks like an id and keeps its own name: a warning with the settings to use.
    (warning,) = [line for line in log_lines(result, "WARNING") if "'Employee ID'" in line]
    assert "looks like an id but is not mapped" in warning
    assert warning.endswith(
        '{"column_mapping": {"Employee ID": "EmployeeId"}} or {"exclude_columns": ["Employee ID"]}'
    )


def test_naming_the_column_in_column_mapping_silences_the_look_alike_warning(tmp_path: Path) -> None:
    records = renamed_org(SPACED)
    for index, record in enumerate(records):
        record["Employee ID"] = f"E{index:04d}"
    schema = text_schema(*SPACED.values(), "Employee ID")
    result = run(tmp_path, singer_lines(schema, records), column_mapping={"Employee ID": "EmployeeNumber"})
    assert result.returncode == 0, result.stderr
    assert "EmployeeNumber" in mapped_fields(tmp_path)
    assert "looks like" not in result.stderr
    assert not [row for row in report_rows(tmp_path) if row["rule"] == "column-not-mapped"]


# ---- dBase / legacy short names ----

DBASE = {
    "PersonId": "EMP_EMAIL",
    "ManagerId": "MGR_EMAIL",
    "Organization": "ORG",
    "EffectiveDate": "EFF_DATE",
}


def test_dbase_short_names_map_onto_viva_fields_even_when_only_one_is_mapped(tmp_path: Path) -> None:
    records = renamed_org(DBASE)
    for record in records:
        record["HIRE_DT"] = "2020-03-01"
    schema = text_schema(*DBASE.values(), "HIRE_DT")
    # The case of the issue: only MGR_EMAIL mapped by hand; EFF_DATE must not go up as an attribute.
    result = run(tmp_path, singer_lines(schema, records), column_mapping={"MGR_EMAIL": "ManagerId"})

    assert result.returncode == 0, result.stderr
    assert mapped_fields(tmp_path) == ["PersonId", "ManagerId", "Organization", "EffectiveDate", "HireDate"]
    with package_of(tmp_path) as archive:
        rows = list(csv.DictReader(archive.read("data.csv").decode("utf-8").splitlines()))
    assert {row["EffectiveDate"] for row in rows} == {"01/01/2025"}
    assert {row["HireDate"] for row in rows} == {"03/01/2020"}
    for source, field in [("EMP_EMAIL", "PersonId"), ("EFF_DATE", "EffectiveDate"), ("HIRE_DT", "HireDate")]:
        assert f"column '{source}' is taken as {field}" in result.stderr


def test_an_effective_date_like_column_that_keeps_its_name_stops_the_run_with_the_fix(tmp_path: Path) -> None:
    mapping = {**DBASE, "EffectiveDate": "Eff Date (local)"}
    schema = text_schema(*mapping.values())
    result = run(tmp_path, singer_lines(schema, renamed_org(mapping)))

    assert result.returncode == 2, result.stderr
    assert not list((tmp_path / "out").glob("*.zip"))
    (error,) = [line for line in log_lines(result, "ERROR") if "looks like the EffectiveDate" in line]
    assert error.endswith('Map it: {"column_mapping": {"Eff Date (local)": "EffectiveDate"}}')

    fixed = tmp_path / "fixed"
    fixed.mkdir()
    again = run(
        fixed,
        singer_lines(schema, renamed_org(mapping)),
        column_mapping={"Eff Date (local)": "EffectiveDate"},
    )
    assert again.returncode == 0, again.stderr
    assert "EffectiveDate" in mapped_fields(fixed)


# ---- technical columns ----

TECHNICAL = [
    "id",
    "_id",
    "updated_at",
    "created_at",
    "_airbyte_extracted_at",
    "row_number",
    "file_name",
    "Unnamed: 0",
]


def test_technical_columns_are_left_out_and_the_report_says_how_to_keep_them(tmp_path: Path) -> None:
    records = [
        {**row, **{name: str(index) for name in TECHNICAL}, "updated_at": "2025-01-02T03:04:05Z"}
        for index, row in enumerate(small_org())
    ]
    schema = hr_schema(dict.fromkeys(TECHNICAL, TEXT))
    result = run(tmp_path, singer_lines(schema, records))

    assert result.returncode == 0, result.stderr
    assert mapped_fields(tmp_path) == ["PersonId", "ManagerId", "Organization", "EffectiveDate", "Layer"]
    findings = {row["column"]: row for row in report_rows(tmp_path) if row["rule"] == "technical-column"}
    assert set(findings) == set(TECHNICAL)
    assert findings["updated_at"]["severity"] == "warning"
    assert "a record's creation or update time" in findings["updated_at"]["message"]
    assert findings["id"]["message"].endswith('name it in column_mapping: {"column_mapping": {"id": "Id"}}')
    assert findings["file_name"]["value"] == ""  # never a value
    # The log names each once, with the same way to keep it.
    for name in TECHNICAL:
        lines = [line for line in log_lines(result, "WARNING") if f"column {name}:" in line]
        assert len(lines) == 1, (name, lines)

    kept = tmp_path / "kept"
    kept.mkdir()
    again = run(kept, singer_lines(schema, records), column_mapping={"id": "SourceId"})
    assert again.returncode == 0, again.stderr
    assert "SourceId" in mapped_fields(kept)


# ---- dates, ids and timestamps that keep their own names ----


def test_unmapped_dates_ids_and_timestamps_are_warnings_naming_the_mapping(tmp_path: Path) -> None:
    extra = {"Termination Date": DATE, "Badge Number": TEXT, "last_login_at": TIMESTAMP}
    records = [
        {
            **row,
            "Termination Date": None,
            "Badge Number": f"B{index}",
            "last_login_at": "2025-01-02T03:04:05Z",
        }
        for index, row in enumerate(small_org())
    ]
    result = run(tmp_path, singer_lines(hr_schema(extra), records))

    assert result.returncode == 0, result.stderr
    warnings = [line for line in log_lines(result, "WARNING") if "column-not-mapped" in line]
    assert len(warnings) == 3, warnings
    by_source = {source: line for line in warnings for source in extra if f"'{source}'" in line}
    assert "looks like a date" in by_source["Termination Date"]
    assert 'map it: {"column_mapping": {"Termination Date": "HireDate"}}' in by_source["Termination Date"]
    assert "looks like an id" in by_source["Badge Number"]
    assert "looks like a timestamp" in by_source["last_login_at"]
    assert by_source["last_login_at"].endswith(
        '{"column_mapping": {"last_login_at": "last_login_at"}} or {"exclude_columns": ["last_login_at"]}'
    )


# ---- refusals of a column name end with the setting that fixes it ----


def test_a_refused_column_name_ends_with_the_setting_that_fixes_it(tmp_path: Path) -> None:
    extra = {"Start Date": DATE, "名前": TEXT}
    records = [{**row, "Start Date": "2020-01-01", "名前": "x"} for row in small_org()]
    result = run(tmp_path, singer_lines(hr_schema(extra), records))

    assert result.returncode == 3, result.stderr
    errors = log_lines(result, "ERROR")
    (system,) = [line for line in errors if "column StartDate: StartDate is a Viva system field" in line]
    assert system.endswith(
        'Fix: {"column_mapping": {"Start Date": "HrStartDate"}} or {"exclude_columns": ["Start Date"]}'
    )
    (characters,) = [line for line in errors if "column 名前:" in line]
    assert characters.endswith(
        'Fix: {"column_mapping": {"名前": "Attribute7"}} or {"exclude_columns": ["名前"]}'
    )


def test_two_columns_on_one_name_are_refused_with_the_setting_that_fixes_it(tmp_path: Path) -> None:
    records = [{**row, "Job Title": "a", "JobTitle": "b"} for row in small_org()]
    result = run(tmp_path, singer_lines(hr_schema({"Job Title": TEXT, "JobTitle": TEXT}), records))
    assert result.returncode == 2, result.stderr
    (error,) = [line for line in log_lines(result, "ERROR") if "JobTitle <- Job Title, JobTitle" in line]
    assert error.endswith(
        '{"column_mapping": {"Job Title": "JobTitle2"}} or {"exclude_columns": ["Job Title"]}'
    )


def test_a_missing_required_field_ends_with_the_mapping_as_json(tmp_path: Path) -> None:
    mapping = {**DBASE, "PersonId": "EMPLOYEE_MAIL_ADDR"}
    result = run(tmp_path, singer_lines(text_schema(*mapping.values()), renamed_org(mapping)))
    assert result.returncode == 3, result.stderr
    (error,) = [line for line in log_lines(result, "ERROR") if "Likely matches" in line]
    assert re.search(r'e\.g\. \{"column_mapping": \{"[A-Z_]+": "PersonId"\}\}$', error), error


# ---- a tap that sent nothing ----

STATE = {"bookmarks": {"employees": {"replication_key_value": "2025-01-01"}}}


def test_a_run_without_records_fails_unless_allow_empty(tmp_path: Path) -> None:
    lines = singer_lines(hr_schema(), [], state=STATE)
    result = run(tmp_path, lines)
    assert result.returncode == 3, result.stderr
    assert "The tap sent no records for the HR stream 'employees'" in result.stderr
    assert '{"allow_empty": true}' in result.stderr
    assert result.stdout == ""  # no state: the next run reads the same again

    nothing = run(tmp_path, "")
    assert nothing.returncode == 3, nothing.stderr
    assert "The tap sent nothing: no stream and no records" in nothing.stderr

    allowed = run(tmp_path, lines, allow_empty=True)
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.splitlines() == [json.dumps(STATE)]
    assert not list((tmp_path / "out").glob("*.zip"))


# ---- paths printed at the end ----


def printed_paths(stderr: str) -> list[Path]:
    return [Path(match) for match in re.findall(r"(/[^\s:;,()]+\.(?:csv|zip))", stderr)]


@pytest.mark.parametrize("output_dir", [True, False], ids=["output_dir", "no output_dir"])
def test_every_path_printed_names_a_file_that_exists_after_the_run(tmp_path: Path, output_dir: bool) -> None:
    records = small_org()
    records[2]["PersonId"] = "not an address"
    config: dict[str, Any] = {"dry_run": True}
    if output_dir:
        config["output_dir"] = str(tmp_path / "out")
    failed = run_target_process(config, singer_lines(hr_schema(), records), tmp_path)
    passed = run_target_process(config, singer_lines(hr_schema(), small_org()), tmp_path)

    assert (failed.returncode, passed.returncode) == (3, 0), failed.stderr + passed.stderr
    paths = printed_paths(failed.stderr) + printed_paths(passed.stderr)
    assert all(path.exists() for path in paths), paths
    if output_dir:
        assert {path.suffix for path in paths} == {".csv", ".zip"}
    else:
        assert paths == []
        assert "(not kept: set output_dir to keep it)" in failed.stderr
        assert "(not kept: set output_dir to keep it)" in passed.stderr


# ---- warnings: each once, with its first position, never the value ----


def test_each_distinct_warning_is_logged_once_with_its_first_row_and_column(tmp_path: Path) -> None:
    extra = {"SupervisorIndicator": TEXT}
    records = [{**row, "SupervisorIndicator": "IC"} for row in small_org()]
    records[1]["SupervisorIndicator"] = "Boss-Of-Sales"
    records[4]["SupervisorIndicator"] = "Boss-Of-Engineering"
    result = run(tmp_path, singer_lines(hr_schema(extra), records))

    assert result.returncode == 0, result.stderr
    lines = [line for line in log_lines(result, "WARNING") if "warning supervisor-indicator" in line]
    assert len(lines) == 1, lines
    assert "(2 like it), first at row 3, column SupervisorIndicator:" in lines[0]
    assert "Boss-Of" not in result.stderr
    rows = [row for row in report_rows(tmp_path) if row["rule"] == "supervisor-indicator"]
    assert [row["row"] for row in rows] == ["3", "6"]


# ---- the alias table ----


def test_every_alias_means_one_field_and_none_is_a_viva_or_technical_name() -> None:
    seen: dict[str, str] = {}
    for field, aliases in names.SYNONYMS.items():
        assert field in rules.RESERVED_FIELDS
        for alias in aliases:
            normalized = rules.normalized_name(alias)
            assert seen.setdefault(normalized, field) == field, f"{alias}: {seen[normalized]} and {field}"
            assert normalized not in rules.RESERVED_BY_NORMALIZED_NAME, alias
            assert names.technical_kind(alias) is None, alias


@pytest.mark.parametrize(
    ("source", "form"),
    [
        ("Employee ID", "EmployeeId"),
        ("Job Title", "JobTitle"),
        ("job-title", "JobTitle"),
        ("Cost Center (USD)", "CostCenterUsd"),
        ("Département", "Departement"),
        ("名前", None),
    ],
)
def test_the_name_form(source: str, form: str | None) -> None:
    assert names.viva_name_form(source) == form


@pytest.mark.parametrize(
    ("source", "look"),
    [
        ("EFF_DATE2", names.Look.EFFECTIVE_DATE),
        ("As Of", names.Look.EFFECTIVE_DATE),
        ("Snapshot", names.Look.EFFECTIVE_DATE),
        ("Termination Date", names.Look.DATE),
        ("last_login_at", names.Look.TIMESTAMP),
        ("Badge Number", names.Look.ID),
        ("Employee ID", names.Look.ID),
        # Attributes that only share a word with a date or an id.
        ("Effective Salary", None),
        ("Case Officer", None),
        ("Full Time", None),
        ("Key Talent", None),
    ],
)
def test_what_a_column_looks_like(source: str, look: names.Look | None) -> None:
    assert names.look_of(source) is look


def test_a_declared_date_or_timestamp_looks_like_one_whatever_its_name() -> None:
    assert names.look_of("Anniversary", declared_date=True) is names.Look.DATE
    assert names.look_of("Seen", declared_timestamp=True) is names.Look.TIMESTAMP
