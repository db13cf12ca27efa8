"""STATE leaves the target only after the package is safe; stream selection; the real process."""

from __future__ import annotations

import json

from target_viva_insights.target import StreamSelectionError
from viva_testing import hr_schema, run_target_process, singer_lines, small_org

STATE = {"bookmarks": {"employees": {"replication_key_value": "2025-01-01"}}}


def test_state_is_the_last_stdout_line_after_the_package(tmp_path) -> None:
    lines = singer_lines(hr_schema(), small_org(), state=STATE)
    result = run_target_process({"dry_run": True, "output_dir": str(tmp_path / "out")}, lines, tmp_path)
    assert result.returncode == 0, result.stderr
    stdout = result.stdout.splitlines()
    assert stdout == [json.dumps(STATE)]  # nothing but STATE on stdout
    assert len(list((tmp_path / "out").glob("*.zip"))) == 1


def test_no_state_when_validation_fails(tmp_path) -> None:
    records = small_org()
    records[1]["PersonId"] = "not-an-email"
    lines = singer_lines(hr_schema(), records, state=STATE)
    result = run_target_process({"dry_run": True, "output_dir": str(tmp_path / "out")}, lines, tmp_path)
    assert result.returncode == 3  # data validation failure, as for the `viva-insights` command
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert list((tmp_path / "out").glob("*.zip")) == []
    assert "row 3, column PersonId: not a valid email address" in result.stderr
    assert "not-an-email" not in result.stderr  # values stay in the report file
    (report,) = (tmp_path / "out").glob("*-validation.csv")
    assert "not-an-email" in report.read_text()


def test_state_messages_during_the_run_are_held_back(run_target) -> None:
    records = small_org()
    lines = singer_lines(hr_schema(), records[:3], state={"n": 1})
    lines += singer_lines(hr_schema(), records[3:], state={"n": 2})
    outcome = run_target(lines, batch_size_rows=2)  # several drains, each of which would emit STATE
    assert outcome.error is None
    assert outcome.stdout.splitlines() == ['{"n": 2}']


def test_no_records_means_no_package_but_state_moves_on(run_target) -> None:
    outcome = run_target(singer_lines(hr_schema(), [], state=STATE), allow_empty=True)
    assert outcome.error is None
    assert outcome.packages == []
    assert outcome.stdout.splitlines() == [json.dumps(STATE)]


def test_several_streams_need_stream_name(run_target) -> None:
    lines = singer_lines(hr_schema(), small_org()) + singer_lines(
        {"type": "object", "properties": {"id": {"type": "integer"}}}, [{"id": 1}], stream="departments"
    )
    outcome = run_target(lines)
    assert isinstance(outcome.error, StreamSelectionError)
    assert "employees, departments" in str(outcome.error)
    assert outcome.stdout == ""

    chosen = run_target(lines, stream_name="employees")
    assert chosen.error is None
    assert len(chosen.packages) == 1
    assert b"departments" not in chosen.data_csv()


def test_a_stream_name_that_never_arrives_is_an_error(run_target) -> None:
    outcome = run_target(singer_lines(hr_schema(), small_org(), state=STATE), stream_name="workers")
    assert isinstance(outcome.error, StreamSelectionError)
    assert "streams seen: employees" in str(outcome.error)
    assert outcome.stdout == ""


def test_invalid_json_input_is_reported_by_line_number_only(tmp_path) -> None:
    lines = (
        singer_lines(hr_schema(), small_org()[:2])
        + '{"type": "RECORD", "record": {"PersonId": "secret@x.com"\n'
    )
    result = run_target_process({"dry_run": True}, lines, tmp_path)
    assert result.returncode != 0
    assert "Input line 4 is not valid JSON" in result.stderr
    assert "secret@x.com" not in result.stderr


def test_work_files_are_removed_after_the_run(tmp_path, monkeypatch) -> None:
    import tempfile

    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    tempfile.tempdir = None  # re-read TMPDIR
    try:
        result = run_target_process({"dry_run": True}, singer_lines(hr_schema(), small_org()), tmp_path)
    finally:
        tempfile.tempdir = None
    assert result.returncode == 0, result.stderr
    assert list((tmp_path / "tmp").iterdir()) == []


LOG_CONFIG = """
version: 1
formatters: {plain: {format: "%(levelname)s %(name)s %(message)s"}}
handlers: {stderr: {class: logging.StreamHandler, stream: ext://sys.stderr, formatter: plain}}
root: {level: DEBUG, handlers: [stderr]}
"""


def test_debug_logs_hold_no_record_values(tmp_path, monkeypatch) -> None:
    """Even at DEBUG level, with a stream map forcing the SDK's own record path."""
    (tmp_path / "logging.yaml").write_text(LOG_CONFIG)
    monkeypatch.setenv("SINGER_SDK_LOG_CONFIG", str(tmp_path / "logging.yaml"))
    records = small_org()
    config = {"dry_run": True, "stream_maps": {"employees": {"Organization": "Organization.upper()"}}}
    result = run_target_process(config, singer_lines(hr_schema(), records, state=STATE), tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "DEBUG" in result.stderr
    for record in records:
        assert record["PersonId"] not in result.stderr
