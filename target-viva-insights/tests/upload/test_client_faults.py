"""Injected faults: each is survived without a duplicate ingestion, or fails with a clear error."""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path

import pytest
from target_viva_insights.emulator.process import EmulatorHandle
from target_viva_insights.errors import (
    AuthenticationFailed,
    ConfigurationError,
    DataValidationFailed,
    IngestionTimeout,
    NetworkError,
    PermissionDenied,
    PreviousIngestionPending,
    ServiceError,
)
from target_viva_insights.settings import settings_with_defaults
from target_viva_insights.upload.client import deliver_package


def _ingestions(emulator: EmulatorHandle) -> list[dict]:
    return emulator.state()["ingestions"]


def _deliver_once(emulator, packages, output_dir, logger, package="good", **settings) -> dict:
    """deliver_package, asserting that exactly one ingestion arrived and holds the zip's bytes."""
    before = {item["Id"] for item in _ingestions(emulator)}
    final = deliver_package(
        settings_with_defaults(emulator.config(**settings)), packages[package], output_dir, logger
    )
    new = [item for item in _ingestions(emulator) if item["Id"] not in before]
    assert [item["Id"] for item in new] == [final["Id"]], "exactly one new ingestion, the one followed"
    assert Path(new[0]["Upload"]).read_bytes() == packages[package].read_bytes()
    return final


@pytest.mark.parametrize(
    "rule",
    [
        {"action": "error", "endpoint": "upload", "status": 503, "count": 2},
        {"action": "error", "endpoint": "upload", "status": 500, "count": 1},
        {"action": "throttle", "endpoint": "upload", "retry_after": 1, "count": 2},
        {"action": "drop", "endpoint": "upload", "count": 1},
        {"action": "drop_after_accept", "endpoint": "upload", "count": 1},
        {"action": "error", "endpoint": "status", "status": 502, "count": 2},
        {"action": "throttle", "endpoint": "status", "retry_after": 1, "count": 1},
        {"action": "drop", "endpoint": "status", "count": 1},
        {"action": "error", "endpoint": "token", "status": 503, "count": 1},
        {"action": "throttle", "endpoint": "scale_unit", "retry_after": 1, "count": 1},
        {"action": "error", "endpoint": "list", "status": 503, "count": 1},
        {"action": "slow", "endpoint": "*", "delay": 0.5, "count": 4},
        # A refused token (revoked, clock skew): the client fetches a fresh one once.
        {"action": "error", "endpoint": "status", "status": 401, "count": 1},
        {"action": "error", "endpoint": "upload", "status": 401, "count": 1},
    ],
    ids=lambda rule: f"{rule['action']}-{rule['endpoint']}",
)
def test_fault_is_survived_without_duplicate_ingestion(emulator, packages, output_dir, test_logger, rule):
    emulator.set_faults(rules=[rule])

    final = _deliver_once(emulator, packages, output_dir, test_logger)

    assert final["Status"] == "Completed"
    assert emulator.state()["faults"]["rules"] == [], "the injected fault was actually hit"


def test_upload_failing_past_max_retries_is_a_service_error(emulator, packages, output_dir, test_logger):
    emulator.set_faults(rules=[{"action": "error", "endpoint": "upload", "status": 503, "count": 10}])
    before = len(_ingestions(emulator))

    with pytest.raises(ServiceError, match="failed 3 times") as raised:
        deliver_package(
            settings_with_defaults(emulator.config(max_retries=2)), packages["good"], output_dir, test_logger
        )

    assert raised.value.exit_code == 6
    assert len(_ingestions(emulator)) == before


def test_unregistered_app_gets_the_admin_advice(emulator, packages, output_dir, test_logger):
    emulator.set_faults(unregistered_app=True)
    before = len(_ingestions(emulator))

    with pytest.raises(PermissionDenied) as raised:
        deliver_package(settings_with_defaults(emulator.config()), packages["good"], output_dir, test_logger)

    message = str(raised.value)
    assert "API-based import" in message
    assert emulator.client_id in message
    assert raised.value.exit_code == 5
    assert len(_ingestions(emulator)) == before


def test_stuck_ingestion_times_out_naming_its_id(emulator, packages, output_dir, test_logger):
    emulator.set_faults(stuck=True)

    with pytest.raises(IngestionTimeout) as raised:
        deliver_package(
            settings_with_defaults(emulator.config(await_timeout_minutes=0.02)),
            packages["good"],
            output_dir,
            test_logger,
        )

    (stuck,) = [item for item in _ingestions(emulator) if item["Status"] == "NotStarted"]
    assert raised.value.ingestion_id == stuck["Id"]
    assert stuck["Id"] in str(raised.value)
    assert raised.value.exit_code == 7


def test_previous_ingestion_pending_fails_with_advice(emulator, packages, output_dir, test_logger):
    emulator.set_faults(stuck=True)
    deliver_package(
        settings_with_defaults(emulator.config(await_status="none")),
        packages["good"],
        output_dir,
        test_logger,
    )
    before = len(_ingestions(emulator))

    with pytest.raises(PreviousIngestionPending, match="previous_ingestion_wait_minutes") as raised:
        deliver_package(settings_with_defaults(emulator.config()), packages["good"], output_dir, test_logger)

    assert raised.value.exit_code == 8
    assert len(_ingestions(emulator)) == before


def test_upload_waits_for_the_previous_ingestion(emulator, packages, output_dir, test_logger):
    emulator.set_faults(stuck=True)
    first = deliver_package(
        settings_with_defaults(emulator.config(await_status="none")),
        packages["good"],
        output_dir,
        test_logger,
    )
    emulator.set_faults(stuck=False)
    # An Insights admin abandons the stuck ingestion while the second upload waits.
    admin = threading.Timer(1.0, emulator.abandon, args=[first["Id"]])
    admin.start()
    try:
        final = _deliver_once(
            emulator,
            packages,
            output_dir,
            test_logger,
            previous_ingestion_wait_minutes=1,
            poll_interval_seconds=0.3,
        )
    finally:
        admin.cancel()

    assert final["Status"] == "Completed"
    assert final["Id"] != first["Id"]


def test_status_and_error_paths_fall_back_to_the_older_forms(emulator, packages, output_dir, test_logger):
    emulator.set_faults(
        rules=[
            {"action": "error", "endpoint": "status", "status": 404, "count": 100},
            {"action": "error", "endpoint": "errors", "status": 404, "count": 100},
        ]
    )

    with pytest.raises(DataValidationFailed) as raised:
        deliver_package(settings_with_defaults(emulator.config()), packages["bad"], output_dir, test_logger)

    error_file = raised.value.error_file
    assert error_file is not None
    assert "invalid-email" in error_file.read_text()
    remaining = {rule["endpoint"]: rule["count"] for rule in emulator.state()["faults"]["rules"]}
    # Each documented form was tried once (Hr, then HR), then only the one that answered.
    assert remaining == {"status": 98, "errors": 98}


def test_rejected_package_saves_the_error_file(emulator, packages, output_dir, test_logger):
    with pytest.raises(DataValidationFailed) as raised:
        deliver_package(settings_with_defaults(emulator.config()), packages["bad"], output_dir, test_logger)

    error = raised.value
    assert error.exit_code == 3
    assert error.error_file == output_dir / f"errors-{error.ingestion_id}.csv"
    content = error.error_file.read_text()
    assert "invalid-email" in content
    assert "not-an-email" in content


def test_await_none_returns_after_the_upload(emulator, packages, output_dir, test_logger):
    final = _deliver_once(emulator, packages, output_dir, test_logger, await_status="none")

    assert final["Status"] == "NotStarted"


def test_unknown_status_is_logged_and_treated_as_in_progress(
    emulator, packages, output_dir, test_logger, caplog
):
    emulator.set_faults(unknown_status="Transforming", step_seconds=0.5)
    caplog.set_level(logging.INFO, logger=test_logger.name)

    final = _deliver_once(emulator, packages, output_dir, test_logger)

    assert final["Status"] == "Completed"
    assert "unknown status 'Transforming'" in caplog.text


def test_a_sign_in_page_instead_of_the_ingestion_is_an_auth_failure(
    emulator, packages, output_dir, test_logger
):
    emulator.set_faults(rules=[{"action": "sign_in_page", "endpoint": "upload"}])

    with pytest.raises(AuthenticationFailed, match="sign-in"):
        deliver_package(settings_with_defaults(emulator.config()), packages["good"], output_dir, test_logger)


def test_upload_progress_is_logged_in_bytes_and_percent(emulator, packages, output_dir, test_logger, caplog):
    caplog.set_level(logging.INFO, logger=test_logger.name)

    deliver_package(settings_with_defaults(emulator.config()), packages["good"], output_dir, test_logger)

    assert re.search(r"Uploading good\.zip: [\d,]+ of [\d,]+ bytes \(100%", caplog.text)


NO_LISTING = {"action": "error", "endpoint": "list", "status": 404, "count": 100}


@pytest.mark.parametrize(
    "refusal",
    [
        {"action": "throttle", "endpoint": "upload", "retry_after": 1},
        {"action": "error", "endpoint": "upload", "status": 503},
        {"action": "error", "endpoint": "upload", "status": 401},
    ],
    ids=lambda rule: f"{rule['action']}-{rule.get('status', 429)}",
)
def test_without_a_listing_a_refusal_before_processing_is_sent_again(
    emulator, packages, output_dir, test_logger, refusal
):
    # 429, 503 and 401 say the service did not take the request: proof enough to send it again.
    emulator.set_faults(rules=[NO_LISTING, refusal])

    final = _deliver_once(emulator, packages, output_dir, test_logger)

    assert final["Status"] == "Completed"
    assert [rule["endpoint"] for rule in emulator.state()["faults"]["rules"]] == ["list"]


def test_without_a_listing_an_accepted_upload_is_not_sent_again(emulator, packages, output_dir, test_logger):
    # The whole file went and the answer was lost: nothing proves it did not arrive, so no second POST.
    emulator.set_faults(rules=[NO_LISTING, {"action": "drop_after_accept", "endpoint": "upload"}])
    before = len(_ingestions(emulator))

    with pytest.raises(NetworkError, match="outcome is unknown") as raised:
        deliver_package(settings_with_defaults(emulator.config()), packages["good"], output_dir, test_logger)

    assert raised.value.exit_code == 6
    assert "Import history" in str(raised.value)
    assert len(_ingestions(emulator)) == before + 1


def test_a_status_outage_longer_than_the_retries_does_not_end_the_wait(
    emulator, packages, output_dir, test_logger
):
    emulator.set_faults(rules=[{"action": "error", "endpoint": "status", "status": 503, "count": 6}])

    final = _deliver_once(emulator, packages, output_dir, test_logger, max_retries=1)

    assert final["Status"] == "Completed"
    assert emulator.state()["faults"]["rules"] == []


def test_a_large_upload_cut_halfway_is_sent_again_once(emulator, packages, output_dir, test_logger, caplog):
    emulator.set_faults(rules=[{"action": "drop", "endpoint": "upload"}])
    caplog.set_level(logging.INFO, logger=test_logger.name)

    final = _deliver_once(emulator, packages, output_dir, test_logger, package="large")

    assert final["Status"] == "Completed"
    assert "Upload attempt 1 failed" in caplog.text


def test_plain_http_is_refused(emulator, packages, output_dir, test_logger):
    config = emulator.config(api_base_url=emulator.api_base_url.replace("https://", "http://"))

    with pytest.raises(ConfigurationError, match="https"):
        deliver_package(settings_with_defaults(config), packages["good"], output_dir, test_logger)
