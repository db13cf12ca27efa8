"""validate_package: the checks the `validate` command and the emulator run on an existing zip."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from target_viva_insights.validation.validator import validate_package
from viva_testing import hr_schema, singer_lines, small_org


@pytest.fixture
def good_zip(run_target) -> Path:
    (package,) = run_target(singer_lines(hr_schema(), small_org())).packages
    return package


def rewrite(source: Path, target: Path, **members: bytes | None) -> Path:
    """A copy of `source` with members replaced (bytes), removed (None) or added."""
    with zipfile.ZipFile(source) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    contents.update(members)
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in contents.items():
            if data is not None:
                archive.writestr(name, data)
    return target


def test_the_targets_package_passes(good_zip) -> None:
    report = validate_package(good_zip)
    assert report.ok, report.errors
    assert report.rows_checked == 6


@pytest.mark.parametrize(
    ("members", "rule", "message"),
    [
        ({"extra.txt": b"x"}, "package-members", "exactly data.csv and metadata.json"),
        ({"metadata.json": None}, "package-members", "exactly data.csv and metadata.json"),
        ({"metadata.json": b"{not json"}, "invalid-metadata", "not valid UTF-8 JSON"),
        (
            {"metadata.json": json.dumps({"DatasetType": "HR", "IsBootstrap": True, "Mapping": {}}).encode()},
            "is-bootstrap",
            '"IsBootstrap" must be the string',
        ),
        ({"data.csv": b""}, "empty-member", "data.csv is empty"),
    ],
)
def test_package_layout_errors(good_zip, tmp_path, members, rule, message) -> None:
    report = validate_package(rewrite(good_zip, tmp_path / "bad.zip", **members))
    assert not report.ok
    assert (report.errors[0].rule, report.errors[0].severity) == (rule, "error")
    assert message in report.errors[0].message


def test_header_must_match_the_mapping(good_zip, tmp_path) -> None:
    with zipfile.ZipFile(good_zip) as archive:
        data = archive.read("data.csv").replace(b"Organization", b"Org", 1)
    report = validate_package(rewrite(good_zip, tmp_path / "bad.zip", **{"data.csv": data}))
    (error,) = report.errors
    assert error.rule == "header-mapping-mismatch"
    assert "not mapped in metadata.json: Org; mapped but not in data.csv: Organization" in error.message


def test_the_mapping_may_list_columns_in_another_order(good_zip, tmp_path) -> None:
    """Formerly refused: "Attributes can be in any order in the file" (Prepare organizational data)."""
    with zipfile.ZipFile(good_zip) as archive:
        metadata = json.loads(archive.read("metadata.json"))
    metadata["Mapping"] = dict(reversed(list(metadata["Mapping"].items())))
    report = validate_package(
        rewrite(good_zip, tmp_path / "turned.zip", **{"metadata.json": json.dumps(metadata).encode()})
    )
    assert report.ok, report.errors
    assert report.rows_checked == 6


def test_rows_are_checked_with_the_same_rules(good_zip, tmp_path) -> None:
    with zipfile.ZipFile(good_zip) as archive:
        data = archive.read("data.csv").replace(b"ana@contoso.com", b"ana@@contoso", 1)
    report = validate_package(rewrite(good_zip, tmp_path / "bad.zip", **{"data.csv": data}))
    rules = {issue.rule for issue in report.errors}
    assert "invalid-email" in rules
    (email,) = [issue for issue in report.errors if issue.rule == "invalid-email"]
    assert (email.row, email.column, email.value) == (3, "PersonId", "ana@@contoso")


def test_a_row_with_the_wrong_number_of_fields(good_zip, tmp_path) -> None:
    with zipfile.ZipFile(good_zip) as archive:
        data = archive.read("data.csv") + b'"extra@contoso.com","x"\n'
    report = validate_package(rewrite(good_zip, tmp_path / "bad.zip", **{"data.csv": data}))
    assert any(issue.rule == "ragged-row" for issue in report.errors)


def test_a_custom_mapping_with_source_headers(tmp_path) -> None:
    """Packages built by hand map source headers onto Viva names, as Microsoft's template does."""
    metadata = {
        "DatasetType": "HR",
        "IsBootstrap": "true",
        "Mapping": {
            "Employee": {"name": "PersonId", "type": "EmailType"},
            "Manager": {"name": "ManagerId", "type": "EmailType"},
            "Org": {"name": "Organization", "type": "StringType"},
            "Date": {"name": "EffectiveDate", "type": "DateTime_DDMMYYYY"},
        },
    }
    data = (
        "Employee,Manager,Org,Date\n"
        "ceo@contoso.com,,Exec,31/01/2025\n"
        "ana@contoso.com,ceo@contoso.com,Sales,31/01/2025\n"
    )
    package = tmp_path / "custom.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("data.csv", data)
        archive.writestr("metadata.json", json.dumps(metadata))
    report = validate_package(package)
    assert report.ok, report.errors
