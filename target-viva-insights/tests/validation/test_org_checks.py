"""Whole-file checks on large and untidy input: unsorted rows, change rows, many batches, schema changes."""

from __future__ import annotations

import csv
import io
import random

from target_viva_insights.delivery import PreflightFailedError
from viva_testing import hr_schema, singer_lines, small_org


def monthly_org(people: int, months: int) -> list[dict]:
    """A CEO, ten managers under them, everyone else under a manager; one row per person per month."""
    rows = []
    for month in range(1, months + 1):
        for n in range(people):
            manager = None if n == 0 else ("p0@contoso.com" if n <= 10 else f"p{1 + n % 10}@contoso.com")
            layer = 0 if n == 0 else (1 if n <= 10 else 2)
            rows.append(
                {
                    "PersonId": f"p{n}@contoso.com",
                    "ManagerId": manager,
                    "Organization": f"Org{n % 4}",
                    "EffectiveDate": f"2025-{month:02d}-01",
                    "Layer": layer,
                }
            )
    return rows


def test_many_batches_and_shuffled_rows_still_find_a_duplicate(run_target) -> None:
    rows = monthly_org(people=2_100, months=12)  # 25,200 rows: several coding rounds and batches
    random.Random(7).shuffle(rows)
    clean = run_target(singer_lines(hr_schema(), rows), batch_size_rows=3_000)
    assert clean.error is None, clean.report_rows[:5]
    assert clean.findings("few-monthly-snapshots")  # 12 months, not 13

    duplicate = dict(rows[20_000])
    rows.insert(3, duplicate)
    outcome = run_target(singer_lines(hr_schema(), rows), batch_size_rows=3_000)
    assert outcome.error is None  # a warning: the docs do not make a repeated row an error
    (finding,) = outcome.findings("duplicate-person-date")
    assert (finding["severity"], finding["value"]) == ("warning", duplicate["PersonId"])
    assert {int(finding["row"]), int(finding["message"].split("first on row ")[1].rstrip(")"))} == {5, 20_003}


def test_a_loop_built_by_change_rows_on_different_dates(run_target) -> None:
    """Effective-dated changes carry forward: the loop exists from the second change on."""
    rows = small_org("2025-01-01")
    rows.append({**rows[1], "EffectiveDate": "2025-03-15"})  # ana, unchanged, later
    rows.append({**rows[2], "ManagerId": "ed@contoso.com", "EffectiveDate": "2025-05-20"})  # bo -> ed -> bo
    outcome = run_target(singer_lines(hr_schema(), rows[::-1]))  # and in reverse order
    assert isinstance(outcome.error, PreflightFailedError)
    loops = outcome.findings("reporting-loop")
    assert {row["value"] for row in loops} == {"ed@contoso.com", "bo@contoso.com"}
    assert "as of 2025-05-20" in loops[0]["message"]


def test_a_manager_change_that_is_not_a_loop(run_target) -> None:
    rows = small_org("2025-01-01")
    rows.append({**rows[4], "ManagerId": "ana@contoso.com", "EffectiveDate": "2025-02-10"})
    rows.append({**rows[1], "ManagerId": "bo@contoso.com", "Layer": 2, "EffectiveDate": "2025-06-01"})
    outcome = run_target(singer_lines(hr_schema(), rows))
    assert outcome.error is None, outcome.report_rows


def test_a_schema_change_mid_stream_merges_into_one_data_csv(run_target) -> None:
    first, second = small_org()[:3], small_org()[3:]
    with_location = hr_schema({"Location": {"type": ["string", "null"]}})
    lines = singer_lines(hr_schema(), first) + singer_lines(
        with_location, [{**row, "Location": "Oslo"} for row in second]
    )
    outcome = run_target(lines)
    assert outcome.error is None, outcome.report_rows
    rows = list(csv.DictReader(io.StringIO(outcome.data_csv().decode("utf-8"))))
    assert [row["Location"] for row in rows] == ["", "", "", "Oslo", "Oslo", "Oslo"]
    assert list(outcome.metadata()["Mapping"])[-1] == "Location"


def test_a_schema_change_keeps_row_numbers_of_findings_right(run_target) -> None:
    first, second = small_org()[:3], small_org()[3:]
    second[1]["PersonId"] = "broken"
    with_location = hr_schema({"Location": {"type": ["string", "null"]}})
    lines = singer_lines(hr_schema(), first) + singer_lines(
        with_location, [{**row, "Location": "Oslo"} for row in second]
    )
    outcome = run_target(lines)
    assert isinstance(outcome.error, PreflightFailedError)
    (finding,) = outcome.findings("invalid-email")
    assert (finding["row"], finding["value"]) == ("6", "broken")


def test_a_new_top_leader_in_change_rows_is_not_a_second_top(run_target) -> None:
    """The old CEO's last row has no manager and is never closed; with nobody reporting to them, history."""
    rows = small_org("2025-01-01")
    handover = "2025-07-15"  # not a month start: change rows, carried forward
    rows.append(
        {
            "PersonId": "new@contoso.com",
            "ManagerId": None,
            "Organization": "Executive",
            "EffectiveDate": handover,
            "Layer": 0,
        }
    )
    rows += [{**row, "ManagerId": "new@contoso.com", "EffectiveDate": handover} for row in rows[1:3]]
    outcome = run_target(singer_lines(hr_schema(), rows))
    assert outcome.error is None, outcome.report_rows

    # Still managing someone on the same day: two tops, both leading people (a warning, co-leaders).
    rows.pop()
    outcome = run_target(singer_lines(hr_schema(), rows))
    assert outcome.error is None, outcome.report_rows
    (finding,) = outcome.findings("co-leader")
    assert "2025-07-15" in finding["message"]
    assert finding["severity"] == "warning"
