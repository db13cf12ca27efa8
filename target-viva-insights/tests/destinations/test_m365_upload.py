"""The MODIS upload against the emulator over real HTTPS: one POST of the CSV, the tenant's merge
store, the service's gates, and at most one ingestion whatever fails around the POST."""

from __future__ import annotations

import datetime
import io
import json
import logging
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from target_viva_insights.destinations.m365.columns import plan_columns
from target_viva_insights.destinations.m365.delta import (
    AddressSealer,
    compute_delta,
    current_rows,
    empty_state,
    write_upload_csv,
)
from target_viva_insights.destinations.m365.upload import upload_csv
from target_viva_insights.emulator.process import EmulatorHandle
from target_viva_insights.errors import AuthenticationFailed, ConfigurationError, NetworkError
from target_viva_insights.ledger.digests import Digester
from target_viva_insights.rules import DateOrder, ValueKind
from target_viva_insights.settings import settings_with_defaults

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HEADER = "Microsoft_PersonEmail,Microsoft_ManagerEmail,Microsoft_Organization,Microsoft_Layer,Team\n"
DELETE = "''"
# A leader and 39 reports: 97.5% carry a manager, above the 95% the service's coverage gate needs.
ORG = ["a@x.com,,Sales,0,Red", *(f"p{n}@x.com,a@x.com,Sales,1,Blue" for n in range(1, 40))]


@pytest.fixture
def modis(emulator: EmulatorHandle) -> EmulatorHandle:
    emulator.reset(org_data=True)
    return emulator


def _csv(tmp_path: Path, rows: list[str], name: str = "upload.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def _held(emulator: EmulatorHandle) -> dict[str, dict[str, str]]:
    return emulator.modis()["people"]


def _ingestions(emulator: EmulatorHandle) -> list[dict[str, object]]:
    return emulator.modis()["ingestions"]


def test_one_post_of_the_csv_starts_one_ingestion_and_merges_into_the_store(
    modis: EmulatorHandle, tmp_path: Path, test_logger: logging.Logger
) -> None:
    answer = upload_csv(settings_with_defaults(modis.config()), _csv(tmp_path, ORG), test_logger)
    assert GUID.match(answer["Id"]) and answer["Status"] == "NotStarted" and answer["ConnectorId"]
    [ingestion] = _ingestions(modis)
    assert (ingestion["Id"], ingestion["Status"], ingestion["Rows"]) == (answer["Id"], "Completed", 40)
    assert _held(modis)["p1@x.com"] == {
        "Microsoft_PersonEmail": "p1@x.com",
        "Microsoft_ManagerEmail": "a@x.com",
        "Microsoft_Organization": "Sales",
        "Microsoft_Layer": "1",
        "Team": "Blue",
    }


def test_blank_keeps_the_delete_token_deletes_and_a_fully_deleted_row_removes_the_person(
    modis: EmulatorHandle, tmp_path: Path, test_logger: logging.Logger
) -> None:
    upload_csv(settings_with_defaults(modis.config()), _csv(tmp_path, ORG), test_logger)
    upload_csv(
        settings_with_defaults(modis.config()),
        _csv(tmp_path, ["p1@x.com,,,-1,''"], "second.csv"),
        test_logger,
    )
    assert _held(modis)["p1@x.com"] == {
        "Microsoft_PersonEmail": "p1@x.com",
        "Microsoft_ManagerEmail": "a@x.com",
        "Microsoft_Organization": "Sales",
    }
    upload_csv(
        settings_with_defaults(modis.config()),
        _csv(tmp_path, ["p1@x.com,'','',-1,''"], "third.csv"),
        test_logger,
    )
    assert "p1@x.com" not in _held(modis) and len(_held(modis)) == 39
    assert _ingestions(modis)[-1]["PeopleDeleted"] == 1


def test_the_coverage_and_address_gates_fail_the_ingestion_and_change_nothing(
    modis: EmulatorHandle, tmp_path: Path, test_logger: logging.Logger
) -> None:
    upload_csv(settings_with_defaults(modis.config()), _csv(tmp_path, ORG), test_logger)
    # p18 and p19 lose their manager: 38 of the 41 people would carry one.
    thin = [f"p{n}@x.com,{'a@x.com' if n < 18 else DELETE},Sales,1," for n in range(20)]
    upload_csv(settings_with_defaults(modis.config()), _csv(tmp_path, thin, "thin.csv"), test_logger)
    failed = _ingestions(modis)[-1]
    assert failed["Status"] == "Failed" and "Microsoft_ManagerEmail is set for 92.7%" in str(failed["Reason"])
    upload_csv(
        settings_with_defaults(modis.config()),
        _csv(tmp_path, ["not-an-address,a@x.com,Sales,0,"], "bad.csv"),
        test_logger,
    )
    assert _ingestions(modis)[-1]["Status"] == "Failed"
    assert "100% of rows" in str(_ingestions(modis)[-1]["Reason"])
    assert sorted(_held(modis)) == sorted(row.split(",")[0] for row in ORG)
    assert _held(modis)["p18@x.com"]["Microsoft_ManagerEmail"] == "a@x.com"


def test_modis_offers_no_status_or_listing_endpoint(
    modis: EmulatorHandle, tmp_path: Path, test_logger
) -> None:
    answer = upload_csv(
        settings_with_defaults(modis.config()), _csv(tmp_path, ["a@x.com,,Sales,0,"]), test_logger
    )
    base = f"{modis.api_base_url}/tenants/{modis.tenant_id}/modis/connectors/HR/ingestions"
    for path in (base, f"{base}/fileIngestion/{answer['Id']}", f"{base}/{answer['Id']}"):
        response = requests.get(path, verify=str(modis.ca_bundle), timeout=30)
        assert response.status_code in (404, 405), path


def test_the_body_must_be_text_csv(modis: EmulatorHandle, tmp_path: Path) -> None:
    token = requests.post(
        f"{modis.authority_host}/{modis.tenant_id}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": modis.client_id,
            "client_secret": modis.client_secret,
            "scope": "9d827643-d003-4cca-9dc8-71213a8f1644/.default",
        },
        verify=str(modis.ca_bundle),
        timeout=30,
    ).json()["access_token"]
    response = requests.post(
        f"{modis.api_base_url}/tenants/{modis.tenant_id}/modis/connectors/HR/ingestions/fileIngestion",
        data=HEADER.encode() + b"a@x.com,,Sales,0,\n",
        headers={
            "Authorization": f"Bearer {token}",
            "x-nova-scaleunit": modis.scale_unit,
            "Content-Type": "text/plain",
        },
        verify=str(modis.ca_bundle),
        timeout=30,
    )
    assert response.status_code == 415
    assert _ingestions(modis) == []


def test_a_wrong_secret_fails_before_anything_is_posted(
    modis: EmulatorHandle, tmp_path: Path, test_logger: logging.Logger
) -> None:
    with pytest.raises(AuthenticationFailed):
        upload_csv(
            settings_with_defaults(modis.config(client_secret="wrong")),
            _csv(tmp_path, ["a@x.com,,Sales,0,"]),
            test_logger,
        )
    assert _ingestions(modis) == []


def test_a_given_scale_unit_skips_the_lookup(modis: EmulatorHandle, tmp_path: Path, test_logger) -> None:
    modis.set_faults(rules=[{"action": "error", "endpoint": "scale_unit", "count": 5}])
    upload_csv(
        settings_with_defaults(modis.config(scale_unit=modis.scale_unit)),
        _csv(tmp_path, ["a@x.com,,Sales,0,"]),
        test_logger,
    )
    assert len(_ingestions(modis)) == 1


def test_a_refusal_before_processing_is_retried_and_one_ingestion_arrives(
    modis: EmulatorHandle, tmp_path: Path, test_logger: logging.Logger
) -> None:
    modis.set_faults(rules=[{"action": "throttle", "endpoint": "modis_upload", "count": 1, "retry_after": 0}])
    upload_csv(settings_with_defaults(modis.config()), _csv(tmp_path, ["a@x.com,,Sales,0,"]), test_logger)
    assert len(_ingestions(modis)) == 1


def test_an_answer_lost_after_the_whole_body_is_never_resent(
    modis: EmulatorHandle, tmp_path: Path, test_logger: logging.Logger
) -> None:
    modis.set_faults(rules=[{"action": "drop_after_accept", "endpoint": "modis_upload", "count": 1}])
    with pytest.raises(NetworkError, match=r"not sent again.*Migration and imports"):
        upload_csv(
            settings_with_defaults(modis.config(max_retries=3)),
            _csv(tmp_path, ["a@x.com,,Sales,0,"]),
            test_logger,
        )
    assert len(_ingestions(modis)) == 1


def test_only_a_csv_file_is_posted(
    modis: EmulatorHandle, tmp_path: Path, test_logger: logging.Logger
) -> None:
    other = tmp_path / "upload.json"
    other.write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="text/csv"):
        upload_csv(settings_with_defaults(modis.config()), other, test_logger)
    assert _ingestions(modis) == []


def test_a_first_run_a_rerun_and_a_change_through_the_delta_and_the_emulator(
    modis: EmulatorHandle, tmp_path: Path, test_logger: logging.Logger
) -> None:
    """The delta decides what is sent; the emulator's store ends as the input says, a removed value gone."""
    digester, sealer, state = Digester(b"k" * 32), AddressSealer(b"k" * 32), empty_state()
    kinds = {"PersonId": ValueKind.EMAIL, "Organization": ValueKind.STRING, "EffectiveDate": ValueKind.DATE}
    kinds["Team"] = ValueKind.STRING
    columns = plan_columns(kinds).columns
    sent = []
    inputs = [
        ["a@x.com,Sales,01/01/2025,Red", "b@x.com,Sales,01/01/2025,Blue"],
        ["a@x.com,Sales,01/01/2025,Red", "b@x.com,Sales,01/01/2025,Blue"],
        ["a@x.com,Sales,01/01/2025,Red", "b@x.com,Sales,01/01/2025,"],
    ]
    for number, rows in enumerate(inputs):
        data = io.BytesIO(("PersonId,Organization,EffectiveDate,Team\n" + "\n".join(rows) + "\n").encode())
        current = current_rows(data, digester, date_order=DateOrder.MDY, today=datetime.date(2025, 6, 1))
        delta = compute_delta(current, columns, state, digester, sealer, date_order=DateOrder.MDY)
        sent.append(delta.people_sent)
        if delta.people_sent:
            upload_csv(
                settings_with_defaults(modis.config()),
                write_upload_csv(delta.upload, tmp_path / f"run-{number}.csv"),
                test_logger,
            )
        state = delta.new_state
    assert sent == [2, 0, 1]
    assert len(_ingestions(modis)) == 2
    assert (tmp_path / "run-2.csv").read_text().splitlines()[1] == "b@x.com,Sales,''"
    assert _held(modis)["b@x.com"] == {"Microsoft_PersonEmail": "b@x.com", "Microsoft_Organization": "Sales"}


def test_the_emulator_command_shows_what_the_tenant_holds_per_person(
    modis: EmulatorHandle, tmp_path: Path, test_logger: logging.Logger
) -> None:
    upload_csv(settings_with_defaults(modis.config()), _csv(tmp_path, ORG), test_logger)
    command = [
        sys.executable, "-m", "target_viva_insights.cli", "emulator",
        "--data-dir", str(modis.data_dir), "--tenant-id", modis.tenant_id, "--show-modis",
    ]  # fmt: skip
    shown = json.loads(subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout)
    assert shown["person_count"] == 40 and shown["people"] == _held(modis)
    stored = modis.data_dir / "modis" / f"{modis.tenant_id}.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
