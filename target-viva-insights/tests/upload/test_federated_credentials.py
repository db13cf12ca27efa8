"""Workload identity federation against the emulator: the target signs in with a JWT another identity
provider issued, read from a file (`federated_token_file`, or AZURE_FEDERATED_TOKEN_FILE), to both
destinations; the file is read again for each token request; an expired token, a wrong subject, another
issuer's signature and a missing or empty file each end the run with the documented exit code and a
message that never shows the token."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from target_viva_insights.emulator.options import FEDERATION_AUDIENCE
from target_viva_insights.emulator.process import EmulatorHandle, running_emulator
from target_viva_insights.errors import AuthenticationFailed, ConfigurationError
from target_viva_insights.settings import federated_token_file, settings_with_defaults
from target_viva_insights.upload.auth import TokenProvider
from target_viva_insights.upload.transport import Sessions
from test_startup import exit_with_input_open, start_target
from viva_testing import hr_schema, singer_lines, small_org

TENANT_ID = "6f1c2a7e-0000-4000-8000-00000000f001"
CLIENT_ID = "0b4d9c3e-0000-4000-8000-00000000f002"
# A secret too, so a test can show that an explicit client_secret wins over AZURE_FEDERATED_TOKEN_FILE.
CLIENT_SECRET = "federated-suite-secret-Zq3~"
ISSUER = "https://oidc.prod-aks.azure.com/6f1c2a7e-0000-4000-8000-00000000f001/cluster/"
SUBJECT = "system:serviceaccount:hr:viva-upload"
KEY_ID = "cluster-key-1"
TARGET_MAIN = "from target_viva_insights.target import TargetVivaInsights as T; T.cli()"
STATE = {"bookmarks": {"employees": {"replication_key_value": "2026-11-01"}}}


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def issuer_key() -> rsa.RSAPrivateKey:
    """The key of the identity provider the app trusts (a cluster's service-account signer)."""
    return _rsa_key()


@pytest.fixture(scope="module")
def federated_process(
    tmp_path_factory: pytest.TempPathFactory, issuer_key: rsa.RSAPrivateKey
) -> Iterator[EmulatorHandle]:
    folder = tmp_path_factory.mktemp("federated-emulator")
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(issuer_key.public_key()))
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": KEY_ID, "use": "sig", "alg": "RS256"}]}))
    with running_emulator(
        folder / "data",
        tenant_id=TENANT_ID,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        federated_issuer=ISSUER,
        federated_subject=SUBJECT,
        federated_issuer_keys=jwks,
        step_seconds=0.3,
    ) as handle:
        yield handle


@pytest.fixture
def emulator(federated_process: EmulatorHandle) -> EmulatorHandle:
    federated_process.reset(org_data=True, ingestions=True)
    return federated_process


def mint(
    key: rsa.RSAPrivateKey,
    *,
    subject: str = SUBJECT,
    lifetime_seconds: int = 3600,
    issuer: str = ISSUER,
    key_id: str = KEY_ID,
) -> str:
    """A token as the external identity provider issues it (the target never signs one itself)."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": subject,
        "aud": [FEDERATION_AUDIENCE],
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + lifetime_seconds,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": key_id})


def write_token(path: Path, token: str) -> Path:
    path.write_text(token + "\n")  # a trailing newline, as `echo` and most writers leave
    path.chmod(0o600)
    return path


def federated_config(emulator: EmulatorHandle, tmp_path: Path, **settings: Any) -> dict[str, Any]:
    """Target settings for the emulator without a secret: the federated token is the only credential."""
    config = emulator.config(output_dir=str(tmp_path / "out"), ledger_path=str(tmp_path / "ledger"))
    config.pop("client_secret", None)
    return config | settings


def run_target(
    config: dict[str, Any], tmp_path: Path, lines: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"config-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, "-c", TARGET_MAIN, "--config", str(path)],
        input=lines,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )


def hr_input() -> str:
    return singer_lines(hr_schema(), small_org("2026-01-01"), state=STATE)


def m365_input() -> str:
    """A leader and 20 reports: above the service's 95% share of people with a manager."""
    people = [{"PersonId": "lead@contoso.com", "ManagerId": None, "Organization": "Exec"}]
    people += [
        {"PersonId": f"p{n}@contoso.com", "ManagerId": "lead@contoso.com", "Organization": "Sales"}
        for n in range(1, 21)
    ]
    return singer_lines(hr_schema(), [{**person, "EffectiveDate": "2026-01-01"} for person in people])


def environment_without_azure(**extra: str) -> dict[str, str]:
    """This process's environment without any AZURE_* variable a developer's shell may carry."""
    environ = {name: value for name, value in os.environ.items() if not name.startswith("AZURE_")}
    return environ | extra


def ingestion_ids(emulator: EmulatorHandle) -> set[str]:
    return {item["Id"] for item in emulator.state()["ingestions"]}


def completed(emulator: EmulatorHandle, before: set[str]) -> list[dict[str, Any]]:
    """The ingestions that reached Completed since `before` (the emulator keeps earlier tests' ones)."""
    return [
        item
        for item in emulator.state()["ingestions"]
        if item["Status"] == "Completed" and item["Id"] not in before
    ]


# -- runs that sign in with a federated token -------------------------------------------------------


def test_legacy_destination_run_with_a_federated_token_reaches_completed(
    emulator: EmulatorHandle, issuer_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    token = mint(issuer_key)
    token_file = write_token(tmp_path / "azure-identity-token", token)
    config = federated_config(emulator, tmp_path, federated_token_file=str(token_file))
    before = ingestion_ids(emulator)

    result = run_target(config, tmp_path, hr_input(), env=environment_without_azure())

    assert result.returncode == 0, result.stderr[-3000:]
    assert [json.loads(line) for line in result.stdout.splitlines()] == [STATE]
    (ingestion,) = completed(emulator, before)
    (package,) = (tmp_path / "out").glob("viva-insights-*.zip")
    assert Path(ingestion["Upload"]).read_bytes() == package.read_bytes()
    assert token not in result.stderr
    assert token.split(".")[1] not in result.stderr  # not even the claims part


def test_m365_destination_run_with_a_federated_token_posts_to_the_tenant(
    emulator: EmulatorHandle, issuer_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    token = mint(issuer_key)
    token_file = write_token(tmp_path / "token.jwt", token)
    config = federated_config(emulator, tmp_path, destination="m365", federated_token_file=str(token_file))

    result = run_target(config, tmp_path, m365_input(), env=environment_without_azure())

    assert result.returncode == 0, result.stderr[-3000:]
    modis = emulator.modis()
    assert len(modis["ingestions"]) == 1
    assert "lead@contoso.com" in json.dumps(modis["people"])
    assert token not in result.stderr


def test_azure_federated_token_file_from_the_environment_is_used(
    emulator: EmulatorHandle, issuer_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    token = mint(issuer_key)
    token_file = write_token(tmp_path / "azure-identity-token", token)
    config = federated_config(emulator, tmp_path)
    assert "federated_token_file" not in config and "client_secret" not in config
    before = ingestion_ids(emulator)

    result = run_target(
        config,
        tmp_path,
        hr_input(),
        env=environment_without_azure(AZURE_FEDERATED_TOKEN_FILE=str(token_file)),
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert len(completed(emulator, before)) == 1
    assert token not in result.stderr


def test_an_explicit_client_secret_wins_over_azure_federated_token_file(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    # The variable names a file that does not exist: used, it would end the run with exit 2.
    config = federated_config(emulator, tmp_path, client_secret=CLIENT_SECRET)
    missing = tmp_path / "no-such-token"
    before = ingestion_ids(emulator)

    result = run_target(
        config, tmp_path, hr_input(), env=environment_without_azure(AZURE_FEDERATED_TOKEN_FILE=str(missing))
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert len(completed(emulator, before)) == 1


def test_the_viva_insights_command_pings_with_a_federated_token(
    emulator: EmulatorHandle, issuer_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    token = mint(issuer_key)
    token_file = write_token(tmp_path / "token.jwt", token)
    config_file = tmp_path / "ping.json"
    config_file.write_text(
        json.dumps(federated_config(emulator, tmp_path, federated_token_file=str(token_file)))
    )
    command = [sys.executable, "-m", "target_viva_insights.cli", "ping", "--config", str(config_file)]

    # With -v: the DEBUG log (MSAL's included) names the file but never shows the token.
    first = subprocess.run([*command, "-v"], capture_output=True, text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "connection: OK" in first.stdout + first.stderr
    assert f"Signing in with the federated token file {token_file}" in first.stderr
    assert token.split(".")[1] not in first.stdout + first.stderr

    # The next run reads the file the platform has rotated in the meantime: here, to a wrong subject.
    write_token(token_file, mint(issuer_key, subject="system:serviceaccount:hr:someone-else"))
    second = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert second.returncode == 4, second.stderr[-3000:]
    assert "system:serviceaccount:hr:someone-else" in second.stderr


# -- the file is read for every token request --------------------------------------------------------


def test_a_rotated_token_file_is_read_again_for_the_next_token(
    emulator: EmulatorHandle, issuer_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    # Access tokens of 60 s: MSAL treats a token that expires within 5 minutes as spent, so every
    # token() goes to the token endpoint and has to send an assertion.
    emulator.set_faults(token_lifetime_seconds=60)
    token_file = write_token(tmp_path / "azure-identity-token", mint(issuer_key))
    settings = settings_with_defaults(
        federated_config(emulator, tmp_path, federated_token_file=str(token_file))
    )
    sessions = Sessions(settings.ca_bundle, settings.max_retries)
    provider = TokenProvider(settings, sessions, logging.getLogger("tests.federated"))
    try:
        issued = emulator.state()["tokens_issued"]
        assert provider.token()

        write_token(token_file, mint(issuer_key, subject="system:serviceaccount:hr:rotated-wrong"))
        with pytest.raises(AuthenticationFailed, match="AADSTS70021") as refused:
            provider.token()
        assert "rotated-wrong" in str(refused.value)

        write_token(token_file, mint(issuer_key))
        assert provider.token()

        token_file.unlink()
        with pytest.raises(ConfigurationError, match="does not exist") as missing:
            provider.token()
        assert str(token_file) in str(missing.value) and missing.value.exit_code == 2
    finally:
        sessions.close()
    assert emulator.state()["tokens_issued"] == issued + 2


# -- refusals by Entra ID: exit 4, the fix, never the token -----------------------------------------


@pytest.mark.parametrize(
    ("case", "code", "fix"),
    [
        ("expired", "AADSTS700024", "has expired: whatever writes the file"),
        ("wrong subject", "AADSTS70021", "Federated credentials"),
        ("wrong issuer", "AADSTS70021", "must equal the token's iss, sub and aud claims"),
        ("another key", "AADSTS50013", "does not verify against the issuer's published keys"),
    ],
)
def test_a_refused_federated_token_ends_the_run_with_exit_4_before_any_upload(
    emulator: EmulatorHandle, issuer_key: rsa.RSAPrivateKey, tmp_path: Path, case: str, code: str, fix: str
) -> None:
    token = {
        "expired": lambda: mint(issuer_key, lifetime_seconds=-600),
        "wrong subject": lambda: mint(issuer_key, subject="system:serviceaccount:default:default"),
        "wrong issuer": lambda: mint(issuer_key, issuer="https://token.actions.githubusercontent.com"),
        "another key": lambda: mint(_rsa_key()),
    }[case]()
    token_file = write_token(tmp_path / "token.jwt", token)
    config = federated_config(emulator, tmp_path, federated_token_file=str(token_file))
    before = emulator.state()

    code_seen, stderr = exit_with_input_open(
        start_target("--config", str(_config_file(tmp_path, config)), env=environment_without_azure()),
        singer_lines(hr_schema(), []),
    )

    assert code_seen == 4, stderr[-3000:]
    assert code in stderr and fix in stderr
    assert "Traceback" not in stderr
    assert token not in stderr and token.split(".")[1] not in stderr and token.split(".")[2] not in stderr
    after = emulator.state()
    assert len(after["ingestions"]) == len(before["ingestions"])
    assert after["tokens_issued"] == before["tokens_issued"]


# -- the file checked at start-up: exit 2 naming it, before the input is read ---------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "does not exist"),
        ("", "is empty: the platform that writes it (the kubelet, the CI step) has not written a token yet"),
        ("  \n", "is empty"),
        ("not a token but a Secret-Looking-Value", "holds no JWT (three dot-separated base64url parts)"),
    ],
)
def test_an_unusable_token_file_is_exit_2_at_start_up_naming_the_file(
    emulator: EmulatorHandle, tmp_path: Path, content: str | None, problem: str
) -> None:
    token_file = tmp_path / "azure-identity-token"
    if content is not None:
        token_file.write_text(content)
    config = federated_config(emulator, tmp_path, federated_token_file=str(token_file))
    issued = emulator.state()["tokens_issued"]

    code, stderr = exit_with_input_open(
        start_target("--config", str(_config_file(tmp_path, config)), env=environment_without_azure()),
        singer_lines(hr_schema(), small_org()),
    )

    assert code == 2, stderr[-3000:]
    assert "federated_token_file" in stderr and str(token_file) in stderr and problem in stderr
    assert "Secret-Looking-Value" not in stderr
    assert "Traceback" not in stderr
    assert emulator.state()["tokens_issued"] == issued


def test_a_missing_file_named_by_azure_federated_token_file_names_the_variable(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    missing = tmp_path / "tokens" / "azure-identity-token"
    config = federated_config(emulator, tmp_path)

    code, stderr = exit_with_input_open(
        start_target(
            "--config",
            str(_config_file(tmp_path, config)),
            env=environment_without_azure(AZURE_FEDERATED_TOKEN_FILE=str(missing)),
        ),
        singer_lines(hr_schema(), small_org()),
    )

    assert code == 2, stderr[-3000:]
    assert "federated_token_file (AZURE_FEDERATED_TOKEN_FILE)" in stderr and str(missing) in stderr


def test_a_federated_token_file_beside_a_secret_is_refused(
    emulator: EmulatorHandle, issuer_key: rsa.RSAPrivateKey, tmp_path: Path
) -> None:
    token_file = write_token(tmp_path / "token.jwt", mint(issuer_key))
    config = federated_config(
        emulator, tmp_path, federated_token_file=str(token_file), client_secret=CLIENT_SECRET
    )

    code, stderr = exit_with_input_open(
        start_target("--config", str(_config_file(tmp_path, config)), env=environment_without_azure()),
        singer_lines(hr_schema(), small_org()),
    )

    assert code == 2, stderr[-3000:]
    assert "federated_token_file: cannot be combined with client_secret or certificate_path" in stderr
    assert CLIENT_SECRET not in stderr


def test_no_credential_at_all_lists_the_three_ways(emulator: EmulatorHandle, tmp_path: Path) -> None:
    config = federated_config(emulator, tmp_path)

    code, stderr = exit_with_input_open(
        start_target("--config", str(_config_file(tmp_path, config)), env=environment_without_azure()),
        singer_lines(hr_schema(), small_org()),
    )

    assert code == 2, stderr[-3000:]
    assert "client_secret, certificate_path or federated_token_file" in stderr
    assert "AZURE_FEDERATED_TOKEN_FILE" in stderr


# -- which credential a configuration means -----------------------------------------------------------


def test_which_federated_token_file_a_configuration_means() -> None:
    environ = {"AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token"}

    assert federated_token_file({"federated_token_file": "/t/jwt"}, environ) == "/t/jwt"
    assert federated_token_file({}, environ) == environ["AZURE_FEDERATED_TOKEN_FILE"]
    assert federated_token_file({"client_secret": "s"}, environ) is None
    assert federated_token_file({"certificate_path": "/c.pem"}, environ) is None
    assert federated_token_file({}, {}) is None
    assert federated_token_file({}, {"AZURE_FEDERATED_TOKEN_FILE": ""}) is None


def test_the_emulator_refuses_a_federated_credential_without_its_keys(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "target_viva_insights.cli",
        "emulator",
        "--data-dir",
        str(tmp_path),
        "--federated-issuer",
        ISSUER,
        "--federated-subject",
        SUBJECT,
    ]

    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 2
    assert "--federated-issuer-keys" in result.stderr


def _config_file(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path
