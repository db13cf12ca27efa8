"""Input as any tap sends it: several streams, ACTIVATE_VERSION messages, long extractions."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from target_viva_insights import target as target_module
from target_viva_insights.target import StreamSelectionError
from viva_testing import hr_schema, singer_lines, small_org


def two_streams(records_after_second: int) -> str:
    noise = [{"id": index, "text": "x" * 50} for index in range(records_after_second)]
    noise_schema = {"type": "object", "properties": {"id": {"type": "integer"}, "text": {"type": "string"}}}
    return singer_lines(hr_schema(), small_org()) + singer_lines(noise_schema, noise, stream="badges")


def test_several_streams_without_stream_name_read_to_the_end_then_one_clear_error(tmp_path: Path) -> None:
    """Stopping early would break the tap's pipe, and Meltano would end on the tap's BrokenPipeError.

    The input is a file shared with the target process: its offset afterwards tells how far it read.
    """
    input_path = tmp_path / "input.jsonl"
    input_path.write_text(two_streams(records_after_second=20_000), encoding="utf-8")  # ~1.5 MB
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"dry_run": True, "output_dir": str(tmp_path / "out")}))
    command = [str(Path(sys.executable).parent / "target-viva-insights"), "--config", str(config)]
    with input_path.open("rb") as tap_output:
        target = subprocess.run(command, stdin=tap_output, capture_output=True, text=True, timeout=120)
        read_up_to = os.lseek(tap_output.fileno(), 0, os.SEEK_CUR)

    assert read_up_to == input_path.stat().st_size
    assert target.returncode == 2
    last_line = target.stderr.strip().splitlines()[-1]
    assert "The tap sends several streams (employees, badges); set stream_name" in last_line
    assert target.stdout == ""  # no STATE
    assert not list((tmp_path / "out").glob("*.zip"))


def test_several_streams_in_process_are_one_configuration_error(run_target) -> None:
    outcome = run_target(two_streams(records_after_second=10))
    assert isinstance(outcome.error, StreamSelectionError)
    assert "employees, badges" in str(outcome.error)
    assert outcome.packages == []


def test_activate_version_is_accepted_quietly(run_target, caplog) -> None:
    lines = singer_lines(hr_schema(), small_org())
    activate = json.dumps({"type": "ACTIVATE_VERSION", "stream": "employees", "version": 1732780800}) + "\n"
    caplog.set_level(logging.WARNING)
    outcome = run_target(activate + lines + activate)
    assert outcome.error is None, outcome.report_rows
    assert len(outcome.packages) == 1
    assert not [message for message in caplog.messages if "ACTIVATE_VERSION" in message]


def test_activate_version_is_a_declared_capability() -> None:
    about = subprocess.run(
        [str(Path(sys.executable).parent / "target-viva-insights"), "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "activate-version" in json.loads(about.stdout)["capabilities"]


def test_progress_is_logged_while_records_arrive(run_target, caplog, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every clock check logs (no waiting in a test): the clock is looked at every 1,000 records.
    monkeypatch.setattr(target_module, "PROGRESS_LOG_SECONDS", 0.0)
    records = [
        dict(row, PersonId=f"p{index}-{row['PersonId']}") for index in range(600) for row in small_org()
    ]
    caplog.set_level(logging.INFO)
    run_target(singer_lines(hr_schema(), records))  # 3,600 records; the org itself does not matter
    progress = [message for message in caplog.messages if message.startswith("Records received so far")]
    assert progress == [
        "Records received so far: 1000.",
        "Records received so far: 2000.",
        "Records received so far: 3000.",
    ]
