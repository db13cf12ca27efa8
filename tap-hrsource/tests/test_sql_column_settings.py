"""column_types, date_formats and null_values on SQL streams, against real PostgreSQL and SQLite."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from tap_hrsource.errors import DataValueError, HRSourceError
from tap_hrsource.tap import TapHRSource

TEXT_COLUMNS = {
    "PersonId": sa.String(100),
    "Layer": sa.String(10),
    "HireDate": sa.String(20),
    "Rate": sa.String(20),
    "IsManager": sa.String(10),
    "Code": sa.Integer(),
}


def text_rows() -> list[dict]:
    return [
        {"PersonId": "a@contoso.com", "Layer": "1", "HireDate": "03/15/2024", "Rate": "45.50",
         "IsManager": "true", "Code": 7},
        {"PersonId": "b@contoso.com", "Layer": "NA", "HireDate": "n/a", "Rate": "NA",
         "IsManager": "false", "Code": 8},
    ]  # fmt: skip


@pytest.fixture(params=["postgresql", "sqlite"])
def text_table_url(request, tmp_path, load_table) -> str:
    """An HR table whose columns are all text in the database, as many exports load them."""
    url = (
        request.getfixturevalue("postgres_url")
        if request.param == "postgresql"
        else f"sqlite:///{tmp_path / 'hr.db'}"
    )
    load_table(url, "text_people", TEXT_COLUMNS, text_rows())
    return url


def config(url: str, **settings: object) -> dict:
    stream = {"name": "people", "sqlalchemy_url": url, "table": "text_people", "key_properties": ["PersonId"]}
    return {"streams": [{**stream, **settings}]}


def test_column_types_declare_and_cast_sql_columns(text_table_url, run_tap):
    output = run_tap(
        config(
            text_table_url,
            column_types={"Layer": "integer", "HireDate": "date", "Rate": "number", "IsManager": "boolean",
                          "Code": "string"},
            date_formats=["%m/%d/%Y"],
            null_values=["NA", "n/a"],
        )
    )  # fmt: skip
    properties = output.schemas["people"]["properties"]
    assert properties["Layer"] == {"type": ["integer", "null"]}
    assert properties["HireDate"] == {"type": ["string", "null"], "format": "date"}
    assert properties["Rate"] == {"type": ["number", "null"]}
    assert properties["IsManager"] == {"type": ["boolean", "null"]}
    assert properties["Code"] == {"type": ["string", "null"]}
    records = sorted(output.of("people"), key=lambda r: r["PersonId"])
    assert records == [
        {"PersonId": "a@contoso.com", "Layer": 1, "HireDate": "2024-03-15", "Rate": 45.5, "IsManager": True,
         "Code": "7"},
        {"PersonId": "b@contoso.com", "Layer": None, "HireDate": None, "Rate": None, "IsManager": False,
         "Code": "8"},
    ]  # fmt: skip


def test_null_values_alone_apply_to_sql_text(text_table_url, run_tap):
    records = run_tap(config(text_table_url, null_values=["NA"])).of("people")
    assert {r["PersonId"]: r["Layer"] for r in records} == {"a@contoso.com": "1", "b@contoso.com": None}


def test_a_value_that_does_not_fit_column_types_names_row_column_and_value(text_table_url):
    tap = TapHRSource(config=config(text_table_url, column_types={"Layer": "integer"}))
    with pytest.raises(DataValueError, match=r"row \d, column 'Layer': value 'NA' is not a valid integer"):
        tap.sync_all()


def test_date_formats_without_a_declared_date_column_are_refused(text_table_url):
    with pytest.raises(HRSourceError, match="date_formats parse the text columns that column_types declares"):
        TapHRSource(config=config(text_table_url, date_formats=["%m/%d/%Y"])).streams  # noqa: B018


def test_column_types_naming_an_unknown_column_is_refused(text_table_url):
    with pytest.raises(HRSourceError, match="column 'Salary' is not in the table or query"):
        TapHRSource(config=config(text_table_url, column_types={"Salary": "number"})).streams  # noqa: B018
