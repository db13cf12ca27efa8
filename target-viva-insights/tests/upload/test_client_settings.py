"""Connection settings: defaults filled once, typed, checked; secrets kept out of their repr."""

from __future__ import annotations

import pytest
from target_viva_insights.errors import ConfigurationError
from target_viva_insights.ingestion import AwaitStatus
from target_viva_insights.settings import (
    DEFAULT_API_BASE_URL,
    ConnectionSettings,
    settings_with_defaults,
)

REQUIRED = {
    "tenant_id": "6f1c2a7e-0000-4000-8000-00000000a001",
    "client_id": "0b4d9c3e-0000-4000-8000-0000000c001",
}


def test_defaults_are_filled_and_typed():
    settings = settings_with_defaults({**REQUIRED, "await_status": None, "output_dir": "ignored"})

    assert isinstance(settings, ConnectionSettings)
    assert settings.await_status is AwaitStatus.COMPLETION
    assert settings.api_base_url == DEFAULT_API_BASE_URL
    assert settings.max_retries == 5
    assert isinstance(settings.max_retries, int)
    assert settings.poll_interval_seconds == 30.0
    assert settings.client_secret is None


def test_given_values_are_converted_to_their_types():
    settings = settings_with_defaults(
        {**REQUIRED, "await_status": "validation", "max_retries": 2.0, "poll_interval_seconds": "0.5"}
    )

    assert settings.await_status is AwaitStatus.VALIDATION
    assert settings.max_retries == 2
    assert settings.poll_interval_seconds == 0.5


def test_secrets_are_not_in_the_repr():
    settings = settings_with_defaults(
        {**REQUIRED, "client_secret": "s3cret-value", "certificate_password": "pw-42x"}
    )

    assert "s3cret-value" not in repr(settings)
    assert "pw-42x" not in repr(settings)
    assert settings.client_secret == "s3cret-value"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"tenant_id": None}, "tenant_id"),
        ({"client_id": ""}, "client_id"),
        ({"await_status": "done"}, "await_status"),
        ({"api_base_url": "http://api.example"}, "api_base_url"),
        ({"authority_host": "login.microsoftonline.com"}, "authority_host"),
        ({"poll_interval_seconds": -5}, "poll_interval_seconds"),
        ({"poll_interval_seconds": 0}, "poll_interval_seconds"),
        ({"await_timeout_minutes": 0}, "await_timeout_minutes"),
        ({"request_timeout_seconds": -1}, "request_timeout_seconds"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"max_retries": True}, "max_retries"),
        ({"previous_ingestion_wait_minutes": -1}, "previous_ingestion_wait_minutes"),
        ({"request_timeout_seconds": "soon"}, "request_timeout_seconds"),
    ],
)
def test_a_bad_value_is_a_configuration_error_naming_the_setting(overrides, named):
    with pytest.raises(ConfigurationError, match=named) as raised:
        settings_with_defaults({**REQUIRED, **overrides})

    assert raised.value.exit_code == 2
