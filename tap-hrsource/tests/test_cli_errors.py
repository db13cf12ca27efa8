"""Every foreseeable file, SQL and settings problem ends the real `tap-hrsource` command with one clear line.

Each case runs the installed command in a subprocess and checks the last line of stderr (it names the
file or the URL, password masked), the documented exit code (1 source, 2 settings) and that no
traceback was printed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from hrsource_testing import CommandResult, run_command


def file_stream(path: Path, **settings: object) -> dict:
    return {"streams": [{"name": "people", "path": str(path), "key_properties": ["PersonId"], **settings}]}


def sql_stream(url: str, **settings: object) -> dict:
    return {"streams": [{"name": "people", "sqlalchemy_url": url, "table": "people", **settings}]}


def assert_clean_failure(result: CommandResult, exit_code: int, *fragments: str) -> None:
    assert result.returncode == exit_code, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.last_line, result.last_line


def test_a_file_that_is_not_utf8(tmp_path):
    source = tmp_path / "latin1.csv"
    source.write_bytes("PersonId,Name\na@contoso.com,Zoë\n".encode("latin-1"))
    result = run_command(file_stream(source), tmp_path)
    assert_clean_failure(result, 1, str(source), "not valid utf-8-sig text", "set 'encoding'")


def test_a_binary_file_named_csv(tmp_path):
    source = tmp_path / "export.csv"
    shutil.copyfile(Path(shutil.which("ls") or "/bin/ls"), source)
    result = run_command(file_stream(source), tmp_path)
    assert_clean_failure(result, 1, str(source), "a binary file, not CSV text")


def test_a_binary_file_named_jsonl(tmp_path):
    source = tmp_path / "export.jsonl"
    source.write_bytes(b"\x00\x01\x02PK\x03\x04" * 100)
    result = run_command(file_stream(source), tmp_path)
    assert_clean_failure(result, 1, str(source), "a binary file, not JSON lines text")


def test_a_text_file_named_xlsx(tmp_path):
    source = tmp_path / "export.xlsx"
    source.write_text("PersonId,Name\na@contoso.com,Ana\n", encoding="utf-8")
    result = run_command(file_stream(source), tmp_path)
    assert_clean_failure(result, 1, str(source), "not an Excel workbook (.xlsx)")


def test_excel_formulas_without_saved_values_are_named(tmp_path):
    source = tmp_path / "export.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["PersonId", "Layer", "Total"])
    sheet.append(["a@contoso.com", 1, "=B2*2"])
    sheet.append(["b@contoso.com", 2, 7])
    sheet.append(["c@contoso.com", 3, "=B4*2"])
    workbook.save(source)
    result = run_command(file_stream(source), tmp_path)
    assert_clean_failure(result, 1, str(source), "2 formula cells have no saved value (C2, C4)")
    assert '"type":"RECORD"' not in result.stdout


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_header_without_rows_is_an_empty_stream_with_the_header_columns(tmp_path, suffix):
    source = tmp_path / f"export{suffix}"
    if suffix == ".csv":
        source.write_text("PersonId,Layer\n", encoding="utf-8")
    else:
        workbook = openpyxl.Workbook()
        workbook.active.append(["PersonId", "Layer"])
        workbook.save(source)
    result = run_command(file_stream(source), tmp_path)
    assert result.returncode == 0, result.stderr
    assert '"type":"RECORD"' not in result.stdout
    assert '"properties":{"PersonId":{"type":"string"},"Layer":{"type":["string","null"]}}' in result.stdout
    assert f"{source}: a header and no rows" in result.stderr


def test_a_sqlite_path_that_does_not_exist_is_refused_and_not_created(tmp_path):
    missing = tmp_path / "missing.db"
    result = run_command(sql_stream(f"sqlite:///{missing}"), tmp_path)
    assert_clean_failure(result, 2, f"the SQLite database {missing} does not exist")
    assert not missing.exists()


def test_a_missing_table_names_the_url(tmp_path):
    database = tmp_path / "hr.db"
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE other (PersonId TEXT)"))
    engine.dispose()
    result = run_command(sql_stream(f"sqlite:///{database}"), tmp_path)
    assert_clean_failure(result, 1, f"sqlite:///{database}", "no table or view named 'people'")


def test_an_unreachable_database_names_the_url_with_the_password_masked(tmp_path):
    url = "postgresql+psycopg2://hr:s3cret-pw@127.0.0.1:1/hr"
    result = run_command(sql_stream(url), tmp_path)
    assert_clean_failure(
        result, 1, "postgresql+psycopg2://hr:***@127.0.0.1:1/hr", "the database refused or failed"
    )
    assert "s3cret-pw" not in result.stderr


def test_a_sqlalchemy_url_that_is_not_a_url(tmp_path):
    result = run_command(sql_stream("not a url"), tmp_path)
    assert_clean_failure(result, 2, "sqlalchemy_url is not a database URL")


def test_a_config_file_that_is_not_json_is_named(tmp_path):
    config = tmp_path / "config.json"
    config.write_text("streams: [oops", encoding="utf-8")
    result = run_command(config, tmp_path)
    assert_clean_failure(result, 2, str(config), "the config file is not JSON")


def test_contradictory_settings_exit_2(tmp_path):
    result = run_command({"streams": [{"name": "people"}]}, tmp_path)
    assert_clean_failure(result, 2, "give exactly one source, either 'path' or 'sqlalchemy_url'")
