"""The emulator holds org data like Viva: a bootstrap replaces, an incremental upserts by
(PersonId, EffectiveDate); the control endpoint, `EmulatorHandle.org_data()` and
`viva-insights emulator --show-org-data / --export-org-data` report it."""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests
from target_viva_insights.emulator.process import EmulatorHandle, running_emulator
from target_viva_insights.errors import DataValidationFailed
from target_viva_insights.settings import settings_with_defaults
from target_viva_insights.upload.client import deliver_package

HEADER = ["PersonId", "ManagerId", "Organization", "EffectiveDate"]
TYPES = {
    "PersonId": "EmailType",
    "ManagerId": "EmailType",
    "Organization": "StringType",
    "EffectiveDate": "DateTime_MMDDYYYY",
    "FunctionType": "StringType",
}
JANUARY = [
    ["ceo@contoso.com", "", "Executive", "01/01/2026"],
    ["ana@contoso.com", "ceo@contoso.com", "Sales", "01/01/2026"],
    ["ben@contoso.com", "ceo@contoso.com", "Engineering", "01/01/2026"],
    ["cat@contoso.com", "ben@contoso.com", "Engineering", "01/01/2026"],
]
logger = logging.getLogger("tests.emulator.org_data")


def package(path: Path, rows: list[list[str]], *, bootstrap: bool, header: list[str] = HEADER) -> Path:
    """A hand-built package; `header` may name columns differently, the Mapping gives the Viva name."""
    names = HEADER if len(header) == len(HEADER) else header
    mapping = {
        written: {"name": name, "type": TYPES[name]} for written, name in zip(header, names, strict=True)
    }
    lines = [",".join(header), *(",".join(row) for row in rows)]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.csv", "\n".join(lines) + "\n")
        archive.writestr(
            "metadata.json",
            json.dumps({"DatasetType": "HR", "IsBootstrap": str(bootstrap).lower(), "Mapping": mapping}),
        )
    return path


def upload(emulator: EmulatorHandle, path: Path, tmp_path: Path) -> dict:
    return deliver_package(settings_with_defaults(emulator.config()), path, tmp_path / "out", logger)


def record(row: list[str]) -> dict[str, str]:
    return dict(zip(HEADER, row, strict=True))


def expected_row_digest(row: dict[str, str]) -> str:
    text = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def assert_holds(emulator: EmulatorHandle, rows: list[list[str]]) -> dict:
    """The tenant holds exactly `rows`, with digests computed here independently."""
    held = emulator.org_data()
    expected = sorted((record(row) for row in rows), key=lambda r: (r["PersonId"], r["EffectiveDate"]))
    assert held["tenant_id"] == emulator.tenant_id
    assert held["records"] == expected
    assert held["rows"] == len(rows)
    assert held["people"] == len({row[0] for row in rows})
    digests = {f"{r['PersonId']}|{r['EffectiveDate']}": expected_row_digest(r) for r in expected}
    assert held["row_digests"] == digests
    whole = hashlib.sha256(
        "".join(f"{key}\t{digests[key]}\n" for key in sorted(digests)).encode()
    ).hexdigest()
    assert held["digest"] == whole
    return held


@pytest.fixture
def empty_tenant(emulator: EmulatorHandle) -> EmulatorHandle:
    emulator.reset(org_data=True)
    return emulator


def test_a_fresh_tenant_holds_nothing(empty_tenant):
    held = assert_holds(empty_tenant, [])
    assert held["digest"] == hashlib.sha256(b"").hexdigest()


def test_bootstrap_then_incremental_then_bootstrap(empty_tenant, tmp_path):
    emulator = empty_tenant
    final = upload(emulator, package(tmp_path / "jan.zip", JANUARY, bootstrap=True), tmp_path)
    assert final["Status"] == "Completed"
    january = assert_holds(emulator, JANUARY)

    # An incremental: ana moves (same key, new values), ana's February row and a new hire are added;
    # the CEO's row is sent again unchanged (our pre-flight wants every manager in the file).
    changes = [
        JANUARY[0],
        ["ana@contoso.com", "ceo@contoso.com", "Marketing", "01/01/2026"],
        ["ana@contoso.com", "ceo@contoso.com", "Marketing", "02/01/2026"],
        ["dan@contoso.com", "ana@contoso.com", "Marketing", "02/01/2026"],
    ]
    upload(emulator, package(tmp_path / "feb.zip", changes, bootstrap=False), tmp_path)
    after = assert_holds(emulator, [JANUARY[0], changes[1], JANUARY[2], JANUARY[3], *changes[2:]])
    unchanged = ("ceo@contoso.com|01/01/2026", "ben@contoso.com|01/01/2026", "cat@contoso.com|01/01/2026")
    for key in unchanged:
        assert after["row_digests"][key] == january["row_digests"][key]
    assert (
        after["row_digests"]["ana@contoso.com|01/01/2026"]
        != january["row_digests"]["ana@contoso.com|01/01/2026"]
    )

    # A bootstrap replaces everything: nobody from before is kept unless the file has them.
    march = [
        ["ceo@contoso.com", "", "Executive", "03/01/2026"],
        ["eve@contoso.com", "ceo@contoso.com", "Sales", "03/01/2026"],
    ]
    upload(emulator, package(tmp_path / "mar.zip", march, bootstrap=True), tmp_path)
    assert_holds(emulator, march)


def test_an_incremental_of_rows_already_held_changes_nothing(empty_tenant, tmp_path):
    upload(empty_tenant, package(tmp_path / "jan.zip", JANUARY, bootstrap=True), tmp_path)
    before = empty_tenant.org_data()
    upload(empty_tenant, package(tmp_path / "again.zip", JANUARY, bootstrap=False), tmp_path)
    assert empty_tenant.org_data() == before


def test_columns_are_held_under_their_viva_names(empty_tenant, tmp_path):
    header = ["Email", "Boss", "Org", "AsOf"]
    upload(empty_tenant, package(tmp_path / "named.zip", JANUARY, bootstrap=True, header=header), tmp_path)
    assert_holds(empty_tenant, JANUARY)


def test_an_incremental_may_bring_a_new_column(empty_tenant, tmp_path):
    upload(empty_tenant, package(tmp_path / "jan.zip", JANUARY, bootstrap=True), tmp_path)
    header = [*HEADER, "FunctionType"]
    february = [[*JANUARY[0][:3], "02/01/2026", "Management"], [*JANUARY[1][:3], "02/01/2026", "Sales"]]
    upload(empty_tenant, package(tmp_path / "feb.zip", february, bootstrap=False, header=header), tmp_path)
    held = empty_tenant.org_data()
    assert held["columns"] == header
    assert held["rows"] == len(JANUARY) + len(february)
    assert held["people"] == len(JANUARY)
    assert dict(zip(header, february[1], strict=True)) in held["records"]
    assert record(JANUARY[1]) in held["records"]  # the January row has no FunctionType


def test_a_failed_ingestion_leaves_the_org_data_as_it_was(empty_tenant, tmp_path):
    upload(empty_tenant, package(tmp_path / "jan.zip", JANUARY, bootstrap=True), tmp_path)
    before = empty_tenant.org_data()
    empty_tenant.set_faults(reject=True)
    with pytest.raises(DataValidationFailed):
        upload(empty_tenant, package(tmp_path / "other.zip", JANUARY[:1], bootstrap=True), tmp_path)
    assert empty_tenant.org_data() == before


def test_an_abandoned_ingestion_leaves_the_org_data_as_it_was(empty_tenant, tmp_path):
    upload(empty_tenant, package(tmp_path / "jan.zip", JANUARY, bootstrap=True), tmp_path)
    before = empty_tenant.org_data()
    empty_tenant.set_faults(stuck=True)
    settings = empty_tenant.config(await_status="none")
    stuck = deliver_package(
        settings_with_defaults(settings),
        package(tmp_path / "x.zip", JANUARY[:1], bootstrap=True),
        tmp_path,
        logger,
    )
    assert empty_tenant.abandon(stuck["Id"])["Status"] == "Abandoned"
    assert empty_tenant.org_data() == before


def test_reset_keeps_org_data_unless_asked(empty_tenant, tmp_path):
    upload(empty_tenant, package(tmp_path / "jan.zip", JANUARY, bootstrap=True), tmp_path)
    empty_tenant.reset()
    assert empty_tenant.org_data()["rows"] == len(JANUARY)
    empty_tenant.reset(org_data=True)
    assert empty_tenant.org_data()["rows"] == 0


def test_the_summary_can_leave_rows_and_digests_out(empty_tenant, tmp_path):
    upload(empty_tenant, package(tmp_path / "jan.zip", JANUARY, bootstrap=True), tmp_path)
    full = empty_tenant.org_data()
    summary = empty_tenant.org_data(records=False, row_digests=False)
    assert summary["records"] == [] and summary["row_digests"] == {}
    assert (summary["rows"], summary["people"], summary["digest"]) == (
        full["rows"],
        full["people"],
        full["digest"],
    )


def test_an_unusable_tenant_id_is_refused(emulator):
    response = requests.get(
        f"{emulator.control_url}/org-data",
        params={"tenant": "../../etc"},
        verify=str(emulator.ca_bundle),
        timeout=30,
    )
    assert response.status_code == 400
    assert "not a tenant id" in response.json()["error"]["message"]


def test_another_tenant_holds_nothing(empty_tenant, tmp_path):
    upload(empty_tenant, package(tmp_path / "jan.zip", JANUARY, bootstrap=True), tmp_path)
    other = empty_tenant.org_data("11111111-2222-4333-8444-555555555555")
    assert (other["rows"], other["people"], other["records"]) == (0, 0, [])


def test_tenants_of_a_multi_tenant_app_are_kept_apart(tmp_path):
    first, second = "6f1c2a7e-0000-4000-8000-0000000000a1", "6f1c2a7e-0000-4000-8000-0000000000b2"
    with running_emulator(
        tmp_path / "emulator",
        tenant_id=first,
        extra_tenants=[second],
        client_id="0b4d9c3e-0000-4000-8000-0000000000c1",
        client_secret="two-tenants-secret",
        step_seconds=0.2,
    ) as emulator:
        upload(emulator, package(tmp_path / "jan.zip", JANUARY, bootstrap=True), tmp_path)
        settings = emulator.config(tenant_id=second)
        deliver_package(
            settings_with_defaults(settings),
            package(tmp_path / "b.zip", JANUARY[:1], bootstrap=True),
            tmp_path,
            logger,
        )
        assert_holds(emulator, JANUARY)
        held = emulator.org_data(second)
        assert (held["tenant_id"], held["records"]) == (second, [record(JANUARY[0])])
        tenants = {item["TenantId"] for item in emulator.state()["ingestions"]}
        assert tenants == {first, second}


def test_held_files_are_private_and_the_command_reports_them(empty_tenant, tmp_path):
    upload(empty_tenant, package(tmp_path / "jan.zip", JANUARY, bootstrap=True), tmp_path)
    held_files = list((empty_tenant.data_dir / "org-data").glob("*.parquet"))
    assert held_files
    for path in held_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((empty_tenant.data_dir / "org-data").stat().st_mode) == 0o700

    export = tmp_path / "held.csv"
    command = [
        sys.executable, "-m", "target_viva_insights.cli", "emulator",
        "--data-dir", str(empty_tenant.data_dir), "--tenant-id", empty_tenant.tenant_id,
    ]  # fmt: skip
    shown = subprocess.run(
        [*command, "--show-org-data"], capture_output=True, text=True, timeout=60, check=True
    )
    summary = json.loads(shown.stdout)
    assert summary == {
        key: value for key, value in empty_tenant.org_data().items() if key not in ("records", "row_digests")
    }
    exported = subprocess.run(
        [*command, "--export-org-data", str(export)], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(exported.stdout)["exported_to"] == str(export)
    assert stat.S_IMODE(export.stat().st_mode) == 0o600
    with export.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == HEADER
    assert sorted(rows[1:]) == sorted(JANUARY)


def test_the_command_names_a_folder_without_org_data(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "target_viva_insights.cli",
            "emulator",
            "--data-dir",
            str(tmp_path),
            "--show-org-data",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert str(tmp_path) in result.stderr and "no emulator org data" in result.stderr
