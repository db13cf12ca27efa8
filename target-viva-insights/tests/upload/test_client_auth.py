"""deliver_package against the emulator: every credential form reaches Completed; wrong ones fail clearly."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from target_viva_insights.emulator.process import EmulatorHandle
from target_viva_insights.errors import AuthenticationFailed, ConfigurationError
from target_viva_insights.settings import settings_with_defaults
from target_viva_insights.upload.client import deliver_package


def _kept_bytes(emulator: EmulatorHandle, ingestion_id: str) -> bytes:
    (kept,) = [item for item in emulator.state()["ingestions"] if item["Id"] == ingestion_id]
    return Path(kept["Upload"]).read_bytes()


def test_secret_auth_reaches_completed_and_the_kept_bytes_equal_the_zip(
    emulator, packages, output_dir, test_logger
):
    final = deliver_package(
        settings_with_defaults(emulator.config()), packages["good"], output_dir, test_logger
    )

    assert final["Status"] == "Completed"
    assert final["EndDate"]
    assert _kept_bytes(emulator, final["Id"]) == packages["good"].read_bytes()


def test_pem_certificate_auth_reaches_completed(emulator, packages, certificates, output_dir, test_logger):
    config = emulator.config(client_secret=None, certificate_path=str(certificates["pem"]))

    final = deliver_package(settings_with_defaults(config), packages["good"], output_dir, test_logger)

    assert final["Status"] == "Completed"
    assert _kept_bytes(emulator, final["Id"]) == packages["good"].read_bytes()


def test_pfx_certificate_auth_with_chain_reaches_completed(
    emulator, packages, certificates, pfx_password, output_dir, test_logger
):
    config = emulator.config(
        client_secret=None,
        certificate_path=str(certificates["pfx"]),
        certificate_password=pfx_password,
        send_certificate_chain=True,
    )

    final = deliver_package(settings_with_defaults(config), packages["good"], output_dir, test_logger)

    assert final["Status"] == "Completed"


def test_pem_with_an_encrypted_key_reaches_completed(
    emulator, packages, certificates, pfx_password, output_dir, test_logger
):
    config = emulator.config(
        client_secret=None,
        certificate_path=str(certificates["encrypted_pem"]),
        certificate_password=pfx_password,
    )

    final = deliver_package(settings_with_defaults(config), packages["good"], output_dir, test_logger)

    assert final["Status"] == "Completed"


def test_wrong_secret_is_refused_like_entra_id(emulator, packages, output_dir, test_logger):
    before = len(emulator.state()["ingestions"])

    with pytest.raises(AuthenticationFailed, match="AADSTS7000215") as raised:
        deliver_package(
            settings_with_defaults(emulator.config(client_secret="not-the-secret")),
            packages["good"],
            output_dir,
            test_logger,
        )

    assert raised.value.exit_code == 4
    assert len(emulator.state()["ingestions"]) == before


def test_unregistered_certificate_is_refused(emulator, packages, certificates, output_dir, test_logger):
    config = emulator.config(client_secret=None, certificate_path=str(certificates["unregistered"]))

    with pytest.raises(AuthenticationFailed, match="AADSTS700027"):
        deliver_package(settings_with_defaults(config), packages["good"], output_dir, test_logger)


def test_wrong_pfx_password_is_a_configuration_error(
    emulator, packages, certificates, output_dir, test_logger
):
    config = emulator.config(
        client_secret=None, certificate_path=str(certificates["pfx"]), certificate_password="wrong"
    )

    with pytest.raises(ConfigurationError, match="Cannot load the certificate"):
        deliver_package(settings_with_defaults(config), packages["good"], output_dir, test_logger)


def test_unknown_tenant_is_refused(emulator, packages, output_dir, test_logger):
    config = emulator.config(tenant_id="11111111-2222-3333-4444-555555555555")

    with pytest.raises(AuthenticationFailed, match="tenant name or GUID"):
        deliver_package(settings_with_defaults(config), packages["good"], output_dir, test_logger)


def test_one_token_serves_a_whole_run(emulator, packages, output_dir, test_logger):
    before = emulator.state()["tokens_issued"]

    deliver_package(settings_with_defaults(emulator.config()), packages["good"], output_dir, test_logger)

    assert emulator.state()["tokens_issued"] == before + 1


def test_tokens_are_renewed_during_a_long_poll(emulator, packages, output_dir, test_logger):
    # A 1-second token: MSAL treats it as expired at once, so every poll needs a new one.
    emulator.set_faults(token_lifetime_seconds=1, step_seconds=1.0)
    before = emulator.state()["tokens_issued"]

    final = deliver_package(
        settings_with_defaults(emulator.config()), packages["good"], output_dir, test_logger
    )

    assert final["Status"] == "Completed"
    assert emulator.state()["tokens_issued"] - before > 3


def test_debug_logs_hold_no_secret_password_or_token(
    emulator, packages, certificates, pfx_password, output_dir, caplog
):
    logger = logging.getLogger("tests.api.secrets")
    caplog.set_level(logging.DEBUG)  # root level: msal, urllib3 and our own loggers all at DEBUG
    deliver_package(settings_with_defaults(emulator.config()), packages["good"], output_dir, logger)
    pfx_config = emulator.config(
        client_secret=None, certificate_path=str(certificates["pfx"]), certificate_password=pfx_password
    )
    deliver_package(settings_with_defaults(pfx_config), packages["good"], output_dir, logger)

    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "Obtained a new access token" in text  # DEBUG lines were captured
    assert emulator.client_secret not in text
    assert pfx_password not in text
    assert "Bearer " not in text
    assert "eyJ" not in text  # no JWT (access token or client assertion) of any kind
