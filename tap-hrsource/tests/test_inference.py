"""Schema inference and typed values: the edge cases HR exports really have."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from openpyxl import Workbook
from tap_hrsource.errors import DataValueError, HRSourceError
from tap_hrsource.tap import TapHRSource


def stream(path: object, **settings: object) -> dict:
    return {"streams": [{"name": "people", "path": str(path), **settings}]}


def test_bom_leading_zero_ids_and_na(tmp_path, run_tap):
    source = tmp_path / "export.csv"
    source.write_bytes(
        "\ufeffEmployeeNumber,PersonId,Layer,HourlyRate,Organization,Zip\n"
        "000123,ana@contoso.com,2,25.25,Sales,01234\n"
        "000124,ben@contoso.com,NA,NA,NA,02134\n".encode()
    )
    output = run_tap(stream(source, null_values=["NA"], key_properties=["PersonId"]))
    properties = output.schemas["people"]["properties"]
    assert next(iter(properties)) == "EmployeeNumber"  # the BOM is not part of the first header
    assert properties["EmployeeNumber"] == {"type": ["string", "null"]}
    assert properties["Zip"] == {"type": ["string", "null"]}  # leading zero values: not an integer
    assert properties["PersonId"] == {"type": "string"}  # key properties are not nullable
    assert properties["Layer"] == {"type": ["integer", "null"]}
    assert properties["HourlyRate"] == {"type": ["number", "null"]}
    first, second = output.of("people")
    assert first == {
        "EmployeeNumber": "000123",
        "PersonId": "ana@contoso.com",
        "Layer": 2,
        "HourlyRate": 25.25,
        "Organization": "Sales",
        "Zip": "01234",
    }
    assert (second["Layer"], second["HourlyRate"], second["Organization"]) == (None, None, None)


def test_month_first_and_day_first_dates_are_told_apart_by_their_values(tmp_path, run_tap):
    source = tmp_path / "dates.csv"
    source.write_text(
        "PersonId,HireDate,StartDate,AmbiguousDate,IsoDate,UpdatedAt\n"
        "a@contoso.com,08/25/2012,25/08/2012,01/02/2024,2024-02-01,2024-02-01 08:30:00\n"
        "b@contoso.com,12/31/2021,31/12/2021,03/04/2024,2024-04-03,2024-04-03T17:00:00\n"
    )
    output = run_tap(stream(source, date_formats=["%m/%d/%Y", "%d/%m/%Y"]))
    properties = output.schemas["people"]["properties"]
    for column in ("HireDate", "StartDate", "AmbiguousDate", "IsoDate"):
        assert properties[column] == {"type": ["string", "null"], "format": "date"}, column
    assert properties["UpdatedAt"]["format"] == "date-time"
    first, second = output.of("people")
    assert first["HireDate"] == first["StartDate"] == "2012-08-25"
    assert second["HireDate"] == second["StartDate"] == "2021-12-31"
    # Both formats fit "01/02/2024": the first configured format (month first) wins.
    assert first["AmbiguousDate"] == "2024-01-02"
    assert first["UpdatedAt"] == "2024-02-01T08:30:00"


def test_without_date_formats_slashed_dates_stay_strings(tmp_path, run_tap):
    source = tmp_path / "dates.csv"
    source.write_text("PersonId,HireDate\na@contoso.com,08/25/2012\n")
    output = run_tap(stream(source))
    assert output.schemas["people"]["properties"]["HireDate"] == {"type": ["string", "null"]}
    assert output.of("people")[0]["HireDate"] == "08/25/2012"


def test_empty_column_is_a_nullable_string(tmp_path, run_tap):
    source = tmp_path / "empty.csv"
    source.write_text("PersonId,Nickname,Flag\na@contoso.com,,true\nb@contoso.com,,FALSE\n")
    output = run_tap(stream(source))
    properties = output.schemas["people"]["properties"]
    assert properties["Nickname"] == {"type": ["string", "null"]}
    assert properties["Flag"] == {"type": ["boolean", "null"]}
    assert [r["Nickname"] for r in output.of("people")] == [None, None]
    assert [r["Flag"] for r in output.of("people")] == [True, False]


def test_a_type_that_changes_at_row_100000_is_seen(tmp_path, run_tap):
    source = tmp_path / "large.csv"
    rows = [f"p{n}@contoso.com,{n % 7},{n}" for n in range(100_000)]
    rows += ["late@contoso.com,2.5,not-a-number"]  # data row 100,001 (line 100,002)
    source.write_text("PersonId,Layer,Badge\n" + "\n".join(rows) + "\n")
    output = run_tap(stream(source))
    properties = output.schemas["people"]["properties"]
    assert properties["Layer"] == {"type": ["number", "null"]}
    assert properties["Badge"] == {"type": ["string", "null"]}
    records = output.of("people")
    assert len(records) == 100_001
    assert records[3] == {"PersonId": "p3@contoso.com", "Layer": 3.0, "Badge": "3"}
    assert records[-1] == {"PersonId": "late@contoso.com", "Layer": 2.5, "Badge": "not-a-number"}


def test_mixed_files_in_one_glob_merge_into_one_schema(tmp_path, run_tap):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "a.csv").write_text("PersonId;Layer;HireDate\na@contoso.com;1;2020-01-01\n", encoding="cp1252")
    pq.write_table(
        pa.table({"PersonId": ["b@contoso.com"], "Layer": [2], "Bonus": [1.5]}),
        folder / "b.parquet",
    )
    (folder / "c.jsonl").write_text(json.dumps({"PersonId": "c@contoso.com", "Layer": 3.5}) + "\n")
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["PersonId", "Layer", "HireDate"])
    sheet.append(["d@contoso.com", 4, dt.datetime(2021, 5, 6)])  # an Excel date cell
    workbook.save(folder / "d.xlsx")
    output = run_tap(stream(folder / "*", key_properties=["PersonId"]))
    properties = output.schemas["people"]["properties"]
    assert set(properties) == {"PersonId", "Layer", "HireDate", "Bonus"}
    assert properties["Layer"] == {"type": ["number", "null"]}  # 3.5 in the JSONL file
    assert properties["HireDate"]["format"] == "date"
    by_person = {record["PersonId"]: record for record in output.of("people")}
    assert by_person["a@contoso.com"] == {
        "PersonId": "a@contoso.com",
        "Layer": 1.0,
        "HireDate": "2020-01-01",
        "Bonus": None,
    }
    assert by_person["b@contoso.com"]["Bonus"] == 1.5
    assert by_person["d@contoso.com"]["HireDate"] == "2021-05-06"
    assert by_person["c@contoso.com"]["Layer"] == 3.5


def test_windows_1252_and_tab_delimiter(tmp_path, run_tap):
    source = tmp_path / "export.tsv"
    source.write_bytes("PersonId\tName\nzoe@contoso.com\tZoë Brontë\n".encode("cp1252"))
    output = run_tap(stream(source, encoding="cp1252"))
    assert output.of("people") == [{"PersonId": "zoe@contoso.com", "Name": "Zoë Brontë"}]


def test_column_types_override_inference(tmp_path, run_tap):
    source = tmp_path / "export.csv"
    source.write_text("PersonId,Layer,CostCenter\na@contoso.com,1,4711\n")
    output = run_tap(stream(source, column_types={"Layer": "string", "CostCenter": "number"}))
    assert output.of("people") == [{"PersonId": "a@contoso.com", "Layer": "1", "CostCenter": 4711.0}]


def test_a_value_against_the_schema_names_file_row_column_and_value(tmp_path):
    source = tmp_path / "export.csv"
    source.write_text("PersonId,Layer\na@contoso.com,1\nb@contoso.com,2\nc@contoso.com,two\n")
    tap = TapHRSource(config=stream(source, column_types={"Layer": "integer"}))
    with pytest.raises(DataValueError) as raised:
        tap.sync_all()
    message = str(raised.value)
    assert str(source) in message
    assert "row 4" in message
    assert "'Layer'" in message
    assert "'two'" in message
    assert "integer" in message


def test_bad_input_gives_a_clear_error_without_a_traceback(tmp_path):
    source = tmp_path / "export.csv"
    source.write_text("PersonId,Layer\na@contoso.com,1\nb@contoso.com,x\n")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(stream(source, column_types={"Layer": "integer"})))
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "tap_hrsource.tap", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "row 3, column 'Layer': value 'x' is not a valid integer" in result.stderr
    assert "Traceback" not in result.stderr
    assert "pyarrow" not in result.stderr


def test_no_matching_files_is_a_clear_error(tmp_path):
    with pytest.raises(HRSourceError, match="No files found"):
        TapHRSource(config=stream(tmp_path / "missing-*.csv")).streams  # noqa: B018
