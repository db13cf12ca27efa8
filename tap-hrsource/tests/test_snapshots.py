"""Monthly snapshot expansion, checked against cases computed by hand."""

from __future__ import annotations

import datetime as dt

import pytest
from tap_hrsource.errors import HRSourceError
from tap_hrsource.settings import HistorySettings, parse_stream_settings
from tap_hrsource.snapshots import expand_monthly_snapshots, month_starts

HISTORY = HistorySettings(
    person_key="PersonId",
    effective_date_column="EffectiveDate",
    months=4,
    end_date_column="TerminationDate",
    snapshot_end_date=dt.date(2026, 4, 1),
)
CSV = """PersonId,Organization,EffectiveDate,TerminationDate
a@contoso.com,X,2025-06-15,
a@contoso.com,Y,2026-02-01,
a@contoso.com,Z,2026-03-10,2026-03-20
b@contoso.com,X,2026-02-15,
c@contoso.com,X,2025-01-01,2026-01-01
d@contoso.com,X,2025-01-01,
d@contoso.com,X,2026-01-15,2026-01-15
d@contoso.com,W,2026-03-01,
"""
# Snapshots on 2026-01-01, 02-01, 03-01 and 04-01, worked out by hand:
# a: Jan X (row of 2025-06-15), Feb Y (effective that day), Mar Y (Z starts 03-10), Apr gone (left 03-20).
# b: hired 02-15, so first in March.  c: leaves on Jan 1st, so still there that day, gone from February.
# d: leaves 01-15 and is rehired 03-01 into W: Jan X, no Feb, Mar W, Apr W.
EXPECTED = {
    ("a@contoso.com", "2026-01-01"): "X",
    ("a@contoso.com", "2026-02-01"): "Y",
    ("a@contoso.com", "2026-03-01"): "Y",
    ("b@contoso.com", "2026-03-01"): "X",
    ("b@contoso.com", "2026-04-01"): "X",
    ("c@contoso.com", "2026-01-01"): "X",
    ("d@contoso.com", "2026-01-01"): "X",
    ("d@contoso.com", "2026-03-01"): "W",
    ("d@contoso.com", "2026-04-01"): "W",
}


def rows() -> list[dict]:
    header, *lines = CSV.strip().splitlines()
    names = header.split(",")
    return [{n: v or None for n, v in zip(names, line.split(","), strict=True)} for line in lines]


def test_month_starts_cross_the_year_boundary():
    assert month_starts(dt.date(2026, 2, 1), 3) == ["2025-12-01", "2026-01-01", "2026-02-01"]
    assert len(month_starts(dt.date(2026, 10, 1), 13)) == 13
    assert month_starts(dt.date(2026, 10, 1), 13)[0] == "2025-10-01"


def test_expansion_matches_the_hand_computed_cases():
    snapshots = list(expand_monthly_snapshots(rows(), HISTORY))
    got = {(s["PersonId"], s["EffectiveDate"]): s["Organization"] for s in snapshots}
    assert got == EXPECTED
    assert len(snapshots) == len(EXPECTED)  # one row per person and month, no duplicates


def test_input_order_does_not_matter():
    shuffled = list(reversed(rows()))
    got = {
        (s["PersonId"], s["EffectiveDate"]): s["Organization"]
        for s in expand_monthly_snapshots(shuffled, HISTORY)
    }
    assert got == EXPECTED


def test_without_an_end_date_column_people_stay_after_leaving():
    history = HistorySettings("PersonId", "EffectiveDate", 4, None, dt.date(2026, 4, 1))
    got = {(s["PersonId"], s["EffectiveDate"]) for s in expand_monthly_snapshots(rows(), history)}
    assert ("a@contoso.com", "2026-04-01") in got
    assert ("c@contoso.com", "2026-04-01") in got


def test_a_row_without_effective_date_is_a_clear_error():
    broken = [*rows(), {"PersonId": "e@contoso.com", "EffectiveDate": None}]
    with pytest.raises(HRSourceError, match="EffectiveDate"):
        list(expand_monthly_snapshots(broken, HISTORY))


def test_the_tap_emits_the_snapshots_of_a_csv(tmp_path, run_tap):
    source = tmp_path / "history.csv"
    source.write_text(CSV)
    config = {
        "streams": [
            {
                "name": "employees",
                "path": str(source),
                "key_properties": ["PersonId", "EffectiveDate"],
                "history": "monthly_snapshots",
                "person_key": "PersonId",
                "effective_date_column": "EffectiveDate",
                "end_date_column": "TerminationDate",
                "months": 4,
                "snapshot_end_date": "2026-04-17",  # any day of the month: its month start is used
            }
        ]
    }
    output = run_tap(config)
    got = {(r["PersonId"], r["EffectiveDate"]): r["Organization"] for r in output.of("employees")}
    assert got == EXPECTED
    assert output.schemas["employees"]["properties"]["EffectiveDate"] == {"type": "string", "format": "date"}


def test_snapshot_defaults_are_13_months_ending_this_month():
    settings = parse_stream_settings(
        {
            "name": "employees",
            "path": "x.csv",
            "history": "monthly_snapshots",
            "person_key": "PersonId",
            "effective_date_column": "EffectiveDate",
        },
        today=dt.date(2026, 11, 26),
    )
    assert settings.history is not None
    assert settings.history.months == 13
    assert settings.history.snapshot_end_date == dt.date(2026, 11, 1)


def test_snapshots_need_person_key_and_effective_date_column():
    with pytest.raises(HRSourceError, match="person_key"):
        parse_stream_settings({"name": "e", "path": "x.csv", "history": "monthly_snapshots"})


def test_snapshots_refuse_a_replication_key():
    raw = {
        "name": "e",
        "sqlalchemy_url": "sqlite://",
        "table": "employees",
        "replication_key": "updated_at",
        "history": "monthly_snapshots",
        "person_key": "PersonId",
        "effective_date_column": "EffectiveDate",
    }
    with pytest.raises(HRSourceError, match="remove 'replication_key'"):
        parse_stream_settings(raw)
