"""The Viva Insights HR data ingress API: connection check, one upload, following the ingestion, error file.

The endpoints are those of Microsoft's page "Import organizational data (first import)", section "About the
Viva Insights HR data ingress API". Where versions of the page disagree on a path (`HR` or `Hr`, with or
without `fileIngestion`, a double slash in the error path), every documented form is tried in turn and the
first that answers is kept for the rest of the run (docs/CLI.md, "Paths tried").

One ingestion per run: a package is POSTed again only when it is proven that the earlier attempt did not
arrive (see `IngressApi.upload`). The HTTP layer (TLS trust, retries, backoff, streamed bodies) is
transport.py; the statuses and what they mean are ingestion.py.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import msal
import requests

from target_viva_insights.errors import (
    PERMISSION_ADVICE,
    ConfigurationError,
    DataValidationFailed,
    IngestionFailed,
    IngestionNotFound,
    IngestionTimeout,
    NetworkError,
    PermissionDenied,
    PreviousIngestionPending,
    ServiceError,
    TokenNotAccepted,
    VivaError,
    network_error,
)
from target_viva_insights.ingestion import ListedIngestion, Phase, is_known_status, phase_of
from target_viva_insights.private_files import private_binary_file
from target_viva_insights.settings import ConnectionSettings
from target_viva_insights.upload.auth import TokenProvider
from target_viva_insights.upload.transport import (
    Sessions,
    UploadBody,
    backoff_seconds,
    never_connected,
    short_body,
)

_CHUNK = 1024 * 1024
# After an upload timed out with the whole file sent, the service may still be working on it: the client
# looks for the ingestion this long (at least) before it gives up, and never sends the file again.
ARRIVAL_GRACE_SECONDS = 60.0
# Microsoft's page writes the connector `HR` in the upload path and `Hr` in the status and error paths.
CONNECTOR_NAMES = ("Hr", "HR")
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_START_DATE = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")

ERROR_FILE_SUFFIXES = {
    "text/csv": ".csv",
    "application/json": ".json",
    "text/plain": ".txt",
    "application/zip": ".zip",
    "application/x-zip-compressed": ".zip",
}


def field(document: Mapping[str, Any], name: str) -> Any:
    """A key of the service's JSON, whatever its casing (the docs show PascalCase, others use camelCase)."""
    for key, value in document.items():
        if key.lower() == name.lower():
            return value
    return None


def checked_ingestion_id(value: str) -> str:
    """`value` when it is an ingestion id (a GUID), so it can go into a URL path safely.

    Args:
        value: The id as the user or the service gave it.

    Returns:
        The id unchanged.

    Raises:
        ConfigurationError: It is not a GUID (for example `../../etc/passwd`).
    """
    if not _GUID.fullmatch(value):
        raise ConfigurationError(
            f"{value[:80]!r} is not an ingestion id: Viva's ingestion ids are GUIDs such as "
            "0f8fad5b-d9cb-469f-a165-70867728950e. Nothing was sent."
        )
    return value


def _start_date(ingestion: Mapping[str, Any]) -> datetime | None:
    """The ingestion's StartDate to the second (the service writes 7 fractional digits and Z)."""
    match = _START_DATE.match(str(field(ingestion, "StartDate") or ""))
    if match is None:
        return None
    return datetime.fromisoformat(match.group(1)).replace(tzinfo=timezone.utc)


def _is_previous_ingestion_pending(response: requests.Response) -> bool:
    return response.status_code == 400 and "previous ingestion" in response.text.lower()


class _Outcome(enum.Enum):
    """What one POST of the package left behind, as far as the client can tell."""

    ACCEPTED = "accepted"
    # 401: refused before processing; sent again at once with a fresh token, once.
    UNAUTHORIZED = "unauthorized (401)"
    # Proven: refused before processing (429, 503), never connected, or the body was not sent whole.
    NOT_TAKEN = "not taken"
    PREVIOUS_PENDING = "previous ingestion pending"
    # The service was done with the request (it answered 500/502, or closed the connection after the
    # whole body): a listing taken now shows the ingestion if there is one.
    MAY_HAVE_ARRIVED = "may have arrived"
    # The service may still be working on it (no answer in time, or 504 from a gateway).
    MAY_STILL_ARRIVE = "may still arrive"


@dataclasses.dataclass
class _Attempt:
    outcome: _Outcome
    reason: str
    response: requests.Response | None = None
    ingestion: dict[str, Any] | None = None


class IngressApi:
    """One tenant's HR connector on the ingress API: token provider, sessions and the paths that answered.

    Use it as a context manager (or call `close`). Constructing it sends nothing.

    Args:
        settings: The connection settings, parsed once (`settings.settings_with_defaults`).
        logger: Where progress, retries and Viva's error lines are logged (never a token or a secret).
        token_cache: MSAL's cache of an earlier sign-in (`sign_in`), whose token is used while valid.

    Raises:
        ConfigurationError: A connection setting is missing or invalid, or `ca_bundle` cannot be read.
    """

    def __init__(
        self, settings: ConnectionSettings, logger: logging.Logger, token_cache: msal.TokenCache | None = None
    ) -> None:
        self.settings = settings
        self.tenant_id = self.settings.tenant_id
        self.logger = logger
        self._base_url = self.settings.api_base_url.rstrip("/")
        self._timeout = self.settings.request_timeout_seconds
        self._sessions = Sessions(self.settings.ca_bundle, self.settings.max_retries)
        self._tokens = TokenProvider(self.settings, self._sessions, logger, token_cache)
        self._scale_unit: str | None = self.settings.scale_unit
        self._chosen_paths: dict[str, int] = {}
        self._listing_available = True

    def close(self) -> None:
        """Close the HTTP sessions."""
        self._sessions.close()

    def __enter__(self) -> IngressApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- paths -------------------------------------------------------------------------------

    @property
    def connector_path(self) -> str:
        """The HR connector's path (the upload goes to `<connector_path>/ingestions/fileIngestion`)."""
        return f"/scopes/{self.tenant_id}/ingress/connectors/HR"

    def _status_paths(self, ingestion_id: str) -> list[str]:
        scope = f"/scopes/{self.tenant_id}/ingress/connectors"
        return [
            *(f"{scope}/{name}/ingestions/fileIngestion/{ingestion_id}" for name in CONNECTOR_NAMES),
            *(f"{scope}/{name}/ingestions/{ingestion_id}" for name in CONNECTOR_NAMES),
        ]

    def _error_paths(self, ingestion_id: str) -> list[str]:
        scope = f"/scopes/{self.tenant_id}"
        return [
            # Written so on the page (a double slash, no ingress/connectors): tried as documented first.
            f"{scope}//Hr/ingestions/{ingestion_id}/errors",
            *(
                f"{scope}/ingress/connectors/{name}/ingestions/{ingestion_id}/errors"
                for name in CONNECTOR_NAMES
            ),
            *(
                f"{scope}/ingress/connectors/{name}/ingestions/fileIngestion/{ingestion_id}/errors"
                for name in CONNECTOR_NAMES
            ),
        ]

    def _ping_paths(self) -> list[str]:
        return [self.connector_path, f"/scopes/{self.tenant_id}/ingress/connectors/status?connectorType=Hr"]

    # ---- requests ----------------------------------------------------------------------------

    def _headers(self, *, with_scale_unit: bool = True) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._tokens.token()}", "Accept": "application/json"}
        if with_scale_unit:
            headers["x-nova-scaleunit"] = self.scale_unit()
        return headers

    def _get(self, path: str, *, with_scale_unit: bool = True, stream: bool = False) -> requests.Response:
        """One GET (the session retries it); a 401 fetches a fresh token and tries once more."""
        for attempt in (1, 2):
            headers = self._headers(with_scale_unit=with_scale_unit)
            try:
                response = self._sessions.reads.get(
                    self._base_url + path, headers=headers, timeout=self._timeout, stream=stream
                )
            except requests.RequestException as error:
                raise network_error(f"GET {path.split('?')[0]} failed", error) from error
            if response.status_code == 401 and attempt == 1:
                self._token_refused()
                continue
            break
        if response.status_code == 401:
            raise TokenNotAccepted(f"The API refused a fresh access token (401): {short_body(response)}")
        self._refuse_if_forbidden(response)
        return response

    def _token_refused(self) -> None:
        self.logger.info("The API refused the access token (401); fetching a new one")
        self._tokens.invalidate()

    def _refuse_if_forbidden(self, response: requests.Response) -> None:
        if response.status_code == 403:
            raise PermissionDenied(PERMISSION_ADVICE.format(client_id=self.settings.client_id))

    def _get_first_answering(
        self,
        purpose: str,
        paths: list[str],
        *,
        stream: bool = False,
        missing: Callable[[], VivaError] | None = None,
    ) -> requests.Response:
        """GET the first of `paths` that is not 404/405, and keep using it for `purpose` afterwards.

        `missing` makes the error raised when the answer is 404 (the thing asked for does not exist).
        """
        if purpose in self._chosen_paths:
            response = self._get(paths[self._chosen_paths[purpose]], stream=stream)
            if missing is not None and response.status_code == 404:
                raise missing()
            return self._check(response)
        last = None
        for index, path in enumerate(paths):
            if last is not None:
                last.close()
            last = self._get(path, stream=stream)
            if last.ok:
                self._chosen_paths[purpose] = index
                self.logger.debug("Using %s for %s", path.split("?")[0], purpose)
            if last.status_code not in (404, 405):
                return self._check(last)
        assert last is not None
        if missing is not None and last.status_code == 404:
            raise missing()
        return self._check(last)

    @staticmethod
    def _check(response: requests.Response) -> requests.Response:
        if response.ok:
            return response
        raise ServiceError(
            f"{response.request.method} {response.url} answered HTTP {response.status_code}: "
            f"{short_body(response)}"
        )

    # ---- connection --------------------------------------------------------------------------

    def scale_unit(self) -> str:
        """The tenant's scale unit (the x-nova-scaleunit header): `scale_unit` from the settings, else asked.

        Returns:
            The scale unit, e.g. `novaprdwus2-01`.

        Raises:
            ServiceError: The endpoint failed or answered something that is not a scale unit.
            AuthenticationFailed, PermissionDenied, NetworkError: As for any request.
        """
        if self._scale_unit is None:
            path = f"/tenants/{self.tenant_id}/scopes/{self.tenant_id}/scaleUnit"
            response = self._check(self._get(path, with_scale_unit=False))
            value = response.text.strip().replace('"', "")
            if not value or len(value) > 100 or any(char.isspace() for char in value):
                raise ServiceError(
                    f"The scale-unit endpoint answered an unexpected body: {short_body(response)}"
                )
            self._scale_unit = value
            self.logger.info("Scale unit: %s", value)
        return self._scale_unit

    def ping(self) -> dict[str, Any]:
        """Check that the HR connector exists and accepts this app.

        Returns:
            The service's answer, e.g. `{"ConnectorId": "..."}`.

        Raises:
            PermissionDenied: The app is not registered in the API-based import connection (403).
            AuthenticationFailed, ServiceError, NetworkError: As for any request.
        """
        response = self._get_first_answering("ping", self._ping_paths())
        try:
            answer = response.json()
        except ValueError:
            answer = {"body": response.text}
        self.logger.info(
            "Connector ping OK (ConnectorId %s)",
            field(answer, "ConnectorId") if isinstance(answer, dict) else "?",
        )
        return answer if isinstance(answer, dict) else {"body": answer}

    # ---- ingestions --------------------------------------------------------------------------

    def ingestion(self, ingestion_id: str) -> dict[str, Any]:
        """The ingestion's current document (Id, Status, StartDate, EndDate, ErrorDetail, ...).

        Args:
            ingestion_id: The ingestion's GUID.

        Returns:
            The service's JSON document of the ingestion.

        Raises:
            ConfigurationError: `ingestion_id` is not a GUID (nothing is sent).
            TokenNotAccepted: The service answered a sign-in page instead of the document.
            IngestionNotFound: Every documented status path answered 404.
            ServiceError: No documented status path answered, or the service failed.
        """
        checked_ingestion_id(ingestion_id)

        def missing() -> VivaError:
            return IngestionNotFound(
                f"The service has no ingestion {ingestion_id} for this tenant (HTTP 404)."
            )

        response = self._get_first_answering("status", self._status_paths(ingestion_id), missing=missing)
        return self._ingestion_document(response)

    def list_ingestions(self) -> list[dict[str, Any]] | None:
        """The tenant's ingestions, when the service lists them (the emulator does; undocumented for Viva).

        Returns:
            The ingestion documents, or None when the service has no listing.

        Raises:
            ServiceError, NetworkError: The listing exists but failed past the retries.
        """
        if not self._listing_available:
            return None
        response = self._get(f"{self.connector_path}/ingestions")
        if response.status_code in (400, 404, 405):
            self._no_listing()
            return None
        self._check(response)  # a 5xx past the retries is an error, not "no listing"
        try:
            payload = response.json()
        except ValueError:
            # A sign-in page instead of the JSON: a refused token, not an absent listing.
            raise ServiceError(f"The ingestion listing answered no JSON: {short_body(response)}") from None
        items = field(payload, "value") if isinstance(payload, dict) else payload
        return [item for item in items or [] if isinstance(item, dict)]

    def _no_listing(self) -> None:
        self._listing_available = False
        self.logger.debug(
            "The service does not list ingestions; an upload whose outcome is unknown is not sent again"
        )

    def upload(self, package: Path) -> dict[str, Any]:
        """POST the package and return the ingestion it started; never two ingestions for one call.

        The package is sent again only when the earlier attempt provably did not arrive: the connection
        could not be opened, the body was not sent whole, the service refused before processing (401,
        429, 503, "Previous ingestion is not complete"), or the service answered 500/502 (or closed the
        connection) and its listing of ingestions, taken before and after, shows nothing new. Otherwise
        the client looks for the ingestion the attempt started and follows it; when it cannot find it,
        it fails with a message saying the outcome is unknown, and sends nothing more.

        Args:
            package: The package zip (multipart field `info`), or a bare .csv or .json (raw body).

        Returns:
            The ingestion document from the service's answer (or from its listing, when the answer was
            lost).

        Raises:
            ConfigurationError: The package cannot be read (exit 2).
            PreviousIngestionPending: Another ingestion of the tenant is running (exit 8).
            NetworkError: The upload's outcome is unknown, or it kept failing to connect (exit 6).
            ServiceError: The service kept failing, or refused the request (exit 6).
            AuthenticationFailed, PermissionDenied: The token or the app was refused.
        """
        _check_readable(package)
        wait_deadline = time.monotonic() + self.settings.previous_ingestion_wait_minutes * 60
        known_ids = self._ingestion_ids()
        first_unsure_since: datetime | None = None
        unsure = False
        failures = 0
        self.logger.info("Uploading %s (%s bytes)", package.name, f"{package.stat().st_size:,}")
        token_refused = False
        while True:
            since = self._sessions.service_clock
            attempt = self._post_once(package)
            if attempt.outcome is _Outcome.ACCEPTED:
                assert attempt.ingestion is not None
                return attempt.ingestion
            if attempt.outcome is _Outcome.UNAUTHORIZED:
                if token_refused:
                    raise TokenNotAccepted(f"The API refused a fresh access token (401): {attempt.reason}")
                token_refused = True
                self._token_refused()
                continue  # at once, with a fresh token
            if attempt.outcome is _Outcome.PREVIOUS_PENDING:
                if unsure:
                    return self._earlier_attempt_arrived(known_ids, first_unsure_since)
                self._wait_for_previous_ingestion(wait_deadline)
                continue
            if attempt.outcome in (_Outcome.MAY_HAVE_ARRIVED, _Outcome.MAY_STILL_ARRIVE):
                if not unsure:
                    unsure, first_unsure_since = True, since
                found = self._arrived_despite(attempt, known_ids, since)
                if found is not None:
                    return found
            failures += 1
            if failures > self.settings.max_retries:
                error_type = NetworkError if attempt.response is None else ServiceError
                raise error_type(f"The upload failed {failures} times; last: {attempt.reason}")
            retry_after = (
                attempt.response.headers.get("Retry-After") if attempt.response is not None else None
            )
            delay = backoff_seconds(failures, retry_after)
            self.logger.warning(
                "Upload attempt %d failed (%s); retrying in %.1f s", failures, attempt.reason, delay
            )
            time.sleep(delay)

    def _post_once(self, package: Path) -> _Attempt:
        """One POST of the package, classified by what its outcome proves.

        The token and the scale unit are obtained first: when that fails, nothing was sent and the
        error ends the upload.
        """
        headers = self._headers()
        body = UploadBody(package, self.logger)
        path = f"{self.connector_path}/ingestions/fileIngestion"
        try:
            response = self._sessions.uploads.post(
                self._base_url + path,
                headers={**headers, **body.headers},
                data=body.data,
                timeout=self._timeout,
            )
        except requests.RequestException as error:
            reason = str(network_error(f"POST {path}", error))
            if never_connected(error):
                return _Attempt(_Outcome.NOT_TAKEN, reason)
            if not body.whole_body_read:
                return _Attempt(
                    _Outcome.NOT_TAKEN, f"{reason} (after {body.bytes_read:,} of {body.length:,} bytes)"
                )
            if isinstance(error, requests.Timeout):
                return _Attempt(_Outcome.MAY_STILL_ARRIVE, f"no answer within {self._timeout:g} s")
            return _Attempt(_Outcome.MAY_HAVE_ARRIVED, reason)
        finally:
            body.close()
        reason = f"HTTP {response.status_code}"
        if response.ok:
            return _Attempt(_Outcome.ACCEPTED, reason, response, self._accepted(response))
        if response.status_code == 401:
            return _Attempt(_Outcome.UNAUTHORIZED, f"{reason}: {short_body(response)}", response)
        self._refuse_if_forbidden(response)
        if _is_previous_ingestion_pending(response):
            return _Attempt(_Outcome.PREVIOUS_PENDING, reason, response)
        if response.status_code in (429, 503):
            return _Attempt(_Outcome.NOT_TAKEN, reason, response)
        if response.status_code == 504:
            return _Attempt(_Outcome.MAY_STILL_ARRIVE, reason, response)
        if response.status_code >= 500:
            return _Attempt(_Outcome.MAY_HAVE_ARRIVED, reason, response)
        self._check(response)
        raise AssertionError("unreachable: _check raises for a status that is not ok")

    def _ingestion_ids(self) -> set[str] | None:
        """The ids known before the POST; None when they cannot be listed (then no later POST is proven)."""
        try:
            ingestions = self.list_ingestions()
        except (NetworkError, ServiceError) as error:
            self.logger.warning("Cannot list the ingestions before the upload (%s)", error)
            return None
        return None if ingestions is None else {str(field(item, "Id")) for item in ingestions}

    def _arrived_despite(
        self, attempt: _Attempt, known_ids: set[str] | None, since: datetime | None
    ) -> dict[str, Any] | None:
        """The ingestion an unsure attempt started; None only when it is proven that there is none.

        Raises:
            NetworkError: Neither the ingestion nor its absence can be established.
        """
        still_arriving = attempt.outcome is _Outcome.MAY_STILL_ARRIVE
        patience = max(self._timeout, ARRIVAL_GRACE_SECONDS) if still_arriving else 0.0
        deadline = time.monotonic() + patience
        while True:
            try:
                ingestions = self.list_ingestions()
            except (NetworkError, ServiceError) as error:
                ingestions, listing_error = None, str(error)
            else:
                listing_error = "" if ingestions is not None else "the service does not list ingestions"
            if ingestions is not None:
                found = _newest_new_ingestion(ingestions, known_ids, since)
                if found is not None:
                    self.logger.warning(
                        "The upload arrived despite %s: following ingestion %s",
                        attempt.reason,
                        field(found, "Id"),
                    )
                    return found
                if not still_arriving and known_ids is not None:
                    return None  # the service was done with the request and holds nothing new: proven
            if (
                not self._listing_available
                or time.monotonic() + self.settings.poll_interval_seconds > deadline
            ):
                break
            time.sleep(self.settings.poll_interval_seconds)
        why = listing_error or "no new ingestion shows up in the service's listing"
        unknown = NetworkError(
            f"The upload's outcome is unknown ({attempt.reason}; {why}), so the file is not sent again: "
            "Viva may have taken it. Check Import history in Viva Insights (or `viva-insights status ID` "
            "with the id shown there) before uploading again."
        )
        unknown.outcome_unknown = True
        raise unknown

    def _earlier_attempt_arrived(self, known_ids: set[str] | None, since: datetime | None) -> dict[str, Any]:
        """After an unsure attempt, Viva reports an ingestion in progress: most likely that attempt's."""
        try:
            ingestions = self.list_ingestions()
        except (NetworkError, ServiceError):
            ingestions = None
        found = None if ingestions is None else _newest_new_ingestion(ingestions, known_ids, since)
        if found is not None:
            self.logger.warning(
                "An earlier attempt of this upload arrived: following ingestion %s", field(found, "Id")
            )
            return found
        unknown = PreviousIngestionPending(
            "The service now reports an ingestion in progress; an earlier attempt of this upload "
            "probably arrived. Check Import history in Viva Insights (or `viva-insights status`) "
            "before uploading again."
        )
        unknown.outcome_unknown = True
        raise unknown

    def _wait_for_previous_ingestion(self, deadline: float) -> None:
        interval = self.settings.poll_interval_seconds
        if time.monotonic() + interval > deadline:
            raise PreviousIngestionPending(
                "Viva answered 'Previous ingestion is not complete': another ingestion of this tenant is "
                "still running. Wait until it ends (Viva Insights > Organizational data > Import history; an "
                "Insights admin can abandon a stuck one there), or set previous_ingestion_wait_minutes to "
                "keep retrying."
            )
        self.logger.info("A previous ingestion is still running; retrying the upload in %.0f s", interval)
        time.sleep(interval)

    def _accepted(self, response: requests.Response) -> dict[str, Any]:
        ingestion = self._ingestion_document(response)
        self.logger.info(
            "Upload accepted: ingestion %s, status %s", field(ingestion, "Id"), field(ingestion, "Status")
        )
        return ingestion

    def _ingestion_document(self, response: requests.Response) -> dict[str, Any]:
        try:
            document = response.json()
        except ValueError:
            document = None
        if not isinstance(document, dict) or not field(document, "Id") or field(document, "Status") is None:
            # Microsoft's READMEs: an expired token can give 200 with a sign-in page instead of the JSON.
            raise TokenNotAccepted(
                f"The service answered HTTP {response.status_code} without an ingestion document "
                f"(a sign-in prompt means the token was not accepted): {short_body(response)}"
            )
        if not _GUID.fullmatch(str(field(document, "Id"))):
            raise ServiceError(
                f"The service answered an ingestion id that is not a GUID: {short_body(response)}"
            )
        return document

    # ---- following an ingestion ------------------------------------------------------------

    def await_ingestion(self, ingestion: dict[str, Any], output_dir: Path) -> dict[str, Any]:
        """Poll the ingestion until the `await_status` setting is reached.

        Transient failures while polling (network, 5xx, a sign-in page or a refused token) do not end the
        wait: the ingestion is in Viva's hands, and the run keeps following it until `await_timeout_minutes`.

        Args:
            ingestion: The document `upload` returned.
            output_dir: Where Viva's error file goes when the ingestion ends ValidationFailed.

        Returns:
            The ingestion's last document.

        Raises:
            DataValidationFailed: Viva refused the data; the error file is downloaded (exit 3).
            IngestionFailed: The ingestion ended in another failure status (exit 6).
            IngestionTimeout: `await_timeout_minutes` passed first (exit 7).
            PermissionDenied, AuthenticationFailed: The app or its credentials were refused meanwhile.
        """
        ingestion_id = str(field(ingestion, "Id"))
        started = time.monotonic()
        deadline = started + self.settings.await_timeout_minutes * 60
        interval = self.settings.poll_interval_seconds
        status = str(field(ingestion, "Status"))
        self._log_status(ingestion_id, status, started)
        while not self.settings.await_status.reached(phase_of(status)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise IngestionTimeout(
                    f"Ingestion {ingestion_id} is still {status} after "
                    f"{self.settings.await_timeout_minutes:g} minutes. It goes on in Viva; follow it with "
                    f"`viva-insights status {ingestion_id}`.",
                    ingestion_id=ingestion_id,
                )
            time.sleep(min(interval, remaining))
            try:
                ingestion = self.ingestion(ingestion_id)
            except (NetworkError, ServiceError, TokenNotAccepted) as error:
                # Processing takes hours: an outage longer than the retries must not end the wait.
                if isinstance(error, TokenNotAccepted):
                    self._tokens.invalidate()
                self.logger.warning(
                    "Status of ingestion %s unavailable (%s); polling on", ingestion_id, error
                )
                continue
            new_status = str(field(ingestion, "Status"))
            if new_status != status:
                status = new_status
                self._log_status(ingestion_id, status, started)
        return self.outcome(ingestion, output_dir)

    def _log_status(self, ingestion_id: str, status: str, started: float) -> None:
        elapsed = time.monotonic() - started
        if is_known_status(status) or phase_of(status) is not Phase.IN_PROGRESS:
            self.logger.info("Ingestion %s: %s (after %.0f s)", ingestion_id, status, elapsed)
        else:
            self.logger.warning(
                "Ingestion %s: unknown status %r (after %.0f s), treated as in progress",
                ingestion_id,
                status,
                elapsed,
            )

    def outcome(self, ingestion: dict[str, Any], output_dir: Path) -> dict[str, Any]:
        """What an ingestion's document means for the run: failures raise, anything else is returned.

        Also the way to settle an ingestion a previous run left pending:
        `api.outcome(api.ingestion(ingestion_id), output_dir)`, then `phase_of` its Status.

        Args:
            ingestion: An ingestion document.
            output_dir: Where Viva's error file goes for ValidationFailed.

        Returns:
            The document, when its status is not a failure (Completed, validated or in progress).

        Raises:
            DataValidationFailed: ValidationFailed; `error_file` is the downloaded error file, or None
                when it could not be downloaded (the message says how to fetch it later).
            IngestionFailed: Another failure status.
        """
        ingestion_id = str(field(ingestion, "Id"))
        status = str(field(ingestion, "Status"))
        phase = phase_of(status)
        if phase is Phase.VALIDATION_FAILED:
            try:
                error_file: Path | None = self.download_errors(ingestion_id, output_dir)
                where = f"errors saved to {error_file}"
            except (NetworkError, ServiceError, TokenNotAccepted) as error:
                error_file = None
                where = (
                    f"its error file could not be downloaded ({error}); fetch it with "
                    f"`viva-insights errors {ingestion_id}`"
                )
            raise DataValidationFailed(
                f"Viva rejected the data of ingestion {ingestion_id} (ValidationFailed); {where}",
                error_file=error_file,
                ingestion_id=ingestion_id,
            )
        if phase is Phase.FAILED:
            detail = field(ingestion, "ErrorDetail")
            failure = IngestionFailed(
                f"Ingestion {ingestion_id} ended as {status}: {detail or 'no detail given'}"
            )
            failure.ingestion_id = ingestion_id
            raise failure
        return ingestion

    def download_errors(self, ingestion_id: str, output_dir: Path, target: Path | None = None) -> Path:
        """Save the ingestion's error stream (raw bytes, streamed, file mode 0600) and log where it is.

        Args:
            ingestion_id: The ingestion's GUID.
            output_dir: The folder of the default file name `errors-<id>.<ext>` (created if needed).
            target: The file to write instead of the default name.

        Returns:
            The path written.

        Raises:
            ConfigurationError: `ingestion_id` is not a GUID (nothing is sent), or the file cannot be
                written (the message names it).
            ServiceError: No documented error path answered, or the service failed.
            NetworkError: The download broke off (no partial file is left).
        """
        checked_ingestion_id(ingestion_id)
        response = self._get_first_answering("errors", self._error_paths(ingestion_id), stream=True)
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if target is None:
            target = output_dir / f"errors-{ingestion_id}{ERROR_FILE_SUFFIXES.get(content_type, '.txt')}"
        with response:
            _save_stream(response, target)
        # Its lines hold HR values: the log names the file and its size only.
        lines = f"{_line_count(target):,}"
        self.logger.error("Viva's error file for ingestion %s: %s (%s lines)", ingestion_id, target, lines)
        return target


def _newest_new_ingestion(
    ingestions: list[dict[str, Any]], known_ids: set[str] | None, since: datetime | None
) -> dict[str, Any] | None:
    """The newest ingestion that was not there before the upload.

    With the ids listed before the upload, "new" is exact. Without them, it is an ingestion that started
    at or after the service's clock (its Date header) just before the POST.
    """
    if known_ids is not None:
        new = [item for item in ingestions if str(field(item, "Id")) not in known_ids]
    elif since is not None:
        new = [item for item in ingestions if (start := _start_date(item)) is not None and start >= since]
    else:
        return None
    return max(new, key=lambda item: str(field(item, "StartDate") or "")) if new else None


def _check_readable(package: Path) -> None:
    try:
        with package.open("rb"):
            pass
    except OSError as error:
        raise ConfigurationError(f"Cannot read the package {package}: {error.strerror}") from error


def _save_stream(response: requests.Response, target: Path) -> None:
    """Write the response body to `target` (mode 0600); a broken download leaves no partial file."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with private_binary_file(target) as handle:
            for chunk in response.iter_content(_CHUNK):
                handle.write(chunk)
    except requests.RequestException as error:  # before OSError: requests' errors are IOErrors
        target.unlink(missing_ok=True)
        raise network_error(f"Downloading the error file to {target}", error) from error
    except OSError as error:
        if target.is_file():  # a part written before the disk filled; not a folder given as the target
            target.unlink()
        raise ConfigurationError(f"Cannot write the error file {target}: {error.strerror}") from error


def _line_count(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(_CHUNK), b""))


def sign_in(settings: ConnectionSettings, logger: logging.Logger) -> msal.TokenCache:
    """Prove the credential before any work: one token from Entra ID, kept for the run's later calls.

    Args:
        settings: The connection settings.
        logger: Where the sign-in is logged.

    Returns:
        MSAL's cache holding the token; pass it to `deliver_package` and `settle_ingestion`.

    Raises:
        AuthenticationFailed: Entra ID refused the credentials, or the certificate has expired.
        ServiceError: The identity service is unavailable or cannot be reached.
    """
    cache = msal.TokenCache()
    sessions = Sessions(settings.ca_bundle, settings.max_retries)
    try:
        TokenProvider(settings, sessions, logger, cache).token()
    finally:
        sessions.close()
    logger.info("Signed in to Entra ID as client %s in tenant %s.", settings.client_id, settings.tenant_id)
    return cache


def deliver_package(
    settings: ConnectionSettings,
    package: Path,
    output_dir: Path,
    logger: logging.Logger,
    token_cache: msal.TokenCache | None = None,
    on_accepted: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Upload a validated package once and follow its ingestion as far as the `await_status` setting says.

    Args:
        settings: The connection settings.
        package: The package zip (or a bare .csv or .json) to upload.
        output_dir: Where Viva's error file goes when the ingestion ends ValidationFailed
            (`errors-<ingestion id>.<ext>`, mode 0600).
        logger: Where progress is logged.
        token_cache: The start-up sign-in's cache (`sign_in`), so the run signs in once.
        on_accepted: Called with the ingestion's id as soon as the service accepted the upload, before
            it is followed (the ledger records the id there).

    Returns:
        The last ingestion document: Completed, validated, or as accepted (`await_status` none).

    Raises:
        VivaError: A subclass from errors.py, whose `exit_code` is the documented exit code. When the
            upload was accepted before the failure, `ingestion_id` names the ingestion and the message
            says to follow it rather than upload again.
    """
    with IngressApi(settings, logger, token_cache) as api:
        api.scale_unit()
        api.ping()
        ingestion = api.upload(package)
        try:
            if on_accepted is not None:
                on_accepted(str(field(ingestion, "Id")))
            final = api.await_ingestion(ingestion, output_dir)
        except VivaError as error:
            _name_the_ingestion(error, str(field(ingestion, "Id")))
            raise
    logger.info(
        "Ingestion %s: %s (await_status %s reached)",
        field(final, "Id"),
        field(final, "Status"),
        api.settings.await_status.value,
    )
    return final


def tenant_ingestions(
    settings: ConnectionSettings, logger: logging.Logger, token_cache: msal.TokenCache | None = None
) -> list[ListedIngestion] | None:
    """The tenant's ingestions as the service lists them, oldest first; None when it has no listing.

    Raises:
        ServiceError, NetworkError: The listing exists but kept failing past the retries: a run that
            needs it to know what the tenant holds stops rather than guess.
    """
    with IngressApi(settings, logger, token_cache) as api:
        documents = api.list_ingestions()
    if documents is None:
        return None
    listed = [
        ListedIngestion(str(field(item, "Id")), str(field(item, "Status")), _start_date(item))
        for item in documents
    ]
    undated = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(listed, key=lambda item: item.started or undated)


def settle_ingestion(
    settings: ConnectionSettings,
    ingestion_id: str,
    output_dir: Path,
    logger: logging.Logger,
    token_cache: msal.TokenCache | None = None,
) -> dict[str, Any]:
    """Ask once for an ingestion an earlier run left pending, and judge it as `deliver_package` would.

    Args:
        settings: The connection settings.
        ingestion_id: The pending ingestion's GUID.
        output_dir: Where Viva's error file goes when it ended ValidationFailed.
        logger: Where progress is logged.
        token_cache: The start-up sign-in's cache (`sign_in`), so the run signs in once.

    Returns:
        Its current document when it did not fail: `phase_of(document["Status"])` tells Completed from
        still in progress (or validated).

    Raises:
        DataValidationFailed: It ended ValidationFailed; its error file is downloaded (`error_file`).
        IngestionFailed: It ended in another failure status (for example abandoned).
        VivaError: The service could not be asked (`ConfigurationError` for an id that is not a GUID).
    """
    with IngressApi(settings, logger, token_cache) as api:
        return api.outcome(api.ingestion(ingestion_id), output_dir)


def _name_the_ingestion(error: VivaError, ingestion_id: str) -> None:
    """Mark `error` with the accepted ingestion; its message says so when it does not already."""
    error.ingestion_id = ingestion_id
    if ingestion_id not in str(error):
        error.args = (
            f"{error} The upload was accepted as ingestion {ingestion_id}: follow it with "
            f"`viva-insights status {ingestion_id}` rather than uploading the data again.",
        )
