"""What each emulated tenant holds in Organizational data in Microsoft 365 (MODIS), kept the way the
admin center's pages describe it.

An upload is a CSV with one header row and one row per person, known by Microsoft_PersonEmail (compared
without case). It merges into what the tenant holds: a blank cell keeps the held value, `''` deletes it,
`-1` deletes Microsoft_Layer, and a row whose every other attribute carries its delete token deletes the
person. Before merging, the service's documented gates run: every row needs a valid Microsoft_PersonEmail,
and when the file carries Microsoft_ManagerEmail or Microsoft_Organization, at least 95% of its people
need a value for it (the emulator counts the tenant's people after the merge); otherwise the
ingestion fails and nothing changes.

Microsoft documents no status or listing endpoint for these ingestions, so the emulator offers none: it
processes an upload at once and shows the outcome, with what the tenant holds per person, only on its
control API (`GET /_emulator/modis`), as the admin center shows it to an admin. Held data lives in
DATA_DIR/modis/<tenant>.json (0600).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import threading
import uuid
from pathlib import Path
from typing import Any

from target_viva_insights import rules
from target_viva_insights.emulator.org_data import OrgDataError, _safe_tenant
from target_viva_insights.private_files import private_file

PERSON_EMAIL = "Microsoft_PersonEmail"
LAYER = "Microsoft_Layer"
COVERAGE_ATTRIBUTES = ("Microsoft_ManagerEmail", "Microsoft_Organization")
MIN_COVERAGE_PERCENT = 95.0
DELETE_TOKEN = "''"  # noqa: S105 - a cell value, not a secret
LAYER_DELETE_TOKEN = "-1"  # noqa: S105 - a cell value, not a secret
NOT_STARTED = "NotStarted"
COMPLETED = "Completed"
FAILED = "Failed"
_EMAIL = re.compile(rules.EMAIL_PATTERN)


@dataclasses.dataclass
class ModisIngestion:
    """One upload as the admin center would list it."""

    id: str
    tenant_id: str
    status: str
    reason: str = ""
    rows: int = 0
    people_updated: int = 0
    people_deleted: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "Id": self.id,
            "Status": self.status,
            "Reason": self.reason,
            "Rows": self.rows,
            "PeopleUpdated": self.people_updated,
            "PeopleDeleted": self.people_deleted,
        }


class ModisUploadError(ValueError):
    """The file cannot be read as a MODIS upload, or fails one of the service's gates."""


class ModisStore:
    """Per tenant: person (lowercased address) -> attribute -> value, and the ingestions so far."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        self._ingestions: list[ModisIngestion] = []
        self._lock = threading.Lock()

    def ingest(self, tenant_id: str, body: bytes) -> ModisIngestion:
        """Apply one upload (all or nothing); a refused file is a Failed ingestion with its reason."""
        ingestion = ModisIngestion(str(uuid.uuid4()), tenant_id, NOT_STARTED)
        with self._lock:
            self._ingestions.append(ingestion)
            try:
                header, rows = _read_csv(body)
                ingestion.rows = len(rows)
                _check_addresses(rows)
                held = self.people(tenant_id)
                ingestion.people_updated, ingestion.people_deleted = _merge(held, header, rows)
                _check_coverage(header, held)
                self._write(tenant_id, held)
            except ModisUploadError as refusal:
                ingestion.status, ingestion.reason = FAILED, str(refusal)
            else:
                ingestion.status = COMPLETED
        return ingestion

    def people(self, tenant_id: str) -> dict[str, dict[str, str]]:
        """Person (lowercased address) -> attribute -> value; raises ModisUploadError for a bad tenant id."""
        path = self._path(tenant_id)
        if not path.exists():
            return {}
        held: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
        return held

    def ingestions(self, tenant_id: str) -> list[ModisIngestion]:
        with self._lock:
            return [item for item in self._ingestions if item.tenant_id == tenant_id]

    def report(self, tenant_id: str) -> dict[str, Any]:
        """What the tenant holds per person, and its ingestions, oldest first."""
        people = self.people(tenant_id)
        return {
            "tenant_id": tenant_id,
            "people": people,
            "person_count": len(people),
            "ingestions": [item.as_json() for item in self.ingestions(tenant_id)],
        }

    def clear(self) -> None:
        with self._lock:
            self._ingestions.clear()
            for path in self.folder.glob("*.json"):
                path.unlink()

    def _path(self, tenant_id: str) -> Path:
        try:
            return self.folder / f"{_safe_tenant(tenant_id)}.json"
        except OrgDataError as error:
            raise ModisUploadError(str(error)) from error

    def _write(self, tenant_id: str, held: dict[str, dict[str, str]]) -> None:
        path = self._path(tenant_id)
        partial = path.with_suffix(".partial")
        with private_file(partial) as handle:
            json.dump(held, handle, sort_keys=True)
        partial.replace(path)


def _read_csv(body: bytes) -> tuple[list[str], list[dict[str, str]]]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ModisUploadError(f"the file is not UTF-8 ({error})") from error
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    if PERSON_EMAIL not in header:
        raise ModisUploadError(f"the file has no {PERSON_EMAIL} column")
    rows = []
    for number, values in enumerate(reader, start=2):
        if len(values) != len(header):
            raise ModisUploadError(f"row {number} has {len(values)} values for {len(header)} columns")
        rows.append(dict(zip(header, values, strict=True)))
    return header, rows


def _check_addresses(rows: list[dict[str, str]]) -> None:
    bad = [number for number, row in enumerate(rows, start=2) if not _EMAIL.match(row[PERSON_EMAIL].strip())]
    if bad:
        raise ModisUploadError(
            f"{PERSON_EMAIL} must be a valid address on 100% of rows; {len(bad)} rows are not "
            f"(first: row {bad[0]})"
        )


def _check_coverage(header: list[str], held: dict[str, dict[str, str]]) -> None:
    """ "At least 95% of your users": the tenant's people once the upload is merged (the emulator's
    reading; a small incremental file is judged with the people it does not name)."""
    for attribute in COVERAGE_ATTRIBUTES:
        if attribute not in header or not held:
            continue
        carried = sum(1 for record in held.values() if record.get(attribute))
        percent = 100.0 * carried / len(held)
        if percent < MIN_COVERAGE_PERCENT:
            raise ModisUploadError(
                f"{attribute} is set for {percent:.1f}% of the people; at least "
                f"{MIN_COVERAGE_PERCENT:g}% is required"
            )


def _merge(held: dict[str, dict[str, str]], header: list[str], rows: list[dict[str, str]]) -> tuple[int, int]:
    """Merge the rows into `held`; returns (people updated or added, people deleted)."""
    attributes = [name for name in header if name != PERSON_EMAIL]
    updated = deleted = 0
    for row in rows:
        person = row[PERSON_EMAIL].strip().lower()
        tokens = [row[name] == (LAYER_DELETE_TOKEN if name == LAYER else DELETE_TOKEN) for name in attributes]
        if attributes and all(tokens):
            deleted += held.pop(person, None) is not None
            continue
        record = held.setdefault(person, {PERSON_EMAIL: row[PERSON_EMAIL].strip()})
        for name, is_delete in zip(attributes, tokens, strict=True):
            value = row[name]
            if is_delete:
                record.pop(name, None)
            elif value.strip():
                record[name] = value
        updated += 1
    return updated, deleted
