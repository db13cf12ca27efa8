"""Start the emulator as a real process (tests, the demo) and talk to its control API."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from target_viva_insights.emulator.options import EmulatorOptions

STARTUP_TIMEOUT_SECONDS = 60


class EmulatorStartError(RuntimeError):
    """The emulator process exited or did not print `ready` in time (its log's tail in the message)."""


@dataclasses.dataclass
class EmulatorHandle:
    """A running emulator: its URLs, CA file and data dir, and helpers for its control API."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    authority_host: str
    api_base_url: str
    ca_bundle: Path
    control_url: str
    tenant_id: str
    client_id: str
    scale_unit: str
    client_secret: str | None = None
    log_file: Path | None = None

    def config(self, **overrides: Any) -> dict[str, Any]:
        """Target settings that point at this emulator (short polls).

        Args:
            **overrides: Settings to add or replace, e.g. `output_dir`, `await_status`.

        Returns:
            A config dict for the target or `viva-insights --config`.
        """
        settings: dict[str, Any] = {
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "authority_host": self.authority_host,
            "api_base_url": self.api_base_url,
            "ca_bundle": str(self.ca_bundle),
            "poll_interval_seconds": 0.2,
            "await_timeout_minutes": 2,
        }
        if self.client_secret is not None:
            settings["client_secret"] = self.client_secret
        settings.update(overrides)
        return settings

    def _control(
        self,
        method: str,
        path: str,
        document: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        response = requests.request(
            method,
            f"{self.control_url}/{path}",
            json=document,
            params=params,
            verify=str(self.ca_bundle),
            timeout=120,
        )
        response.raise_for_status()
        return response.json()

    def state(self) -> dict[str, Any]:
        """Ingestions (with the kept upload's path and size), tokens issued, current faults."""
        return self._control("GET", "state")

    def set_faults(self, **document: Any) -> dict[str, Any]:
        """Change the emulator's behaviour; behaviours left out keep their value (see faults.py).

        Example: `set_faults(rules=[{"action": "error", "endpoint": "upload"}], stuck=True)`.

        Returns:
            The behaviour now in force.
        """
        return self._control("POST", "faults", document)

    def reset(self, *, org_data: bool = False, ingestions: bool = False) -> dict[str, Any]:
        """Start-up behaviour again, unfinished ingestions abandoned.

        Args:
            org_data: Also forget every tenant's org data (kept by default, so tests can chain runs).
            ingestions: Also forget the ingestions: the service lists none (a tenant without history).

        Returns:
            The behaviour now in force (as `state()["faults"]`).
        """
        document = {"org_data": org_data, "ingestions": ingestions}
        return self._control("POST", "reset", document if org_data or ingestions else None)

    def modis(self, tenant_id: str | None = None) -> dict[str, Any]:
        """What the emulated tenant holds in MODIS per person (`people`), and its MODIS `ingestions`."""
        return self._control("GET", "modis", params={"tenant": tenant_id} if tenant_id else None)

    def org_data(
        self, tenant_id: str | None = None, *, records: bool = True, row_digests: bool = True
    ) -> dict[str, Any]:
        """What the emulated tenant holds, as Viva would after the completed ingestions.

        Args:
            tenant_id: The tenant (default: the emulator's registered tenant).
            records: Include the held rows.
            row_digests: Include each row's digest by key.

        Returns:
            A plain dict: {"tenant_id", "rows", "people", "columns", "digest", "row_digests":
            {"<PersonId>|<EffectiveDate as written>": "<sha256 hex>"}, "records": [{column: value}, ...]}.
            A row digest is the SHA-256 of the row as compact JSON with sorted keys (columns without a
            value left out); `digest` is the SHA-256 of every "key<TAB>row digest<LF>" line in key order.
        """
        params = {
            "tenant": tenant_id or self.tenant_id,
            "records": str(records).lower(),
            "row_digests": str(row_digests).lower(),
        }
        return self._control("GET", "org-data", params=params)

    def abandon(self, ingestion_id: str) -> dict[str, Any]:
        """Abandon an unfinished ingestion, as an admin does in Import history; its JSON afterwards."""
        return self._control("POST", f"ingestions/{ingestion_id}/abandon")

    def stop(self) -> None:
        """Terminate the emulator process (killed after 10 s)."""
        _stop(self.process)


def emulator_command(options: EmulatorOptions, extra_args: Sequence[str] = ()) -> list[str]:
    """The command that runs `viva-insights emulator` with `options` in this Python.

    Args:
        options: The emulator's options; those left at their default are left out of the command.
        extra_args: More `viva-insights emulator` arguments, appended as given.

    Returns:
        The argument list for `subprocess.Popen`.
    """
    module = [sys.executable, "-m", "target_viva_insights.cli", "emulator"]
    return [*module, *options.command_line(), *extra_args]


@contextmanager
def running_emulator(
    data_dir: Path, *, extra_args: Sequence[str] = (), **options: Any
) -> Iterator[EmulatorHandle]:
    """Launch `viva-insights emulator --port 0` in `data_dir`, wait for its URLs, stop it on exit.

    Its stdout goes to DATA_DIR/emulator.out (the `name: value` lines) and its log to
    DATA_DIR/emulator.log.

    Args:
        data_dir: The emulator's folder (CA file, kept uploads, error files, org data).
        extra_args: More `viva-insights emulator` arguments, appended as given.
        **options: Any other `EmulatorOptions` field, e.g. `tenant_id`, `client_secret`,
            `step_seconds=0.3`, `refuse_tokens=["StringType"]`.

    Yields:
        The handle of the running emulator.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = EmulatorOptions(data_dir=data_dir, **options)
    out_file, log_file = data_dir / "emulator.out", data_dir / "emulator.log"
    with out_file.open("wb") as out, log_file.open("wb") as log:
        process = subprocess.Popen(
            emulator_command(settings, extra_args), stdout=out, stderr=log, stdin=subprocess.DEVNULL
        )
    try:
        values = _wait_until_ready(process, out_file, log_file)
        handle = EmulatorHandle(
            process=process,
            data_dir=Path(values["data_dir"]),
            authority_host=values["authority_host"],
            api_base_url=values["api_base_url"],
            ca_bundle=Path(values["ca_bundle"]),
            control_url=values["control_url"],
            tenant_id=values["tenant_id"],
            client_id=values["client_id"],
            scale_unit=values["scale_unit"],
            client_secret=settings.client_secret,
            log_file=log_file,
        )
        yield handle
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(process: subprocess.Popen[bytes], out_file: Path, log_file: Path) -> dict[str, str]:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        lines = out_file.read_text(encoding="utf-8").splitlines()
        if "ready" in lines:
            return parse_startup_lines(lines)
        if process.poll() is not None:
            raise EmulatorStartError(
                f"The emulator exited with {process.returncode}: {log_file.read_text()[-2000:]}"
            )
        time.sleep(0.05)
    raise EmulatorStartError(f"The emulator did not start within {STARTUP_TIMEOUT_SECONDS} s")


def parse_startup_lines(lines: Sequence[str]) -> dict[str, str]:
    """`name: value` lines of the emulator's start-up output as a dict."""
    values = {}
    for line in lines:
        name, separator, value = line.partition(": ")
        if separator:
            values[name.strip()] = value.strip()
    return values
