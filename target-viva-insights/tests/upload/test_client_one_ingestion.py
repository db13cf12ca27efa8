"""One ingestion per run, whatever fails around the POST, and identity outages reported as outages.

Each test injects faults into the emulator process and asserts on the emulator's own state that exactly
one ingestion arrived (or none, when the run must fail before the upload).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest
from target_viva_insights.emulator.process import EmulatorHandle
from target_viva_insights.errors import (
    DataValidationFailed,
    NetworkError,
    PermissionDenied,
    ServiceError,
)
from target_viva_insights.ingestion import Phase, phase_of
from target_viva_insights.settings import settings_with_defaults
from target_viva_insights.upload.client import deliver_package, settle_ingestion


def _ids(emulator: EmulatorHandle) -> set[str]:
    return {item["Id"] for item in emulator.state()["ingestions"]}


def _deliver(emulator, packages, output_dir, logger, package="good", **settings):
    """deliver_package; returns (final document or the error raised, the new ingestion ids)."""
    before = _ids(emulator)
    outcome: object
    try:
        outcome = deliver_package(
            settings_with_defaults(emulator.config(**settings)), packages[package], output_dir, logger
        )
    except Exception as error:  # the outcome is asserted by each test
        outcome = error
    return outcome, _ids(emulator) - before


def test_listing_fails_before_the_upload_and_the_answer_is_lost(emulator, packages, output_dir, test_logger):
    # The listing fails past the retries, so no list of earlier ids; then the POST's answer is lost.
    emulator.set_faults(
        rules=[
            {"action": "error", "endpoint": "list", "status": 503, "count": 2},
            {"action": "drop_after_accept", "endpoint": "upload", "count": 1},
        ]
    )

    final, new = _deliver(emulator, packages, output_dir, test_logger, max_retries=1)

    assert isinstance(final, dict), final
    assert new == {final["Id"]}
    assert final["Status"] == "Completed"
    assert emulator.state()["faults"]["rules"] == []


def test_upload_timing_out_while_the_service_accepts_it_is_followed_not_resent(
    emulator, packages, output_dir, test_logger, caplog
):
    # The service takes 3 s to answer; the client gives up after 1 s, with the whole file sent.
    emulator.set_faults(rules=[{"action": "slow", "endpoint": "upload", "delay": 3}])
    caplog.set_level(logging.WARNING, logger=test_logger.name)

    final, new = _deliver(emulator, packages, output_dir, test_logger, request_timeout_seconds=1)

    assert isinstance(final, dict), final
    assert new == {final["Id"]}
    assert final["Status"] == "Completed"
    assert "The upload arrived despite no answer within 1 s" in caplog.text


def test_upload_timing_out_without_a_listing_is_not_resent(emulator, packages, output_dir, test_logger):
    emulator.set_faults(
        rules=[
            {"action": "error", "endpoint": "list", "status": 404, "count": 100},
            {"action": "slow", "endpoint": "upload", "delay": 2},
        ]
    )
    before = _ids(emulator)

    error, _ = _deliver(emulator, packages, output_dir, test_logger, request_timeout_seconds=1)

    assert isinstance(error, NetworkError), error
    assert "outcome is unknown" in str(error)
    assert error.exit_code == 6
    # The service takes the POST after the client gave up on it: wait for that, then count.
    deadline = time.monotonic() + 30
    while _ids(emulator) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(_ids(emulator) - before) == 1


@pytest.mark.parametrize(
    "rule",
    [
        {"action": "sign_in_page", "endpoint": "status", "count": 3},
        {"action": "error", "endpoint": "status", "status": 401, "count": 4},
        {"action": "drop", "endpoint": "status", "count": 3},
    ],
    ids=["sign-in-page", "token-refused", "dropped-connections"],
)
def test_after_the_upload_a_transient_failure_keeps_following_the_ingestion(
    emulator, packages, output_dir, test_logger, rule
):
    emulator.set_faults(rules=[rule])

    final, new = _deliver(emulator, packages, output_dir, test_logger, max_retries=1)

    assert isinstance(final, dict), final
    assert new == {final["Id"]}
    assert final["Status"] == "Completed"
    assert emulator.state()["faults"]["rules"] == [], "the fault was hit"


def test_error_file_outage_still_reports_the_rejection_and_its_id(
    emulator, packages, output_dir, test_logger
):
    emulator.set_faults(
        rules=[
            {"action": "error", "endpoint": "errors", "status": 503, "count": 100},
            {"action": "error", "endpoint": "errors_file_ingestion", "status": 503, "count": 100},
        ]
    )

    error, new = _deliver(emulator, packages, output_dir, test_logger, package="bad", max_retries=0)

    assert isinstance(error, DataValidationFailed), error
    assert new == {error.ingestion_id}
    assert error.error_file is None
    assert f"viva-insights errors {error.ingestion_id}" in str(error)


def test_a_failure_after_acceptance_names_the_ingestion(emulator, packages, output_dir, test_logger):
    emulator.set_faults(rules=[{"action": "error", "endpoint": "status", "status": 403, "count": 100}])

    error, new = _deliver(emulator, packages, output_dir, test_logger)

    assert isinstance(error, PermissionDenied), error
    assert new == {error.ingestion_id}
    assert f"viva-insights status {error.ingestion_id}" in str(error)


@pytest.mark.parametrize(
    "rule",
    [
        {"action": "error", "endpoint": "token", "status": 503},
        {"action": "error", "endpoint": "token", "status": 500},
        {"action": "throttle", "endpoint": "token", "retry_after": 1},
        {"action": "error", "endpoint": "discovery", "status": 503},
        {"action": "throttle", "endpoint": "discovery", "retry_after": 1},
    ],
    ids=lambda rule: f"{rule['action']}-{rule['endpoint']}-{rule.get('status', 429)}",
)
def test_identity_outage_is_retried(emulator, packages, output_dir, test_logger, rule):
    emulator.set_faults(rules=[{**rule, "count": 1}])

    final, new = _deliver(emulator, packages, output_dir, test_logger, max_retries=1)

    assert isinstance(final, dict), final
    assert new == {final["Id"]}
    assert emulator.state()["faults"]["rules"] == [], "the fault was hit"


@pytest.mark.parametrize(
    "rule",
    [
        {"action": "error", "endpoint": "token", "status": 503},
        {"action": "error", "endpoint": "token", "status": 502},
        {"action": "throttle", "endpoint": "token", "retry_after": 1},
        {"action": "error", "endpoint": "discovery", "status": 503},
        {"action": "error", "endpoint": "discovery", "status": 500},
        {"action": "throttle", "endpoint": "discovery", "retry_after": 1},
    ],
    ids=lambda rule: f"{rule['action']}-{rule['endpoint']}-{rule.get('status', 429)}",
)
def test_identity_outage_past_the_retries_is_a_service_error(
    emulator, packages, output_dir, test_logger, rule
):
    emulator.set_faults(rules=[{**rule, "count": 100}])

    error, new = _deliver(emulator, packages, output_dir, test_logger, max_retries=1)

    assert type(error) is ServiceError, error
    assert error.exit_code == 6
    assert "identity service is unavailable" in str(error)
    assert "not a problem with the credentials" in str(error)
    assert new == set()


def test_error_file_is_private_whatever_the_umask(emulator, packages, output_dir, test_logger):
    previous = os.umask(0)
    try:
        error, _ = _deliver(emulator, packages, output_dir, test_logger, package="bad")
    finally:
        os.umask(previous)

    assert isinstance(error, DataValidationFailed), error
    assert isinstance(error.error_file, Path)
    assert error.error_file.stat().st_mode & 0o777 == 0o600


def _settled_when_final(emulator, ingestion_id, output_dir, logger) -> dict:
    """settle_ingestion, asked again while the ingestion is in progress (as later runs would)."""
    deadline = time.monotonic() + 30
    while True:
        document = settle_ingestion(
            settings_with_defaults(emulator.config()), ingestion_id, output_dir, logger
        )
        if phase_of(document["Status"]).is_final or time.monotonic() > deadline:
            return document
        time.sleep(0.2)


def test_a_pending_ingestion_is_settled_by_a_later_call(emulator, packages, output_dir, test_logger):
    accepted = deliver_package(
        settings_with_defaults(emulator.config(await_status="none")),
        packages["good"],
        output_dir,
        test_logger,
    )

    settled = _settled_when_final(emulator, accepted["Id"], output_dir, test_logger)

    assert settled["Id"] == accepted["Id"]
    assert phase_of(settled["Status"]) is Phase.COMPLETED


def test_a_pending_ingestion_that_failed_validation_is_settled_with_its_error_file(
    emulator, packages, output_dir, test_logger
):
    rejected = deliver_package(
        settings_with_defaults(emulator.config(await_status="none")), packages["bad"], output_dir, test_logger
    )

    with pytest.raises(DataValidationFailed) as raised:
        _settled_when_final(emulator, rejected["Id"], output_dir, test_logger)

    assert raised.value.ingestion_id == rejected["Id"]
    assert raised.value.error_file is not None
    assert "not-an-email" in raised.value.error_file.read_text()


def test_a_sign_in_page_instead_of_the_listing_does_not_hide_an_accepted_upload(
    emulator, packages, output_dir, test_logger
):
    # The listing answers a sign-in page before the upload, whose answer is then lost.
    emulator.set_faults(
        rules=[
            {"action": "sign_in_page", "endpoint": "list", "count": 1},
            {"action": "drop_after_accept", "endpoint": "upload", "count": 1},
        ]
    )

    final, new = _deliver(emulator, packages, output_dir, test_logger)

    assert isinstance(final, dict), final
    assert new == {final["Id"]}
    assert final["Status"] == "Completed"


def test_an_upload_given_up_before_the_whole_file_was_sent_is_sent_again_without_a_listing(
    emulator, packages, output_dir, test_logger, caplog
):
    # The service reads nothing for 3 s; the client's writes block and time out with part of the 7 MB
    # file still unsent: proof that it did not arrive, even without a listing.
    emulator.set_faults(
        rules=[
            {"action": "error", "endpoint": "list", "status": 404, "count": 100},
            {"action": "slow", "endpoint": "upload", "delay": 3},
        ]
    )
    caplog.set_level(logging.WARNING, logger=test_logger.name)

    final, new = _deliver(
        emulator, packages, output_dir, test_logger, package="large", request_timeout_seconds=1
    )

    assert isinstance(final, dict), final
    assert new == {final["Id"]}
    assert final["Status"] == "Completed"
    assert "Upload attempt 1 failed" in caplog.text
    assert " bytes)" in caplog.text, "the attempt was judged by the bytes sent"
