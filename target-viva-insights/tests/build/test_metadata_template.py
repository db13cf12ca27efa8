"""The customer's metadata template (setting `metadata_template`, `--template`): its tokens are Viva's."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from target_viva_insights.errors import ConfigurationError
from target_viva_insights.template import load_template
from viva_testing import hr_schema, singer_lines, small_org

# As the portal's template zip might map fields: tokens we have never seen for HR data.
TEMPLATE = {
    "DatasetType": "HR",
    "IsBootstrap": "true",
    "Mapping": {
        "PersonId": {"name": "PersonId", "type": "EmailType"},
        "ManagerId": {"name": "ManagerId", "type": "EmailType"},
        "Organization": {"name": "Organization", "type": "StringType"},
        "EffectiveDate": {"name": "EffectiveDate", "type": "DateTime_MM/DD/YYYY"},
        "Layer": {"name": "Layer", "type": "int32"},
        "Employee Region": {"name": "Region", "type": "StringType"},
    },
}


def write_template(folder: Path, document: object = TEMPLATE) -> Path:
    path = folder / "metadata.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_tokens_are_read_per_viva_field(tmp_path: Path) -> None:
    template = load_template(write_template(tmp_path))

    assert template.token_for("Layer") == "int32"
    assert template.token_for("Region") == "StringType"  # the field name, not the source column
    assert template.token_for("HireDate") is None
    assert template.lacks("HireDate") and not template.lacks("EffectiveDate")
    assert "DateTime_MM/DD/YYYY" in template.tokens


def test_the_template_zip_itself_is_accepted(tmp_path: Path) -> None:
    archive_path = tmp_path / "template.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("OrgDataTemplate/data.csv", "PersonId\n")
        archive.writestr("OrgDataTemplate/metadata.json", json.dumps(TEMPLATE))

    assert load_template(archive_path).token_for("Layer") == "int32"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "is not UTF-8 JSON"),
        ('["a list"]', "must hold a JSON object"),
        (json.dumps({"DatasetType": "HR"}), 'no "Mapping"'),
        (json.dumps({"Mapping": {"PersonId": {"name": "PersonId"}}}), 'has no "type"'),
    ],
)
def test_an_unusable_template_is_a_configuration_error(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "metadata.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")

    with pytest.raises(ConfigurationError, match=message) as raised:
        load_template(path)
    assert raised.value.exit_code == 2


def test_the_target_writes_the_templates_tokens(run_target, tmp_path: Path) -> None:
    template = write_template(tmp_path)
    schema = hr_schema({"Area": {"type": ["string", "null"]}})
    records = [{**row, "Area": "West" if index % 2 else "East"} for index, row in enumerate(small_org())]

    outcome = run_target(singer_lines(schema, records), metadata_template=str(template))

    assert outcome.error is None, outcome.report_rows
    mapping = outcome.metadata()["Mapping"]
    assert mapping["Layer"]["type"] == "int32"
    assert mapping["EffectiveDate"]["type"] == "DateTime_MM/DD/YYYY"
    assert mapping["Area"]["type"] == "StringType"  # our guess: the template has no Area
    assert outcome.findings("unknown-type") == []  # the template's tokens are known ones
    (lacking,) = outcome.findings("field-not-in-template")
    assert (lacking["severity"], lacking["column"]) == ("warning", "Area")


def test_a_field_types_entry_still_wins_over_the_template(run_target, tmp_path: Path) -> None:
    template = write_template(tmp_path)
    outcome = run_target(
        singer_lines(hr_schema(), small_org()),
        metadata_template=str(template),
        field_types={"Layer": "IntegerType"},
    )
    assert outcome.error is None, outcome.report_rows
    assert outcome.metadata()["Mapping"]["Layer"]["type"] == "IntegerType"
    (other,) = outcome.findings("type-not-from-template")
    assert "int32" in other["message"]


def test_a_template_date_type_decides_how_its_dates_are_written(run_target, tmp_path: Path) -> None:
    document = json.loads(json.dumps(TEMPLATE))
    document["Mapping"]["EffectiveDate"]["type"] = "DateTime_DD/MM/YYYY"
    template = write_template(tmp_path, document)

    outcome = run_target(singer_lines(hr_schema(), small_org("2025-01-31")), metadata_template=str(template))

    assert outcome.error is None, outcome.report_rows
    assert b',"31/01/2025",' in outcome.data_csv()  # date_order is MDY; the template says DD/MM/YYYY


def test_the_target_refuses_an_unreadable_template(run_target, tmp_path: Path) -> None:
    outcome = run_target(
        singer_lines(hr_schema(), small_org()), metadata_template=str(tmp_path / "nope.json")
    )
    assert isinstance(outcome.error, ConfigurationError)
    assert "metadata_template" in str(outcome.error)
