"""package.py: a package written by the target's writer reads back through the one reader."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pyarrow as pa
import pytest
from target_viva_insights.import_mode import ImportMode
from target_viva_insights.package import (
    CsvField,
    DataCsvWriter,
    complete_package,
    date_order_of,
    metadata_document,
    open_package,
    read_text_batches,
)
from target_viva_insights.rules import DateOrder

FIELDS = [
    CsvField("PersonId", "PersonId", "EmailType"),
    CsvField("ManagerId", "ManagerId", "EmailType"),
    CsvField("HireDate", "HireDate", "DateTime_DDMMYYYY"),
    CsvField("Note", "Note", "StringType"),
]
ROWS = {
    "PersonId": ["ana@contoso.com", "ben@contoso.com"],
    "ManagerId": [None, "ana@contoso.com"],
    "HireDate": ["31/01/2020", "01/02/2021"],
    "Note": ['says "hi", twice', ""],
}


def write(tmp_path: Path, mode: ImportMode) -> Path:
    writer = DataCsvWriter(tmp_path / "work.zip", [field.header for field in FIELDS])
    writer.append(pa.table({name: pa.array(values, pa.string()) for name, values in ROWS.items()}))
    writer.close()
    assert writer.rows == 2
    return complete_package(writer.path, metadata_document(FIELDS, mode), tmp_path / "out" / "p.zip")


@pytest.mark.parametrize(
    ("mode", "is_bootstrap"), [(ImportMode.FULL, "true"), (ImportMode.INCREMENTAL, "false")]
)
def test_written_package_reads_back(tmp_path, mode, is_bootstrap) -> None:
    package = write(tmp_path, mode)
    assert not (tmp_path / "work.zip").exists()
    with zipfile.ZipFile(package) as archive:
        assert sorted(archive.namelist()) == ["data.csv", "metadata.json"]
        metadata = json.loads(archive.read("metadata.json"))
    assert list(metadata) == ["DatasetType", "IsBootstrap", "Mapping"]
    assert metadata["IsBootstrap"] == is_bootstrap
    with open_package(package) as opened:
        assert opened.fields == FIELDS
        assert opened.import_mode is mode
        assert opened.date_order is DateOrder.DMY
        header = opened.data.readline()
        assert header == b"PersonId,ManagerId,HireDate,Note\n"
        batches = list(read_text_batches(opened.data, [field.header for field in FIELDS]))
    table = pa.Table.from_batches(batches)
    # Empty cells come back as empty text for the rules: a null and an empty string both read as "".
    assert table.to_pydict() == {**ROWS, "ManagerId": ["", "ana@contoso.com"]}


def test_the_merge_reader_keeps_null_apart_from_empty_text(tmp_path) -> None:
    package = write(tmp_path, ImportMode.FULL)
    with zipfile.ZipFile(package) as archive, archive.open("data.csv") as data:
        batches = read_text_batches(data, list(ROWS), skip_header=True, empty_as_null=True)
        table = pa.Table.from_batches(list(batches))
    assert table.to_pydict() == ROWS


def test_each_date_field_has_its_own_order() -> None:
    """Formerly a package error: the attribute reference lets the admin pick the date type per field."""
    fields = [CsvField("A", "A", DateOrder.DMY.type_token), CsvField("B", "B", DateOrder.MDY.type_token)]
    assert date_order_of(fields) is DateOrder.DMY  # the order of fields whose token names none
    assert date_order_of([CsvField("A", "A", "StringType")]) is DateOrder.MDY


def test_package_is_written_without_a_partial_file_left(tmp_path) -> None:
    package = write(tmp_path, ImportMode.FULL)
    assert [path.name for path in package.parent.iterdir()] == ["p.zip"]
