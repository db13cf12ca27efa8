"""Any tap, no target configuration: what the mapping fits on its own, and what it says about it.

Singer metadata columns are left out, common HR-system names are taken as Viva fields, reserved
fields that arrive as text get Viva's type, and settings that name nothing in the stream are warnings.
"""

from __future__ import annotations

import csv
import logging

import pytest
from target_viva_insights.build import names
from target_viva_insights.build.mapping import MappingError, SourceType, plan_columns
from target_viva_insights.delivery import PreflightFailedError
from viva_testing import hr_schema, singer_lines, small_org

TEXT = {"type": ["string", "null"]}


def schema_of(*properties: str, **typed: dict) -> dict:
    return {"type": "object", "properties": {**dict.fromkeys(properties, TEXT), **typed}}


def fields(plan) -> dict[str, str]:
    return {column.source: column.field for column in plan.columns}


def messages(plan, level: int) -> list[str]:
    return [note.message for note in plan.notes if note.level == level]


# ---- Singer metadata -----------------------------------------------------------------------------


def test_singer_metadata_columns_stay_out_with_one_note_naming_them() -> None:
    plan = plan_columns(schema_of("PersonId", "_sdc_extracted_at", "_sdc_source_file", "Organization"))
    assert [column.source for column in plan.columns] == ["PersonId", "Organization"]
    (note,) = [message for message in messages(plan, logging.INFO) if "metadata" in message]
    assert "_sdc_extracted_at, _sdc_source_file" in note


def test_a_metadata_column_named_in_column_mapping_is_kept() -> None:
    plan = plan_columns(
        schema_of("PersonId", "_sdc_batched_at"), column_mapping={"_sdc_batched_at": "BatchedAt"}
    )
    assert fields(plan) == {"PersonId": "PersonId", "_sdc_batched_at": "BatchedAt"}


def test_the_target_leaves_metadata_columns_out_of_data_csv(run_target) -> None:
    extra = {"_sdc_extracted_at": {"type": "string", "format": "date-time"}, "_sdc_line": {"type": "integer"}}
    records = [
        {**row, "_sdc_extracted_at": "2025-01-02T03:04:05Z", "_sdc_line": index}
        for index, row in enumerate(small_org())
    ]
    outcome = run_target(singer_lines(hr_schema(extra), records))
    assert outcome.error is None, outcome.report_rows
    assert list(outcome.metadata()["Mapping"]) == [
        "PersonId",
        "ManagerId",
        "Organization",
        "EffectiveDate",
        "Layer",
    ]


# ---- exclude_columns and column_mapping ------------------------------------------------------------


def test_exclude_columns_takes_glob_patterns() -> None:
    plan = plan_columns(
        schema_of("PersonId", "ssn", "salary_base", "salary_bonus", "Organization"),
        exclude_columns=["ssn", "salary_*"],
    )
    assert [column.source for column in plan.columns] == ["PersonId", "Organization"]
    assert messages(plan, logging.WARNING) == []


def test_settings_that_name_nothing_in_the_stream_are_warnings_not_errors() -> None:
    plan = plan_columns(
        schema_of("PersonId", "Organization"),
        exclude_columns=["ssn", "tmp_*"],
        column_mapping={"Employee Org": "Organization"},
    )
    assert [column.source for column in plan.columns] == ["PersonId", "Organization"]
    assert messages(plan, logging.WARNING) == [
        "exclude_columns: nothing in this stream matches ssn, tmp_*.",
        "column_mapping: this stream has no column Employee Org.",
    ]


def test_the_readme_exclude_columns_works_with_a_tap_without_that_column(run_target, caplog) -> None:
    caplog.set_level(logging.WARNING)
    outcome = run_target(singer_lines(hr_schema(), small_org()), exclude_columns=["ssn"])
    assert outcome.error is None, outcome.report_rows
    assert "exclude_columns: nothing in this stream matches ssn." in caplog.messages


# ---- HR-system names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ("work_email", "PersonId"),
        ("Email_-_Primary_Work", "PersonId"),
        ("Work Email", "PersonId"),
        ("workEmail", "PersonId"),
        ("manager_email", "ManagerId"),
        ("Manager_Email", "ManagerId"),
        ("supervisorEmail", "ManagerId"),
        ("department", "Organization"),
        ("org", "Organization"),
        ("Supervisory_Organization", "Organization"),
        ("Management_Level", "LevelDesignation"),
        ("Job_Family", "FunctionType"),
        ("country", "CountryOrRegion"),
        ("as_of_date", "EffectiveDate"),
    ],
)
def test_common_hr_names_map_onto_viva_fields(source: str, field: str) -> None:
    plan = plan_columns(schema_of(source))
    assert fields(plan) == {source: field}
    assert any(
        f"column '{source}' is taken as {field}" in message for message in messages(plan, logging.INFO)
    )


def test_spellings_of_viva_names_need_no_synonym() -> None:
    plan = plan_columns(schema_of("person_id", "manager_id", "effective_date", "hire_date", "Hire Date 2"))
    assert list(fields(plan).values()) == [
        "PersonId",
        "ManagerId",
        "EffectiveDate",
        "HireDate",
        "HireDate2",  # no Viva field: only written in Viva's name form
    ]


def test_column_mapping_and_exact_names_win_over_synonyms() -> None:
    plan = plan_columns(
        schema_of("work_email", "personal_email", "department", "Organization"),
        column_mapping={"personal_email": "PersonId"},
    )
    # PersonId comes from column_mapping and Organization exists: the synonyms keep their own names.
    assert fields(plan) == {
        "work_email": "work_email",
        "personal_email": "PersonId",
        "department": "department",
        "Organization": "Organization",
    }


def test_the_most_specific_synonym_wins_and_the_others_keep_their_names() -> None:
    plan = plan_columns(schema_of("email", "work_email"))
    assert fields(plan) == {"email": "email", "work_email": "PersonId"}


def test_a_missing_required_field_names_the_columns_and_the_likely_matches() -> None:
    message = names.missing_field_message("ManagerId", ["PersonId", "mgr_mail", "Organization"], {})
    assert "the required field ManagerId is not in the data" in message
    assert "the stream's columns are: PersonId, mgr_mail, Organization" in message
    assert "Likely matches: mgr_mail" in message
    assert "column_mapping" in message


def test_the_target_reports_a_missing_field_with_the_columns_that_arrived(run_target, caplog) -> None:
    records = [{**row, "boss_mail": row.pop("ManagerId")} for row in small_org()]
    schema = hr_schema({"boss_mail": TEXT}, drop=["ManagerId"])
    caplog.set_level(logging.ERROR)
    outcome = run_target(singer_lines(schema, records))
    assert isinstance(outcome.error, PreflightFailedError)
    (hint,) = [message for message in caplog.messages if "the stream's columns are" in message]
    assert "PersonId, Organization, EffectiveDate, Layer, boss_mail" in hint


# ---- types the tap could not know ------------------------------------------------------------------


def test_reserved_fields_arriving_as_text_get_their_viva_type() -> None:
    plan = plan_columns(schema_of("PersonId", "Layer", "HireDate", "EffectiveDate", "HourlyRate", "Team"))
    tokens = {column.field: column.token for column in plan.columns}
    assert tokens == {
        "PersonId": "EmailType",
        "Layer": "IntegerType",
        "HireDate": "DateTime_MMDDYYYY",
        "EffectiveDate": "DateTime_MMDDYYYY",
        "HourlyRate": "DoubleType",
        "Team": "StringType",
    }
    assert [column.field for column in plan.columns if column.typed_from_text] == [
        "Layer",
        "HireDate",
        "EffectiveDate",
        "HourlyRate",
    ]


def test_field_types_still_win_over_the_viva_type() -> None:
    plan = plan_columns(schema_of("Layer"), field_types={"Layer": "DoubleType"})
    assert plan.columns[0].token == "DoubleType"


def test_text_dates_and_numbers_are_written_as_viva_reads_them(run_target, caplog) -> None:
    schema = schema_of("PersonId", "ManagerId", "Organization", "EffectiveDate", "Layer", "HourlyRate")
    records = [
        {**row, "Layer": str(row["Layer"]), "HourlyRate": "41.50"} for row in small_org(date="2025-01-31")
    ]
    caplog.set_level(logging.INFO)
    outcome = run_target(singer_lines(schema, records))
    assert outcome.error is None, outcome.report_rows
    mapping = outcome.metadata()["Mapping"]
    assert (mapping["EffectiveDate"]["type"], mapping["Layer"]["type"]) == (
        "DateTime_MMDDYYYY",
        "IntegerType",
    )
    first = next(csv.DictReader(outcome.data_csv().decode().splitlines()))
    assert [first["EffectiveDate"], first["Layer"], first["HourlyRate"]] == ["01/31/2025", "0", "41.50"]
    assert any("every value" in message and "EffectiveDate" in message for message in caplog.messages)


def test_text_that_does_not_parse_is_counted_and_located(run_target, caplog) -> None:
    schema = schema_of("PersonId", "ManagerId", "Organization", "EffectiveDate", "HireDate")
    records = [{**row, "HireDate": "2020-02-03"} for row in small_org()]
    records[2]["HireDate"] = "last spring"
    records[4]["HireDate"] = "31.12.2019"
    caplog.set_level(logging.ERROR)
    outcome = run_target(singer_lines(schema, records))
    assert isinstance(outcome.error, PreflightFailedError)
    (summary,) = [message for message in caplog.messages if "HireDate arrived as text" in message]
    assert "2 values are not dates" in summary
    assert "rows 4, 6" in summary
    assert "last spring" not in " ".join(caplog.messages)  # values stay in the report


def test_object_and_array_columns_get_a_warning_naming_them() -> None:
    plan = plan_columns(
        schema_of(
            "PersonId",
            Address={"type": ["object", "null"], "properties": {"city": TEXT}},
            Phones={"type": "array", "items": TEXT},
        )
    )
    (warning,) = messages(plan, logging.WARNING)
    assert "Address, Phones" in warning
    assert "flattening_enabled" in warning
    assert "stream map" in warning
    assert {column.source_type for column in plan.columns[1:]} == {SourceType.JSON}


def test_two_columns_on_one_field_are_still_refused() -> None:
    with pytest.raises(MappingError, match="PersonId <- PersonId, person_id"):
        plan_columns(schema_of("PersonId", "person_id"))
