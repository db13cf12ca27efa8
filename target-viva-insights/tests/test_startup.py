"""A run that cannot succeed ends at start-up: the real `target-viva-insights` process, its exit code
and its log, while its input is still open."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from target_viva_insights.emulator.process import EmulatorHandle
from viva_testing import hr_schema, singer_lines, small_org

TARGET = str(Path(sys.executable).parent / "target-viva-insights")
# Far longer than any start-up; the process must be gone while its stdin is still open.
EXIT_BOUND_SECONDS = 60


def start_target(*arguments: str, **popen: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [TARGET, *arguments],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def exit_with_input_open(process: subprocess.Popen[str], first_lines: str) -> tuple[int, str]:
    """Write the first lines, keep stdin open (a tap that stalls), and wait for the process to exit."""
    assert process.stdin is not None and process.stderr is not None
    try:
        process.stdin.write(first_lines)
        process.stdin.flush()
    except BrokenPipeError:
        pass  # it already ended: what the test wants
    try:
        code = process.wait(timeout=EXIT_BOUND_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail("the target was still running with its input open")
    assert not process.stdin.closed  # the input never ended: the exit was the target's own
    stderr = process.stderr.read()
    with_closed_pipes(process)
    return code, stderr


def with_closed_pipes(process: subprocess.Popen[str]) -> None:
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            with contextlib.suppress(BrokenPipeError):
                pipe.close()


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


FIRST_LINES = singer_lines(hr_schema(), small_org()[:2])


# -- a configuration error ends the run at once --------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {"dryrun": True},  # a misspelt setting
        {"dry_run": True, "metadata_template": "/nonexistent/metadata.json"},  # found at the SCHEMA
    ],
    ids=["unknown-setting", "missing-template"],
)
def test_a_configuration_error_exits_2_while_the_input_is_still_open(
    tmp_path: Path, config: dict[str, Any]
) -> None:
    process = start_target("--config", str(write_config(tmp_path, config)))

    code, stderr = exit_with_input_open(process, FIRST_LINES)

    assert code == 2, stderr[-2000:]
    assert "Traceback" not in stderr


# -- a --config that is a pipe is read once -----------------------------------------------------


def test_a_config_fifo_is_read_once(tmp_path: Path) -> None:
    fifo = tmp_path / "config.fifo"
    os.mkfifo(fifo)
    output_dir = tmp_path / "out"
    config = json.dumps({"dry_run": True, "output_dir": str(output_dir), "poll_interval_seconds": 1.5})

    def feed() -> None:
        with fifo.open("w") as handle:  # blocks until the target opens it; one reader, once
            handle.write(config)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    result = subprocess.run(
        [TARGET, "--config", str(fifo)],
        input=singer_lines(hr_schema(), small_org()),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    writer.join(timeout=5)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert len(list(output_dir.glob("viva-insights-*.zip"))) == 1


def test_a_config_pipe_passed_as_dev_fd_is_read_once(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, json.dumps({"dry_run": True, "output_dir": str(tmp_path / "out")}).encode())
    os.close(write_end)
    try:
        result = subprocess.run(
            [TARGET, "--config", f"/dev/fd/{read_end}"],
            input=singer_lines(hr_schema(), small_org()),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            pass_fds=(read_end,),
        )
    finally:
        os.close(read_end)

    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((tmp_path / "out").glob("viva-insights-*.zip"))) == 1


# -- the credential is proven before the first record ---------------------------------------------


def _expired_certificate(path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CN=expired")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=400))
        .not_valid_after(now - datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        + certificate.public_bytes(serialization.Encoding.PEM)
    )
    return path


@pytest.mark.parametrize(
    ("credential", "expected"),
    [
        ({"client_secret": "not-the-secret"}, "AADSTS7000215"),
        ({"client_id": "0b4d9c3e-0000-4000-8000-0000000000ff"}, "AADSTS700016"),
        ({"client_secret": None, "certificate_path": "EXPIRED"}, "expired on"),
    ],
    ids=["wrong-secret", "unknown-client-id", "expired-certificate"],
)
def test_a_refused_credential_exits_4_at_start_up_with_the_fix(
    emulator: EmulatorHandle, tmp_path: Path, credential: dict[str, Any], expected: str
) -> None:
    if credential.get("certificate_path") == "EXPIRED":
        credential = {**credential, "certificate_path": str(_expired_certificate(tmp_path / "old.pem"))}
    config = {k: v for k, v in emulator.config(output_dir=str(tmp_path / "out"), **credential).items() if v}
    process = start_target("--config", str(write_config(tmp_path, config)))

    code, stderr = exit_with_input_open(process, FIRST_LINES)

    assert code == 4, stderr[-3000:]
    assert expected in stderr
    assert "Fix:" in stderr
    assert "Traceback" not in stderr
    assert emulator.client_secret not in stderr


def test_a_wrong_secret_fails_also_when_nothing_changed(emulator: EmulatorHandle, tmp_path: Path) -> None:
    lines = singer_lines(hr_schema(), small_org())
    first = subprocess.run(
        [TARGET, "--config", str(write_config(tmp_path, emulator.config(output_dir=str(tmp_path / "a"))))],
        input=lines,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    wrong = emulator.config(output_dir=str(tmp_path / "b"), client_secret="expired-secret")

    second = subprocess.run(
        [TARGET, "--config", str(write_config(tmp_path, wrong))],
        input=lines,  # the same data: the ledger would find nothing changed
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert second.returncode == 4, second.stderr[-3000:]
    assert "AADSTS7000215" in second.stderr
    assert "Nothing changed" not in second.stderr


def test_an_upload_signs_in_once(emulator: EmulatorHandle, tmp_path: Path) -> None:
    before = emulator.state()["tokens_issued"]
    result = subprocess.run(
        [TARGET, "--config", str(write_config(tmp_path, emulator.config(output_dir=str(tmp_path / "o"))))],
        input=singer_lines(hr_schema(), small_org()),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Signed in to Entra ID" in result.stderr
    assert emulator.state()["tokens_issued"] == before + 1


@pytest.mark.parametrize(
    "flags", [{"dry_run": True}, {"dry_run": True, "preflight_report_only": True}], ids=["dry", "report"]
)
def test_dry_runs_sign_in_to_nothing(emulator: EmulatorHandle, tmp_path: Path, flags: dict[str, Any]) -> None:
    before = emulator.state()["tokens_issued"]
    config = emulator.config(output_dir=str(tmp_path / "o"), client_secret="not-the-secret", **flags)
    result = subprocess.run(
        [TARGET, "--config", str(write_config(tmp_path, config))],
        input=singer_lines(hr_schema(), small_org()),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert "Signed in" not in result.stderr
    assert emulator.state()["tokens_issued"] == before


# -- what the user typed, the stream's schema and its dates ----------------------------------------


def run_dry(tmp_path: Path, lines: str, **settings: Any) -> subprocess.CompletedProcess[str]:
    config = {"dry_run": True, "output_dir": str(tmp_path / "out"), **settings}
    return subprocess.run(
        [TARGET, "--config", str(write_config(tmp_path, config))],
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def warnings_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| WARNING  |" in line]


def test_an_unknown_field_types_token_is_a_warning_naming_field_and_token(tmp_path: Path) -> None:
    result = run_dry(
        tmp_path, singer_lines(hr_schema(), small_org()), field_types={"Organization": "StrngType"}
    )

    assert result.returncode == 0, result.stderr[-3000:]
    (warning,) = [line for line in warnings_of(result.stderr) if "StrngType" in line]
    assert "field_types" in warning and "Organization" in warning


def test_an_unknown_metadata_template_token_is_a_warning_naming_field_and_token(tmp_path: Path) -> None:
    template = tmp_path / "metadata.json"
    template.write_text(
        json.dumps(
            {
                "DatasetType": "HR",
                "IsBootstrap": "true",
                "Mapping": {
                    "PersonId": {"name": "PersonId", "type": "EmailType"},
                    "Organization": {"name": "Organization", "type": "Text256"},
                },
            }
        )
    )

    result = run_dry(tmp_path, singer_lines(hr_schema(), small_org()), metadata_template=str(template))

    assert result.returncode == 0, result.stderr[-3000:]
    (warning,) = [line for line in warnings_of(result.stderr) if "Text256" in line]
    assert "metadata_template" in warning and "Organization" in warning


def test_a_schema_that_changes_a_written_column_type_refuses_the_run(tmp_path: Path) -> None:
    first, second = small_org()[:3], small_org()[3:]
    as_number = hr_schema({"BadgeNumber": {"type": ["integer", "null"]}})
    as_text = hr_schema({"BadgeNumber": {"type": ["string", "null"]}})
    lines = singer_lines(as_number, [{**row, "BadgeNumber": 7} for row in first]) + singer_lines(
        as_text, [{**row, "BadgeNumber": "G7"} for row in second]
    )

    result = run_dry(tmp_path, lines)

    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "column BadgeNumber" in result.stderr
    assert "IntegerType" in result.stderr and "StringType" in result.stderr
    assert not list((tmp_path / "out").glob("viva-insights-*.zip"))


def test_a_schema_that_adds_a_column_still_merges(tmp_path: Path) -> None:
    first, second = small_org()[:3], small_org()[3:]
    with_location = hr_schema({"Location": {"type": ["string", "null"]}})
    lines = singer_lines(hr_schema(), first) + singer_lines(
        with_location, [{**row, "Location": "Oslo"} for row in second]
    )

    result = run_dry(tmp_path, lines)

    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((tmp_path / "out").glob("viva-insights-*.zip"))) == 1


def test_implausible_dates_are_warnings_naming_row_and_column_not_the_value(tmp_path: Path) -> None:
    import csv

    next_year = datetime.date.today().year + 1
    rows = small_org("2025-01-01")
    hire = ["2015-03-01", f"{next_year}-06-01", "1970-01-01", "2019-05-01", "2018-01-01", "2021-01-01"]
    for row, hired in zip(rows, hire, strict=True):
        row["HireDate"] = hired
    rows[3]["EffectiveDate"] = "1911-11-11"
    rows[4]["EffectiveDate"] = "9999-12-31"
    schema = hr_schema({"HireDate": {"type": "string", "format": "date"}})

    result = run_dry(tmp_path, singer_lines(schema, rows))

    assert result.returncode == 0, result.stderr[-3000:]
    (report,) = (tmp_path / "out").glob("viva-insights-*-validation.csv")
    with report.open(encoding="utf-8", newline="") as handle:
        found = {(row["rule"], row["row"], row["column"]) for row in csv.DictReader(handle)}
    assert {
        ("hire-date-in-future", "3", "HireDate"),
        ("placeholder-date", "4", "HireDate"),
        ("effective-date-implausible", "5", "EffectiveDate"),
        ("placeholder-date", "6", "EffectiveDate"),
    } <= found
    assert ("effective-date-implausible", "6", "EffectiveDate") not in found  # told once, as a placeholder
    for shown in (
        "1911-11-11",
        "11/11/1911",
        "9999-12-31",
        "12/31/9999",
        f"{next_year}-06-01",
        f"06/01/{next_year}",
    ):
        assert shown not in result.stderr
