"""The Viva Insights HR data ingress API: connection check, upload, awaiting the ingestion, error download.

Paths and their uncertainties are in shared/reference/viva-ingress-api.md (E1-E5). Where the public
sources disagree on a path, the documented forms are tried in a fixed order and the first that answers
is kept for the rest of the run.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests_toolbelt.multipart.encoder import MultipartEncoder, MultipartEncoderMonitor
from urllib3.util.retry import Retry

from target_viva_insights.auth import TokenProvider
from target_viva_insights.errors import (
    PERMISSION_ADVICE,
    AuthenticationFailed,
    ConfigurationError,
    DataValidationFailed,
    IngestionFailed,
    IngestionTimeout,
    NetworkError,
    PermissionDenied,
    PreviousIngestionPending,
    ServiceError,
    network_error,
)
from target_viva_insights.ingestion import AwaitStatus, Phase, is_known_status, phase_of
from target_viva_insights.settings import CONNECTION_SETTINGS

USER_AGENT = "target-viva-insights"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Backoff before retry n (n >= 2) is BACKOFF_FACTOR * 2**(n-1) seconds plus jitter, capped.
BACKOFF_FACTOR = 0.5
BACKOFF_MAX_SECONDS = 60.0
PROGRESS_STEP_PERCENT = 10
ERROR_LINES_LOGGED = 10
_CHUNK = 1024 * 1024

ERROR_FILE_SUFFIXES = {
    "text/csv": ".csv",
    "application/json": ".json",
    "text/plain": ".txt",
    "application/zip": ".zip",
    "application/x-zip-compressed": ".zip",
}
RAW_CONTENT_TYPES = {".csv": "text/csv", ".json": "application/json"}


def settings_with_defaults(config: Mapping[str, Any]) -> dict[str, Any]:
    """The connection settings with the schema's defaults filled in for absent or null values."""
    properties = CONNECTION_SETTINGS.to_dict()["properties"]
    merged = {name: spec.get("default") for name, spec in properties.items()}
    merged.update({name: value for name, value in config.items() if value is not None})
    for required in ("tenant_id", "client_id"):
        if not merged.get(required):
            raise ConfigurationError(f"The setting {required} is required.")
    try:
        merged["await_status"] = AwaitStatus(merged["await_status"])
    except ValueError:
        choices = ", ".join(status.value for status in AwaitStatus)
        raise ConfigurationError(f"await_status must be one of {choices}.") from None
    for url_setting in ("authority_host", "api_base_url"):
        if not str(merged[url_setting]).lower().startswith("https://"):
            # Tokens and HR data never travel over plain HTTP.
            raise ConfigurationError(f"{url_setting} must be an https:// URL.")
    return merged


def field(document: Mapping[str, Any], name: str) -> Any:
    """A key of the service's JSON, whatever its casing (the docs show PascalCase, others use camelCase)."""
    for key, value in document.items():
        if key.lower() == name.lower():
            return value
    return None


class _TrustAdapter(HTTPAdapter):
    """Verifies TLS against the system's CAs plus `ca_bundle` (it adds trust, it never replaces it)."""

    def __init__(self, ssl_context: ssl.SSLContext, retries: Retry) -> None:
        self._ssl_context = ssl_context
        super().__init__(max_retries=retries)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        pool_kwargs["ssl_context"] = self._ssl_context
        return host_params, pool_kwargs


def retrying(max_retries: int, methods: frozenset[str]) -> Retry:
    """Retries of `methods` on connection errors, 5xx and 429 (honouring Retry-After), backoff with jitter."""
    return Retry(
        total=max_retries,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=methods,
        backoff_factor=BACKOFF_FACTOR,
        backoff_jitter=BACKOFF_FACTOR,
        backoff_max=BACKOFF_MAX_SECONDS,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


# urllib3 re-sends a request of any method after some connection errors (its "other" retries), which
# would re-send a half-consumed upload body: uploads get no urllib3 retries at all (see upload()).
NO_RETRIES = Retry(total=0, status_forcelist=(), raise_on_status=False)


def build_session(ca_bundle: str | None, retries: Retry) -> requests.Session:
    """A session verifying TLS against the system CAs plus `ca_bundle`, retrying as `retries` says."""
    context = ssl.create_default_context(cafile=requests.certs.where())
    if ca_bundle:
        try:
            context.load_verify_locations(cafile=str(Path(ca_bundle).expanduser()))
        except (OSError, ssl.SSLError) as error:
            raise ConfigurationError(f"Cannot load ca_bundle {ca_bundle}: {error}") from error
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    adapter = _TrustAdapter(context, retries)
    session.mount("https://", adapter)
    return session


def _backoff_seconds(attempt: int, retry_after: str | None = None) -> float:
    if retry_after and retry_after.strip().isdigit():
        return float(retry_after)
    return min(BACKOFF_MAX_SECONDS, BACKOFF_FACTOR * 2**attempt) * random.uniform(0.5, 1.5)  # noqa: S311


def _short_body(response: requests.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:300] if text else "(empty body)"


def _is_previous_ingestion_pending(response: requests.Response) -> bool:
    return response.status_code == 400 and "previous ingestion" in response.text.lower()


class UploadProgress:
    """Logs the bytes sent and the percentage every PROGRESS_STEP_PERCENT."""

    def __init__(self, name: str, total: int, logger: logging.Logger) -> None:
        self._name = name
        self._total = max(total, 1)
        self._logger = logger
        self._next_percent = PROGRESS_STEP_PERCENT
        self._started = time.monotonic()

    def __call__(self, monitor: MultipartEncoderMonitor) -> None:
        percent = 100 * monitor.bytes_read / self._total
        if percent >= self._next_percent:
            elapsed = max(time.monotonic() - self._started, 1e-6)
            self._logger.info(
                "Uploading %s: %s of %s bytes (%d%%, %.1f MB/s)",
                self._name,
                f"{monitor.bytes_read:,}",
                f"{self._total:,}",
                int(percent),
                monitor.bytes_read / elapsed / 1e6,
            )
            while self._next_percent <= percent:
                self._next_percent += PROGRESS_STEP_PERCENT


class IngressApi:
    """One tenant's HR connector on the ingress API. Holds the token provider and the learned paths."""

    def __init__(self, config: Mapping[str, Any], logger: logging.Logger) -> None:
        self.settings = settings_with_defaults(config)
        self.tenant_id = str(self.settings["tenant_id"])
        self.logger = logger
        self._base_url = str(self.settings["api_base_url"]).rstrip("/")
        self._timeout = float(self.settings["request_timeout_seconds"])
        max_retries = int(self.settings["max_retries"])
        ca_bundle = self.settings.get("ca_bundle")
        # Uploads are never retried blindly (see upload()); a token request may be.
        self._session = build_session(ca_bundle, retrying(max_retries, frozenset({"GET"})))
        self._upload_session = build_session(ca_bundle, NO_RETRIES)
        self._auth_session = build_session(ca_bundle, retrying(max_retries, frozenset({"GET", "POST"})))
        self._tokens = TokenProvider(self.settings, self._auth_session, self._timeout, logger)
        self._scale_unit: str | None = self.settings.get("scale_unit")
        self._chosen_paths: dict[str, int] = {}
        self._listing_available = True

    def close(self) -> None:
        self._session.close()
        self._upload_session.close()
        self._auth_session.close()

    def __enter__(self) -> IngressApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- paths -------------------------------------------------------------------------------

    @property
    def connector_path(self) -> str:
        return f"/scopes/{self.tenant_id}/ingress/connectors/HR"

    def _status_paths(self, ingestion_id: str) -> list[str]:
        return [
            f"{self.connector_path}/ingestions/fileIngestion/{ingestion_id}",
            f"{self.connector_path}/ingestions/{ingestion_id}",
        ]

    def _error_paths(self, ingestion_id: str) -> list[str]:
        return [
            f"{self.connector_path}/ingestions/{ingestion_id}/errors",
            f"{self.connector_path}/ingestions/fileIngestion/{ingestion_id}/errors",
        ]

    def _ping_paths(self) -> list[str]:
        return [self.connector_path, f"/scopes/{self.tenant_id}/ingress/connectors/status?connectorType=Hr"]

    # ---- requests ----------------------------------------------------------------------------

    def _headers(self, *, with_scale_unit: bool = True) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._tokens.token()}", "Accept": "application/json"}
        if with_scale_unit:
            headers["x-nova-scaleunit"] = self.scale_unit()
        return headers

    def _send(
        self,
        method: str,
        path: str,
        *,
        with_scale_unit: bool = True,
        body_factory: Callable[[], tuple[Any, dict[str, str]]] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """One request (the session retries GETs); a 401 fetches a fresh token and tries once more."""
        for attempt in (1, 2):
            headers = self._headers(with_scale_unit=with_scale_unit)
            data = None
            if body_factory is not None:
                data, extra_headers = body_factory()
                headers.update(extra_headers)
            try:
                session = self._session if method == "GET" else self._upload_session
                response = session.request(
                    method,
                    self._base_url + path,
                    headers=headers,
                    data=data,
                    timeout=self._timeout,
                    stream=stream,
                )
            except requests.RequestException as error:
                raise network_error(f"{method} {path.split('?')[0]} failed", error) from error
            if response.status_code == 401 and attempt == 1:
                self.logger.info("The API refused the access token (401); fetching a new one")
                self._tokens.invalidate()
                continue
            break
        if response.status_code == 401:
            raise AuthenticationFailed(f"The API refused a fresh access token (401): {_short_body(response)}")
        if response.status_code == 403:
            raise PermissionDenied(PERMISSION_ADVICE.format(client_id=self.settings["client_id"]))
        return response

    def _get_first_answering(
        self, purpose: str, paths: list[str], *, stream: bool = False
    ) -> requests.Response:
        """GET the first of `paths` that is not 404/405, and keep using it for `purpose` afterwards."""
        if purpose in self._chosen_paths:
            return self._check(self._send("GET", paths[self._chosen_paths[purpose]], stream=stream))
        last = None
        for index, path in enumerate(paths):
            last = self._send("GET", path, stream=stream)
            if last.ok:
                self._chosen_paths[purpose] = index
                self.logger.debug("Using %s for %s", path.split("?")[0], purpose)
            if last.status_code not in (404, 405):
                return self._check(last)
        assert last is not None
        return self._check(last)

    @staticmethod
    def _check(response: requests.Response) -> requests.Response:
        if response.ok:
            return response
        raise ServiceError(
            f"{response.request.method} {response.url} answered HTTP {response.status_code}: "
            f"{_short_body(response)}"
        )

    # ---- operations --------------------------------------------------------------------------

    def scale_unit(self) -> str:
        """`scale_unit` from the settings, else discovered; the endpoint answers a quoted string."""
        if self._scale_unit is None:
            path = f"/tenants/{self.tenant_id}/scopes/{self.tenant_id}/scaleUnit"
            response = self._check(self._send("GET", path, with_scale_unit=False))
            value = response.text.strip().replace('"', "")
            if not value or len(value) > 100 or any(char.isspace() for char in value):
                raise ServiceError(
                    f"The scale-unit endpoint answered an unexpected body: {_short_body(response)}"
                )
            self._scale_unit = value
            self.logger.info("Scale unit: %s", value)
        return self._scale_unit

    def ping(self) -> dict[str, Any]:
        """Check that the HR connector exists and accepts this app (403 becomes PermissionDenied)."""
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

    def ingestion(self, ingestion_id: str) -> dict[str, Any]:
        response = self._get_first_answering("status", self._status_paths(ingestion_id))
        return self._ingestion_document(response)

    def list_ingestions(self) -> list[dict[str, Any]] | None:
        """The tenant's ingestions, when the service lists them (the emulator does; undocumented for Viva)."""
        if not self._listing_available:
            return None
        response = self._send("GET", f"{self.connector_path}/ingestions")
        if response.status_code in (400, 404, 405):
            self._no_listing()
            return None
        self._check(response)  # a 5xx past the retries is an error, not "no listing"
        try:
            payload = response.json()
        except ValueError:
            self._no_listing()
            return None
        items = field(payload, "value") if isinstance(payload, dict) else payload
        return [item for item in items or [] if isinstance(item, dict)]

    def _no_listing(self) -> None:
        self._listing_available = False
        self.logger.debug(
            "The service does not list ingestions; duplicate checks rely on its single-flight rule"
        )

    def upload(self, package: Path) -> dict[str, Any]:
        """POST the package once; after an ambiguous failure, look the ingestion up before any new POST."""
        settings = self.settings
        wait_deadline = time.monotonic() + float(settings["previous_ingestion_wait_minutes"]) * 60
        known_ids = self._ingestion_ids()
        failures = 0
        may_have_arrived = False
        while True:
            response: requests.Response | None
            try:
                response = self._post_package(package)
            except NetworkError as error:
                response, reason = None, str(error)
            else:
                reason = f"HTTP {response.status_code}"
            if response is not None and response.ok:
                return self._accepted(response)
            if response is not None and _is_previous_ingestion_pending(response):
                if may_have_arrived:
                    raise PreviousIngestionPending(
                        "The service now reports an ingestion in progress; an earlier attempt of this upload "
                        "probably arrived. Check Import history in Viva Insights (or `viva-insights status`) "
                        "before uploading again."
                    )
                self._wait_for_previous_ingestion(wait_deadline)
                continue
            if response is not None and response.status_code not in RETRY_STATUSES:
                self._check(response)
            failures += 1
            if response is None or response.status_code != 429:
                # A dropped connection, a timeout or a 5xx may come after the service took the file.
                may_have_arrived = True
                adopted = self._find_new_ingestion(known_ids)
                if adopted is not None:
                    self.logger.warning(
                        "The upload arrived despite %s: following ingestion %s", reason, field(adopted, "Id")
                    )
                    return adopted
            if failures > int(settings["max_retries"]):
                error_type = NetworkError if response is None else ServiceError
                raise error_type(f"The upload failed {failures} times; last: {reason}")
            delay = _backoff_seconds(
                failures, response.headers.get("Retry-After") if response is not None else None
            )
            self.logger.warning("Upload attempt %d failed (%s); retrying in %.1f s", failures, reason, delay)
            time.sleep(delay)

    def _ingestion_ids(self) -> set[str] | None:
        """The ids known before the POST; None when they cannot be listed (then the POST goes ahead)."""
        try:
            ingestions = self.list_ingestions()
        except (NetworkError, ServiceError) as error:
            self.logger.warning("Cannot list the ingestions before the upload (%s)", error)
            return None
        return None if ingestions is None else {str(field(item, "Id")) for item in ingestions}

    def _find_new_ingestion(self, known_ids: set[str] | None) -> dict[str, Any] | None:
        if known_ids is None:
            return None
        try:
            ingestions = self.list_ingestions() or []
        except (NetworkError, ServiceError) as error:
            # Without an answer we cannot rule out that the first POST arrived: never POST again blindly.
            raise NetworkError(
                f"The upload's outcome is unknown and the ingestions cannot be listed ({error}); "
                "check `viva-insights status` or Import history before uploading again."
            ) from error
        new = [item for item in ingestions if str(field(item, "Id")) not in known_ids]
        return max(new, key=lambda item: str(field(item, "StartDate") or "")) if new else None

    def _wait_for_previous_ingestion(self, deadline: float) -> None:
        interval = float(self.settings["poll_interval_seconds"])
        if time.monotonic() + interval > deadline:
            raise PreviousIngestionPending(
                "Viva answered 'Previous ingestion is not complete': another ingestion of this tenant is "
                "still running. Wait until it ends (Viva Insights > Organizational data > Import history; an "
                "Insights admin can abandon a stuck one there), or set previous_ingestion_wait_minutes to "
                "keep retrying."
            )
        self.logger.info("A previous ingestion is still running; retrying the upload in %.0f s", interval)
        time.sleep(interval)

    def _post_package(self, package: Path) -> requests.Response:
        path = f"{self.connector_path}/ingestions/fileIngestion"
        with self._request_body(package) as body_factory:
            return self._send("POST", path, body_factory=body_factory)

    @contextmanager
    def _request_body(self, package: Path) -> Iterator[Callable[[], tuple[Any, dict[str, str]]]]:
        """Bodies streamed from disk: multipart field `info` for a zip, raw for a bare .csv/.json."""
        handles = []

        def body() -> tuple[Any, dict[str, str]]:
            handle = package.open("rb")
            handles.append(handle)
            content_type = RAW_CONTENT_TYPES.get(package.suffix.lower())
            if content_type is not None:
                return handle, {"Content-Type": content_type}
            encoder = MultipartEncoder(fields={"info": (package.name, handle)})
            progress = UploadProgress(package.name, encoder.len, self.logger)
            return MultipartEncoderMonitor(encoder, progress), {"Content-Type": encoder.content_type}

        try:
            self.logger.info("Uploading %s (%s bytes)", package.name, f"{package.stat().st_size:,}")
            yield body
        finally:
            for handle in handles:
                handle.close()

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
            raise AuthenticationFailed(
                f"The service answered HTTP {response.status_code} without an ingestion document "
                f"(a sign-in prompt means the token was not accepted): {_short_body(response)}"
            )
        return document

    def await_ingestion(
        self, ingestion: dict[str, Any], await_status: AwaitStatus, output_dir: Path
    ) -> dict[str, Any]:
        """Poll until `await_status` is reached; ValidationFailed downloads the error file and raises."""
        ingestion_id = str(field(ingestion, "Id"))
        started = time.monotonic()
        deadline = started + float(self.settings["await_timeout_minutes"]) * 60
        interval = float(self.settings["poll_interval_seconds"])
        status = str(field(ingestion, "Status"))
        self._log_status(ingestion_id, status, started)
        while not await_status.reached(phase_of(status)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise IngestionTimeout(
                    f"Ingestion {ingestion_id} is still {status} after "
                    f"{self.settings['await_timeout_minutes']} minutes. It goes on in Viva; follow it with "
                    f"`viva-insights status {ingestion_id}`.",
                    ingestion_id=ingestion_id,
                )
            time.sleep(min(interval, remaining))
            try:
                ingestion = self.ingestion(ingestion_id)
            except (NetworkError, ServiceError) as error:
                # Processing takes hours: an outage longer than the retries must not end the wait.
                self.logger.warning(
                    "Status of ingestion %s unavailable (%s); polling on", ingestion_id, error
                )
                continue
            new_status = str(field(ingestion, "Status"))
            if new_status != status:
                status = new_status
                self._log_status(ingestion_id, status, started)
        return self._outcome(ingestion, output_dir)

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

    def _outcome(self, ingestion: dict[str, Any], output_dir: Path) -> dict[str, Any]:
        ingestion_id = str(field(ingestion, "Id"))
        status = str(field(ingestion, "Status"))
        phase = phase_of(status)
        if phase is Phase.VALIDATION_FAILED:
            error_file = self.download_errors(ingestion_id, output_dir)
            raise DataValidationFailed(
                f"Viva rejected the data of ingestion {ingestion_id} (ValidationFailed); "
                f"errors saved to {error_file}",
                error_file=error_file,
                ingestion_id=ingestion_id,
            )
        if phase is Phase.FAILED:
            detail = field(ingestion, "ErrorDetail")
            raise IngestionFailed(
                f"Ingestion {ingestion_id} ended as {status}: {detail or 'no detail given'}"
            )
        return ingestion

    def download_errors(self, ingestion_id: str, output_dir: Path, target: Path | None = None) -> Path:
        """Save the ingestion's error stream (raw bytes, streamed) and log its first lines."""
        response = self._get_first_answering("errors", self._error_paths(ingestion_id), stream=True)
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if target is None:
            output_dir.mkdir(parents=True, exist_ok=True)
            target = output_dir / f"errors-{ingestion_id}{ERROR_FILE_SUFFIXES.get(content_type, '.txt')}"
        with target.open("wb") as handle:
            for chunk in response.iter_content(_CHUNK):
                handle.write(chunk)
        self.logger.error("Viva's error file for ingestion %s: %s", ingestion_id, target)
        for line in _first_lines(target, ERROR_LINES_LOGGED):
            self.logger.error("  %s", line)
        return target


def _first_lines(path: Path, count: int) -> list[str]:
    lines = []
    with path.open("rb") as handle:
        for raw in handle:
            lines.append(raw.decode("utf-8", errors="replace").rstrip("\r\n"))
            if len(lines) == count:
                break
    return lines


def deliver_package(
    config: Mapping[str, Any], package: Path, output_dir: Path, logger: logging.Logger
) -> dict[str, Any]:
    """Upload a validated package and follow it to `await_status`; return the last ingestion JSON.

    Raises a `VivaError` subclass (see errors.py) on any failure; ValidationFailed leaves the error file
    in `output_dir` as errors-<ingestion id>.<ext>.
    """
    with IngressApi(config, logger) as api:
        api.scale_unit()
        api.ping()
        ingestion = api.upload(package)
        final = api.await_ingestion(ingestion, api.settings["await_status"], output_dir)
    logger.info(
        "Ingestion %s: %s (await_status %s reached)",
        field(final, "Id"),
        field(final, "Status"),
        api.settings["await_status"].value,
    )
    return final
