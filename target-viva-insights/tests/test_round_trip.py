"""Records -> zip -> data.csv parsed back: each value is what the formatting rules promise."""

from __future__ import annotations

import csv
import datetime
import io

import pytest
from viva_testing import hr_schema, singer_lines, small_org

TRICKY_PROPERTIES = {
    "Nickname": {"type": ["string", "null"]},
    "Badge": {"type": ["integer", "null"]},
    "HourlyRate": {"type": ["number", "null"]},
    "HireDate": {"type": ["string", "null"], "format": "date"},
    "LastLogin": {"type": ["string", "null"], "format": "date-time"},
    "IsRemote": {"type": ["boolean", "null"]},
    "Skills": {"type": ["array", "null"], "items": {"type": "string"}},
    "Desk": {"type": ["object", "null"], "properties": {"floor": {"type": "integer"}}},
}

# (value sent, text expected in data.csv); one row of the small org each, so rows stay valid.
CASES = {
    "Nickname": ["Zoë Ågren 山田", "Smith, John", 'The "Boss"', "  padded  ", "", None],
    "Badge": [9007199254740993, -42, 0, 7, 123456789012345678, None],
    "HourlyRate": [19.99, 0.1, 1e20, 1e-07, -0.5, 3],
    "HireDate": ["2024-02-29", "1999-12-31", "2025-01-01", None, "2020-06-15", "2010-10-10"],
    "LastLogin": [
        "2024-03-01T23:30:00-05:00",
        "2024-03-01T00:15:00Z",
        "2024-12-31T10:00:00.123456+01:00",
        "2025-01-01 08:00:00",
        None,
        "2025-01-02T00:00:00",
    ],
    "IsRemote": [True, False, None, True, False, True],
    "Skills": [["python", "sql"], [], None, ["a,b"], ["x"], ["y"]],
    "Desk": [{"floor": 3}, None, {"floor": 0}, {"floor": 1}, {"floor": 2}, {"floor": 4}],
}

EXPECTED_MDY = {
    "Nickname": ["Zoë Ågren 山田", "Smith, John", 'The "Boss"', "  padded  ", "", ""],
    "Badge": ["9007199254740993", "-42", "0", "7", "123456789012345678", ""],
    "HourlyRate": ["19.99", "0.1", "100000000000000000000", "0.0000001", "-0.5", "3"],
    "HireDate": ["02/29/2024", "12/31/1999", "01/01/2025", "", "06/15/2020", "10/10/2010"],
    "LastLogin": ["03/01/2024", "03/01/2024", "12/31/2024", "01/01/2025", "", "01/02/2025"],
    "IsRemote": ["TRUE", "FALSE", "", "TRUE", "FALSE", "TRUE"],
    "Skills": ['["python","sql"]', "[]", "", '["a,b"]', '["x"]', '["y"]'],
    "Desk": ['{"floor":3}', "", '{"floor":0}', '{"floor":1}', '{"floor":2}', '{"floor":4}'],
}


def tricky_records() -> list[dict]:
    rows = small_org()
    for index, row in enumerate(rows):
        row.update({name: values[index] for name, values in CASES.items()})
    return rows


def parsed(data: bytes) -> list[dict[str, str]]:
    assert not data.startswith(b"\xef\xbb\xbf"), "UTF-8 without BOM"
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


@pytest.mark.parametrize("date_order", ["MDY", "DMY"])
def test_values_come_back_as_the_rules_promise(run_target, date_order) -> None:
    outcome = run_target(singer_lines(hr_schema(TRICKY_PROPERTIES), tricky_records()), date_order=date_order)
    assert outcome.error is None, outcome.report_rows
    rows = parsed(outcome.data_csv())
    for name, expected in EXPECTED_MDY.items():
        if date_order == "DMY" and name in ("HireDate", "LastLogin"):
            expected = [_swap_day_month(text) for text in expected]
        assert [row[name] for row in rows] == expected, name
    assert [row["EffectiveDate"] for row in rows] == ["01/01/2025"] * 6
    assert [row["PersonId"] for row in rows] == [r["PersonId"] for r in small_org()]


def _swap_day_month(text: str) -> str:
    if not text:
        return text
    month, day, year = text.split("/")
    return f"{day}/{month}/{year}"


def test_null_and_empty_string_are_told_apart_in_the_file(run_target) -> None:
    outcome = run_target(singer_lines(hr_schema(TRICKY_PROPERTIES), tricky_records()))
    lines = outcome.data_csv().decode("utf-8").splitlines()
    header = lines[0].split(",")
    nickname = header.index("Nickname")
    fifth, sixth = next(csv.reader([lines[5]])), next(csv.reader([lines[6]]))
    assert fifth[nickname] == sixth[nickname] == ""
    # RFC 4180: an empty string is quoted, a null is an empty field.
    assert ',"",' in lines[5] or lines[5].endswith(',""')
    assert lines[0] == ",".join(header) and '"' not in lines[0]


def test_metadata_keys_equal_the_header_in_order(run_target) -> None:
    outcome = run_target(singer_lines(hr_schema(TRICKY_PROPERTIES), tricky_records()))
    header = outcome.data_csv().decode("utf-8").splitlines()[0].split(",")
    metadata = outcome.metadata()
    assert list(metadata) == ["DatasetType", "IsBootstrap", "Mapping"]
    assert metadata["DatasetType"] == "HR" and metadata["IsBootstrap"] == "true"
    assert list(metadata["Mapping"]) == header
    types = {name: entry["type"] for name, entry in metadata["Mapping"].items()}
    assert types == {
        "PersonId": "EmailType",
        "ManagerId": "EmailType",
        "Organization": "StringType",
        "EffectiveDate": "DateTime_MMDDYYYY",
        "Layer": "IntegerType",
        "Nickname": "StringType",
        "Badge": "IntegerType",
        "HourlyRate": "DoubleType",
        "HireDate": "DateTime_MMDDYYYY",
        "LastLogin": "DateTime_MMDDYYYY",
        "IsRemote": "StringType",
        "Skills": "StringType",
        "Desk": "StringType",
    }


def test_the_zip_holds_exactly_data_csv_and_metadata_json(run_target) -> None:
    import zipfile

    outcome = run_target(singer_lines(hr_schema(), small_org()))
    (package,) = outcome.packages
    with zipfile.ZipFile(package) as archive:
        assert sorted(archive.namelist()) == ["data.csv", "metadata.json"]


def test_source_names_match_reserved_viva_names_and_column_mapping(run_target) -> None:
    schema = {
        "type": "object",
        "properties": {
            "person_id": {"type": "string"},
            "manager-id": {"type": ["string", "null"]},
            "Employee Org": {"type": "string"},
            "effective date": {"type": "string", "format": "date"},
            "LAYER": {"type": "integer"},
            "ssn": {"type": "string"},
        },
    }
    records = [
        {
            "person_id": r["PersonId"],
            "manager-id": r["ManagerId"],
            "Employee Org": r["Organization"],
            "effective date": r["EffectiveDate"],
            "LAYER": r["Layer"],
            "ssn": "000-00-0000",
        }
        for r in small_org()
    ]
    outcome = run_target(
        singer_lines(schema, records),
        column_mapping={"Employee Org": "Organization"},
        exclude_columns=["ssn"],
    )
    assert outcome.error is None, outcome.report_rows
    assert list(outcome.metadata()["Mapping"]) == [
        "PersonId",
        "ManagerId",
        "Organization",
        "EffectiveDate",
        "Layer",
    ]
    assert b"000-00-0000" not in outcome.data_csv()


def test_flattening_turns_objects_into_columns(run_target) -> None:
    schema = hr_schema({"Desk": TRICKY_PROPERTIES["Desk"]})
    records = [{**row, "Desk": {"floor": index}} for index, row in enumerate(small_org())]
    outcome = run_target(
        singer_lines(schema, records),
        flattening_enabled=True,
        flattening_max_depth=1,
        column_mapping={"Desk__floor": "DeskFloor"},
    )
    assert outcome.error is None, outcome.report_rows
    assert [row["DeskFloor"] for row in parsed(outcome.data_csv())] == ["0", "1", "2", "3", "4", "5"]


def test_batch_messages_with_typed_parquet_values(run_target, tmp_path) -> None:
    """BATCH messages bypass the record path: the SDK reads Parquet files with real date objects."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    records = small_org()
    table = pa.Table.from_pylist(records).set_column(
        3, "EffectiveDate", pa.array([datetime.date(2025, 1, 1)] * len(records))
    )
    pq.write_table(table, tmp_path / "part.parquet")
    schema_line = singer_lines(hr_schema(), [])
    batch = {
        "type": "BATCH",
        "stream": "employees",
        "encoding": {"format": "parquet", "compression": "none"},
        "manifest": [(tmp_path / "part.parquet").as_uri()],
    }
    outcome = run_target(schema_line + json.dumps(batch) + "\n")
    assert outcome.error is None, outcome.report_rows
    assert [row["EffectiveDate"] for row in parsed(outcome.data_csv())] == ["01/01/2025"] * 6
