"""The HTTP layer of the Viva client: TLS trust, retry policy, backoff, upload bodies streamed from disk.

Trust: TLS is verified against the system's certificate authorities plus the PEM file `ca_bundle` (a
corporate proxy, the local emulator); `ca_bundle` adds trust, it never replaces it, and verification is
never switched off.

Retries: reads (GET) and the identity service's requests are retried by urllib3 after connection errors,
HTTP 429 and 5xx, with exponential backoff and jitter, honouring Retry-After (capped). Uploads get no
urllib3 retry at all: urllib3 would re-send a half-consumed body, and whether a failed upload may be sent
again is the client's decision (client.py), taken only when it is proven that the first did not arrive.
"""

from __future__ import annotations

import email.utils
import logging
import random
import ssl
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import requests
from requests.adapters import HTTPAdapter
from requests_toolbelt.multipart.encoder import MultipartEncoder, MultipartEncoderMonitor
from urllib3.exceptions import NewConnectionError
from urllib3.util.retry import Retry

from target_viva_insights.errors import ConfigurationError

USER_AGENT = "target-viva-insights"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Backoff before retry n (n >= 2) is BACKOFF_FACTOR * 2**(n-1) seconds plus jitter, capped; a Retry-After
# longer than the cap is shortened to it, so one answer cannot park a run for an hour.
BACKOFF_FACTOR = 0.5
BACKOFF_MAX_SECONDS = 60.0
PROGRESS_STEP_PERCENT = 10
# Bare .csv and .json files go as the raw body (as Microsoft's upload tools send them); anything else,
# the zip package above all, as a multipart body with one part named `info`.
RAW_CONTENT_TYPES = {".csv": "text/csv", ".json": "application/json"}


class _CappedRetry(Retry):
    """urllib3's Retry, with Retry-After capped at BACKOFF_MAX_SECONDS."""

    def get_retry_after(self, response: Any) -> float | None:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, BACKOFF_MAX_SECONDS)


def retry_policy(max_retries: int, methods: frozenset[str]) -> Retry:
    """Retries of `methods` after connection errors, 5xx and 429 (honouring Retry-After), with jitter.

    Args:
        max_retries: Retries after the first attempt.
        methods: The HTTP methods that may be retried.

    Returns:
        The urllib3 retry policy.
    """
    return _CappedRetry(
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
# would re-send a half-consumed upload body: uploads get no urllib3 retries at all.
NO_RETRIES = Retry(total=0, status_forcelist=(), raise_on_status=False)


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


def trusting_session(ca_bundle: str | None, retries: Retry) -> requests.Session:
    """A session verifying TLS against the system CAs plus `ca_bundle`, retrying as `retries` says.

    Args:
        ca_bundle: A PEM file of extra certificate authorities, or None.
        retries: The urllib3 retry policy of the session.

    Returns:
        The session; only https:// URLs are mounted with this trust.

    Raises:
        ConfigurationError: `ca_bundle` cannot be read or holds no certificate.
    """
    context = ssl.create_default_context(cafile=requests.certs.where())
    if ca_bundle:
        try:
            context.load_verify_locations(cafile=str(Path(ca_bundle).expanduser()))
        except (OSError, ssl.SSLError) as error:
            raise ConfigurationError(f"Cannot load ca_bundle {ca_bundle}: {error}") from error
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.mount("https://", _TrustAdapter(context, retries))
    return session


class Sessions:
    """The client's three sessions: reads (retried), uploads (never retried here), the identity service.

    It also remembers what the last answers said that the client needs later: the service's clock (the
    Date header of its last answer) and the HTTP status of the identity service's last answer.
    """

    def __init__(self, ca_bundle: str | None, max_retries: int) -> None:
        self.reads = trusting_session(ca_bundle, retry_policy(max_retries, frozenset({"GET"})))
        self.uploads = trusting_session(ca_bundle, NO_RETRIES)
        # MSAL posts to the token endpoint; a token request can be repeated without harm.
        self.identity = trusting_session(ca_bundle, retry_policy(max_retries, frozenset({"GET", "POST"})))
        self.service_clock: datetime | None = None
        self.identity_status: int | None = None
        for session in (self.reads, self.uploads):
            session.hooks["response"].append(self._note_service_clock)
        self.identity.hooks["response"].append(self._note_identity_status)

    def _note_service_clock(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        moment = parse_http_date(response.headers.get("Date"))
        if moment is not None:
            self.service_clock = moment

    def _note_identity_status(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.identity_status = response.status_code

    def close(self) -> None:
        for session in (self.reads, self.uploads, self.identity):
            session.close()


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP Date header as an aware datetime (whole seconds), or None when absent or malformed."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def backoff_seconds(attempt: int, retry_after: str | None = None) -> float:
    """Seconds to wait before retry `attempt` (1-based): Retry-After when given, else exponential + jitter."""
    if retry_after and retry_after.strip().isdigit():
        return min(float(retry_after), BACKOFF_MAX_SECONDS)
    return min(BACKOFF_MAX_SECONDS, BACKOFF_FACTOR * 2**attempt) * random.uniform(0.5, 1.5)  # noqa: S311


def short_body(response: requests.Response) -> str:
    """The start of a response body on one line, for error messages."""
    text = response.text.strip().replace("\n", " ")
    return text[:300] if text else "(empty body)"


def never_connected(error: requests.RequestException) -> bool:
    """Whether a request failed before a connection to the service was open.

    True for a refused connection, a failed name lookup and a connect timeout: then the request provably
    did not arrive. (A failed TLS handshake sends no body either; `UploadBody.whole_body_read` tells.)
    """
    if isinstance(error, requests.ConnectTimeout):
        return True
    if isinstance(error, requests.ConnectionError):
        reason = getattr(error.args[0], "reason", None) if error.args else None
        return isinstance(reason, NewConnectionError)
    return False


class UploadProgress:
    """Logs the bytes sent and the percentage every PROGRESS_STEP_PERCENT."""

    def __init__(self, name: str, total: int, logger: logging.Logger) -> None:
        self._name = name
        self._total = max(total, 1)
        self._logger = logger
        self._next_percent = PROGRESS_STEP_PERCENT
        self._started = time.monotonic()

    def __call__(self, bytes_read: int) -> None:
        percent = 100 * bytes_read / self._total
        if percent >= self._next_percent:
            elapsed = max(time.monotonic() - self._started, 1e-6)
            self._logger.info(
                "Uploading %s: %s of %s bytes (%d%%, %.1f MB/s)",
                self._name,
                f"{bytes_read:,}",
                f"{self._total:,}",
                int(percent),
                bytes_read / elapsed / 1e6,
            )
            while self._next_percent <= percent:
                self._next_percent += PROGRESS_STEP_PERCENT


class _CountingReader:
    """A raw body read from a file, counting the bytes handed to the connection."""

    def __init__(self, handle: IO[bytes], size: int, progress: UploadProgress) -> None:
        self._handle = handle
        self._progress = progress
        self.len = size  # requests takes the Content-Length from `len`
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._handle.read(size)
        self.bytes_read += len(chunk)
        self._progress(self.bytes_read)
        return chunk


class UploadBody:
    """One attempt's request body, streamed from the package on disk (memory stays flat at any size).

    `whole_body_read` tells afterwards whether every byte was handed to the connection: when it was not,
    the service cannot have received the file, whatever went wrong.
    """

    def __init__(self, package: Path, logger: logging.Logger) -> None:
        self._handle = package.open("rb")
        content_type = RAW_CONTENT_TYPES.get(package.suffix.lower())
        self.data: _CountingReader | MultipartEncoderMonitor
        if content_type is not None:
            size = package.stat().st_size
            self.data = _CountingReader(self._handle, size, UploadProgress(package.name, size, logger))
            self.headers: Mapping[str, str] = {"Content-Type": content_type}
        else:
            encoder = MultipartEncoder(fields={"info": (package.name, self._handle)})
            progress = UploadProgress(package.name, encoder.len, logger)
            self.data = MultipartEncoderMonitor(encoder, lambda monitor: progress(monitor.bytes_read))
            self.headers = {"Content-Type": encoder.content_type}

    @property
    def bytes_read(self) -> int:
        return int(self.data.bytes_read)

    @property
    def length(self) -> int:
        return int(self.data.len)

    @property
    def whole_body_read(self) -> bool:
        return self.bytes_read >= self.length

    def close(self) -> None:
        self._handle.close()
