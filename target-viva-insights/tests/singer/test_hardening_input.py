"""Input is refused with its place, never guessed: through the real `target-viva-insights` process each
bad input ends with exit code 3, a last stderr line naming the input line or data.csv row (and the
column and rule where there is one), no traceback, no zip and no STATE."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from target_viva_insights.singer.fast_path import undecodable
from viva_testing import STREAM, hr_schema, singer_lines, small_org

DATA_EXIT = 3
STATE = {"type": "STATE", "value": {"bookmarks": {STREAM: {"replication_key_value": "2025-01-01"}}}}


def run_bytes(tmp_path: Path, data: bytes) -> tuple[subprocess.CompletedProcess[bytes], Path]:
    out = tmp_path / "out"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dry_run": True, "output_dir": str(out)}))
    command = [str(Path(sys.executable).parent / "target-viva-insights"), "--config", str(config)]
    result = subprocess.run(command, input=data, capture_output=True, timeout=120, check=False)
    return result, out


def with_state(lines: str) -> bytes:
    return (lines + json.dumps(STATE) + "\n").encode("utf-8")


def assert_refused(result: subprocess.CompletedProcess[bytes], out: Path, *expected: str) -> str:
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == DATA_EXIT, stderr[-3000:]
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert "ERROR" in last
    for text in expected:
        assert text in stderr, (text, stderr[-2000:])
    assert result.stdout == b""  # no STATE
    assert not list(out.glob("*.zip")) if out.exists() else True
    return stderr


def report_rows(out: Path) -> list[dict[str, str]]:
    (report,) = out.glob("viva-insights-*-validation.csv")
    with report.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def records_with(row: int, **values: Any) -> list[dict[str, Any]]:
    records = small_org()
    records[row].update(values)
    return records


def test_bytes_that_are_not_utf8_name_their_line(tmp_path: Path) -> None:
    lines = singer_lines(hr_schema(), small_org()).encode("utf-8").splitlines(keepends=True)
    lines[4] = lines[4].replace(b"Sales", b"Sal\xffes")
    result, out = run_bytes(tmp_path, b"".join(lines) + json.dumps(STATE).encode() + b"\n")
    assert_refused(result, out, "Input line 5 is not UTF-8 text")


def test_a_lone_surrogate_names_its_line(tmp_path: Path) -> None:
    text = singer_lines(hr_schema(), small_org()).replace("Sales", "Sal\\ud800es", 1)
    result, out = run_bytes(tmp_path, with_state(text))
    assert_refused(result, out, "Input line 3 is not valid JSON")


def test_a_nul_character_is_a_finding_with_row_and_column(tmp_path: Path) -> None:
    result, out = run_bytes(
        tmp_path, with_state(singer_lines(hr_schema(), records_with(2, Organization="a\0b")))
    )
    assert_refused(result, out, "row 4, column Organization")
    (finding,) = [row for row in report_rows(out) if row["rule"] == "nul-character"]
    assert finding["row"] == "4"
    assert finding["value"] == "a\\x00b"


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_integers_beyond_64_bits_are_refused(tmp_path: Path, value: int) -> None:
    result, out = run_bytes(tmp_path, with_state(singer_lines(hr_schema(), records_with(1, Layer=value))))
    assert_refused(result, out, "row 3, column Layer")
    (finding,) = [row for row in report_rows(out) if row["rule"] == "schema-type"]
    assert "beyond 64 bits" in finding["message"]
    assert finding["value"].lstrip("'") == str(value)


@pytest.mark.parametrize(
    ("column", "value"),
    [("Layer", 1.5), ("Layer", True), ("Rate", False), ("Rate", "12"), ("Layer", "3")],
)
def test_numbers_are_never_coerced(tmp_path: Path, column: str, value: Any) -> None:
    """1.5 is not the integer 1, false is not the number 0, text is not a number."""
    schema = hr_schema({"Rate": {"type": ["number", "null"]}})
    records = [{**record, "Rate": None} for record in small_org()]
    records[1][column] = value
    result, out = run_bytes(tmp_path, with_state(singer_lines(schema, records)))
    assert_refused(result, out, f"row 3, column {column}")


def test_wide_integers_in_a_number_column_keep_every_digit(run_target) -> None:
    schema = hr_schema({"Rate": {"type": ["number", "null"]}})
    records = [{**record, "Rate": None} for record in small_org()]
    records[1]["Rate"] = 2**60 + 1
    outcome = run_target(singer_lines(schema, records))
    assert outcome.error is None, outcome.error
    rows = list(csv.DictReader(outcome.data_csv().decode().splitlines()))
    assert rows[1]["Rate"] == str(2**60 + 1)


def test_two_columns_differing_only_in_case(tmp_path: Path) -> None:
    schema = hr_schema({"dept": {"type": "string"}, "Dept": {"type": "string"}})
    records = [{**record, "dept": "a", "Dept": "b"} for record in small_org()]
    result, out = run_bytes(tmp_path, with_state(singer_lines(schema, records)))
    assert_refused(result, out, "differ in case only")
    assert {row["rule"] for row in report_rows(out)} >= {"duplicate-header"}


def test_a_field_the_schema_does_not_declare(tmp_path: Path) -> None:
    result, out = run_bytes(tmp_path, with_state(singer_lines(hr_schema(), records_with(3, Salary=123))))
    assert_refused(result, out, "row 5, column Salary")
    (finding,) = [row for row in report_rows(out) if row["rule"] == "undeclared-field"]
    assert finding["row"] == "5"


def test_an_excluded_column_is_not_undeclared(run_target) -> None:
    schema = hr_schema({"Salary": {"type": "integer"}})
    records = [{**record, "Salary": 1} for record in small_org()]
    outcome = run_target(singer_lines(schema, records), exclude_columns=["Salary"])
    assert outcome.error is None, outcome.error


@pytest.mark.parametrize("value", ["03/04/2025", "4 March 2025", "20250304"])
def test_a_non_iso_string_in_a_date_column_is_not_guessed(tmp_path: Path, value: str) -> None:
    result, out = run_bytes(
        tmp_path, with_state(singer_lines(hr_schema(), records_with(2, EffectiveDate=value)))
    )
    assert_refused(result, out, "row 4, column EffectiveDate")
    (finding,) = [row for row in report_rows(out) if row["rule"] == "non-iso-date"]
    assert finding["value"] == value


def test_a_record_without_its_key_property_names_its_line(tmp_path: Path) -> None:
    records = small_org()
    del records[2]["PersonId"]
    lines = singer_lines(hr_schema(), records, key_properties=["PersonId"])
    result, out = run_bytes(tmp_path, with_state(lines))
    assert_refused(result, out, "Input line 4", "key_properties")


def test_a_record_before_its_schema_names_its_line(tmp_path: Path) -> None:
    record = json.dumps({"type": "RECORD", "stream": STREAM, "record": small_org()[0]})
    result, out = run_bytes(tmp_path, with_state(record + "\n"))
    assert_refused(result, out, "Input line 1", "before a corresponding schema")


def test_a_batch_manifest_pointing_nowhere_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "deeper" / "part-1.jsonl.gz"
    batch = {
        "type": "BATCH",
        "stream": STREAM,
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "manifest": [missing.as_uri()],
    }
    text = singer_lines(hr_schema(), []) + json.dumps(batch) + "\n"
    result, out = run_bytes(tmp_path, with_state(text))
    assert_refused(result, out, "Input line 2", "manifest names a file that does not exist")
    assert not (tmp_path / "nowhere").exists()


def test_not_json_names_its_line_with_exit_code_3(tmp_path: Path) -> None:
    result, out = run_bytes(tmp_path, with_state(singer_lines(hr_schema(), small_org()) + "{not json\n"))
    stderr = assert_refused(result, out, "Input line 8 is not valid JSON")
    assert "contoso.com" not in stderr


SCHEMA_LINE = json.dumps({"type": "SCHEMA", "stream": STREAM, "schema": hr_schema(), "key_properties": []})


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"type": "RECORD", "record": {"PersonId": "private@contoso.com"}}, "'stream' is missing"),
        ({"type": "RECORD", "stream": STREAM, "record": "private@contoso.com"}, "'record' is missing or not"),
        ({"type": "SCHEMA", "stream": STREAM}, "'schema' is missing"),
        ({"type": "SCHEMA", "stream": STREAM, "schema": {"type": "object"}}, "no 'properties'"),
        ({"type": "STATE"}, "'value' is missing"),
        ({"type": "BATCH", "stream": STREAM}, "'encoding' is missing"),
        ({"type": "ACTIVATE_VERSION", "stream": STREAM}, "'version' is missing"),
    ],
)
def test_a_malformed_message_names_its_line_never_its_content(
    tmp_path: Path, message: dict[str, Any], expected: str
) -> None:
    result, out = run_bytes(tmp_path, with_state(SCHEMA_LINE + "\n" + json.dumps(message) + "\n"))
    stderr = assert_refused(result, out, "Input line 2", expected)
    assert "private@contoso.com" not in stderr


@pytest.mark.parametrize(
    "reported",
    [
        "Invalid UTF-8 encoded string",  # how newer msgspec releases word it
        "JSON is malformed: invalid character (byte 7)",  # any other wording a release may choose
    ],
)
def test_bad_utf8_is_named_whatever_msgspec_calls_it(reported: str) -> None:
    assert undecodable(b'{"a": "\xff"}\n', msgspec.DecodeError(reported)) == "is not UTF-8 text"
    assert undecodable(b'{"a": \n', msgspec.DecodeError(reported)) == f"is not valid JSON ({reported})"
