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
