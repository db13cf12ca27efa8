"""Every documented Viva rule the target checks offline: a failing case and a passing case each.

A failing case must name row, column and value in the report, write no zip and fail the run; the
passing case differs in the one thing the rule is about and produces a package.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from target_viva_insights.build.mapping import MappingError
from target_viva_insights.delivery import PreflightFailedError
from viva_testing import hr_schema, singer_lines, small_org

Records = list[dict[str, Any]]


def edit(row: int, **values: Any) -> Callable[[Records], Records]:
    """A change to one record (0-based) of the small org."""

    def apply(records: Records) -> Records:
        records = copy.deepcopy(records)
        records[row].update(values)
        return records

    return apply


def keep(records: Records) -> Records:
    return records


def add_rows(*rows: dict[str, Any]) -> Callable[[Records], Records]:
    return lambda records: [*copy.deepcopy(records), *rows]


# (rule, failing change, passing change, expected (row, column, value) of the first finding)
ROW_RULES = [
    ("blank-required", edit(2, Organization="  "), keep, (4, "Organization", "  ")),
    ("blank-required", edit(1, PersonId=""), keep, (3, "PersonId", "")),
    (
        "invalid-email",
        edit(3, PersonId="cy at contoso.com"),
        edit(3, PersonId="cy@contoso.com"),
        (5, "PersonId", "cy at contoso.com"),
    ),
    ("invalid-email", edit(4, ManagerId="bo@"), edit(4, ManagerId="bo@contoso.com"), (6, "ManagerId", "bo@")),
    (
        "invalid-date",
        edit(5, EffectiveDate="2025-02-30"),
        edit(5, EffectiveDate="2025-02-28"),
        (7, "EffectiveDate", "2025-02-30"),
    ),
    (
        "newline",
        edit(1, Organization="Sales\nEMEA"),
        edit(1, Organization="Sales EMEA"),
        (3, "Organization", "Sales\nEMEA"),
    ),
    ("manager-missing", edit(4, ManagerId=None), keep, (6, "ManagerId", "")),
    (
        "several-managers",
        add_rows({**small_org()[3], "ManagerId": "bo@contoso.com"}),
        keep,
        (8, "ManagerId", "bo@contoso.com"),
    ),
    (
        "reporting-loop",
        lambda r: edit(2, ManagerId="di@contoso.com")(r),
        keep,
        (4, "ManagerId", "di@contoso.com"),
    ),
    ("reporting-loop", edit(1, ManagerId="ana@contoso.com"), keep, (3, "ManagerId", "ana@contoso.com")),
]


@pytest.mark.parametrize(
    ("rule", "failing", "passing", "where"),
    ROW_RULES,
    ids=[f"{case[0]}-{index}" for index, case in enumerate(ROW_RULES)],
)
def test_row_rule(run_target, rule, failing, passing, where) -> None:
    bad = run_target(singer_lines(hr_schema(), failing(small_org())))
    assert isinstance(bad.error, PreflightFailedError), bad.error
    assert bad.packages == []
    found = bad.findings(rule)
    assert found, bad.report_rows
    row, column, value = where
    assert (int(found[0]["row"]), found[0]["column"], found[0]["value"]) == (row, column, value)
    assert bad.stdout == ""  # no STATE for data that did not arrive

    good = run_target(singer_lines(hr_schema(), passing(small_org())))
    assert good.error is None, good.report_rows
    assert len(good.packages) == 1
    assert good.findings(rule) == []


# Rules the documentation does not make refusals (docs/viva-rules.md): the run succeeds and warns.
# (rule, change, expected (row, column, value) of the first finding)
WARNING_RULES = [
    # Formerly an error: no page asks for a manager's own row; Microsoft's valid example has none.
    ("manager-not-a-person", edit(5, ManagerId="ghost@contoso.com"), (7, "ManagerId", "ghost@contoso.com")),
    # Formerly an error: same person and date twice is not documented; with two managers it still is.
    ("duplicate-person-date", add_rows(small_org()[3]), (8, "PersonId", "cy@contoso.com")),
    # Formerly manager-missing: a second leader with reports matches "For CEOs, this can be left blank".
    ("co-leader", edit(2, ManagerId=None), (2, "ManagerId", "")),  # bo leads more people than ceo now
]


@pytest.mark.parametrize(("rule", "change", "where"), WARNING_RULES, ids=[case[0] for case in WARNING_RULES])
def test_warning_rule(run_target, rule, change, where) -> None:
    outcome = run_target(singer_lines(hr_schema(), change(small_org())))
    assert outcome.error is None, outcome.report_rows
    assert len(outcome.packages) == 1
    found = outcome.findings(rule)
    assert found and found[0]["severity"] == "warning", outcome.report_rows
    row, column, value = where
    assert (int(found[0]["row"]), found[0]["column"], found[0]["value"]) == (row, column, value)


TEXT = {"type": ["string", "null"]}


def test_integer_and_double_values(run_target) -> None:
    schema = hr_schema({"Band": TEXT, "HourlyRate": TEXT})
    types = {"Band": "IntegerType", "HourlyRate": "DoubleType"}
    records = [{**row, "Band": "3", "HourlyRate": "25.25"} for row in small_org()]
    good = run_target(singer_lines(schema, records), field_types=types)
    assert good.error is None, good.report_rows

    records[1] |= {"Band": "3.5", "HourlyRate": "1,000.50"}
    records[2] |= {"HourlyRate": "$40"}
    bad = run_target(singer_lines(schema, records), field_types=types)
    assert isinstance(bad.error, PreflightFailedError)
    assert bad.packages == []
    assert [(f["row"], f["value"]) for f in bad.findings("invalid-integer")] == [("3", "3.5")]
    assert [(f["row"], f["value"]) for f in bad.findings("invalid-double")] == [
        ("3", "1,000.50"),
        ("4", "$40"),
    ]


def test_value_longer_than_128_kb(run_target) -> None:
    schema = hr_schema({"Notes": TEXT})
    records = [{**row, "Notes": "x"} for row in small_org()]
    records[0]["Notes"] = "é" * 65_537  # 131,074 bytes of UTF-8
    bad = run_target(singer_lines(schema, records))
    assert isinstance(bad.error, PreflightFailedError)
    (finding,) = bad.findings("value-too-long")
    assert (finding["row"], finding["column"]) == ("2", "Notes")

    records[0]["Notes"] = "é" * 65_536  # exactly 128 KB
    assert run_target(singer_lines(schema, records)).error is None


@pytest.mark.parametrize(
    ("column", "rule", "fix"),
    [
        # `Cost Center` is written as CostCenter by the mapping: a name with no ASCII letter is refused.
        ("部署", "header-characters", {"column_mapping": {"部署": "Department"}}),
        ("StartDate", "system-field", {"exclude_columns": ["StartDate"]}),
        ("MetricDate", "system-field", {"column_mapping": {"MetricDate": "MetricDay"}}),
        ("Microsoft_Team", "system-field", {"column_mapping": {"Microsoft_Team": "Team"}}),
    ],
)
def test_header_names(run_target, column, rule, fix) -> None:
    schema = hr_schema({column: TEXT})
    records = [{**row, column: f"v{index % 2}"} for index, row in enumerate(small_org())]
    bad = run_target(singer_lines(schema, records))
    assert isinstance(bad.error, PreflightFailedError)
    assert bad.packages == []
    assert [f["value"] for f in bad.findings(rule)][:1] == [column]

    good = run_target(singer_lines(schema, records), **fix)
    assert good.error is None, good.report_rows


def test_a_header_may_start_with_a_digit(run_target) -> None:
    """Formerly refused: the newest rules page allows ASCII letters, digits and underscore anywhere."""
    schema = hr_schema({"2ndLevel": TEXT})
    records = [{**row, "2ndLevel": f"v{index % 2}"} for index, row in enumerate(small_org())]
    outcome = run_target(singer_lines(schema, records))
    assert outcome.error is None, outcome.report_rows
    assert "2ndLevel" in outcome.metadata()["Mapping"]


def test_at_most_105_columns(run_target) -> None:
    extra = {f"Attr{index}": TEXT for index in range(102)}  # 5 HR columns + 102 = 107
    records = [{**row, **dict.fromkeys(extra, f"v{i % 2}")} for i, row in enumerate(small_org())]
    bad = run_target(singer_lines(hr_schema(extra), records))
    assert isinstance(bad.error, PreflightFailedError)
    assert bad.findings("too-many-columns")

    good = run_target(singer_lines(hr_schema(extra), records), exclude_columns=["Attr0", "Attr1"])
    assert good.error is None, good.report_rows


def test_two_columns_on_one_field_are_refused_before_any_data(run_target) -> None:
    schema = hr_schema({"person_id": TEXT})
    records = [{**row, "person_id": row["PersonId"]} for row in small_org()]
    bad = run_target(singer_lines(schema, records))
    assert isinstance(bad.error, MappingError)
    assert "PersonId <- PersonId, person_id" in str(bad.error)
    assert not bad.output_dir.exists() or bad.packages == []

    assert run_target(singer_lines(schema, records), exclude_columns=["person_id"]).error is None


def test_required_fields_present(run_target) -> None:
    records = [{k: v for k, v in row.items() if k != "Organization"} for row in small_org()]
    bad = run_target(singer_lines(hr_schema(drop=["Organization"]), records))
    assert isinstance(bad.error, PreflightFailedError)
    assert "Organization" in bad.findings("missing-required-field")[0]["message"]

    # An incremental import needs only PersonId and EffectiveDate.
    updates = [{"PersonId": row["PersonId"], "EffectiveDate": "2025-02-01"} for row in small_org()]
    schema = hr_schema(drop=["ManagerId", "Organization", "Layer"])
    good = run_target(singer_lines(schema, updates), import_mode="incremental")
    assert good.error is None, good.report_rows
    assert good.metadata()["IsBootstrap"] == "false"


def test_reserved_field_must_have_its_viva_type(run_target) -> None:
    # Text from the tap is written with Viva's type (test_column_mapping.py); a field_types that
    # contradicts Viva's type is refused.
    schema = hr_schema({"Layer": TEXT})
    records = [{**row, "Layer": str(row["Layer"])} for row in small_org()]
    bad = run_target(singer_lines(schema, records), field_types={"Layer": "StringType"})
    assert isinstance(bad.error, PreflightFailedError)
    assert bad.findings("reserved-field-type")[0]["column"] == "Layer"

    good = run_target(singer_lines(schema, records))
    assert good.error is None, good.report_rows
    assert good.metadata()["Mapping"]["Layer"]["type"] == "IntegerType"


def test_an_unknown_type_token_is_written_with_a_warning(run_target) -> None:
    """Formerly refused (exit 3): no page lists the tokens, so one we do not know only warns."""
    outcome = run_target(singer_lines(hr_schema(), small_org()), field_types={"Layer": "int32"})
    assert outcome.error is None, outcome.report_rows
    assert outcome.metadata()["Mapping"]["Layer"]["type"] == "int32"
    (finding,) = outcome.findings("unknown-type")
    assert (finding["severity"], finding["column"], finding["value"]) == ("warning", "Layer", "int32")
    assert "IntegerType" in finding["message"]  # names the known tokens


def test_values_that_contradict_the_stream_schema(run_target) -> None:
    records = small_org()
    records[2]["Layer"] = "one"
    bad = run_target(singer_lines(hr_schema(), records))
    assert isinstance(bad.error, PreflightFailedError)
    (finding,) = bad.findings("schema-type")
    assert (finding["row"], finding["column"], finding["value"]) == ("4", "Layer", "one")

    records[2]["Layer"] = 1
    assert run_target(singer_lines(hr_schema(), records)).error is None


def test_data_quality_warnings_do_not_fail_the_run(run_target) -> None:
    schema = hr_schema({"Division": TEXT, "Badge": TEXT})
    people = [
        {
            "PersonId": f"p{i}@contoso.com",
            "ManagerId": None if i == 0 else "p0@contoso.com",
            "Organization": f"Org{i % 3}",
            "Layer": 0 if i == 0 else 1,
            "Division": "Retail",
            "Badge": f"B{i:04d}",
        }
        for i in range(12)
    ]
    months = ["2025-01-01", "2025-02-01", "2025-04-01"]  # March is missing
    records = [{**person, "EffectiveDate": month} for month in months for person in people]
    outcome = run_target(singer_lines(schema, records))
    assert outcome.error is None, outcome.report_rows
    assert len(outcome.packages) == 1
    assert outcome.findings("single-value-column")[0]["column"] == "Division"
    assert outcome.findings("value-per-person")[0]["column"] == "Badge"
    assert outcome.findings("few-monthly-snapshots")
    gaps = outcome.findings("missing-monthly-snapshot")
    assert len(gaps) == 12
    assert {row["severity"] for row in outcome.report_rows} == {"warning"}
