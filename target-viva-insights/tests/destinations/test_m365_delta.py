"""The m365 destination's columns and its per-person delta: current state, changes, delete tokens."""

from __future__ import annotations

import csv
import datetime
import io
from pathlib import Path

import pyarrow as pa
import pytest
from target_viva_insights.destinations.m365 import columns as m365_columns
from target_viva_insights.destinations.m365.columns import M365Column, plan_columns
from target_viva_insights.destinations.m365.delta import (
    AddressSealer,
    PopulationDropRefused,
    compute_delta,
    current_rows,
    empty_state,
    write_upload_csv,
)
from target_viva_insights.ledger.digests import Digester
from target_viva_insights.rules import DateOrder, ValueKind

TODAY = datetime.date(2025, 6, 15)
KEY = b"k" * 32
KINDS = {
    "PersonId": ValueKind.EMAIL,
    "ManagerId": ValueKind.EMAIL,
    "Organization": ValueKind.STRING,
    "EffectiveDate": ValueKind.DATE,
    "Layer": ValueKind.INTEGER,
    "HireDate": ValueKind.DATE,
    "Team": ValueKind.STRING,
}
HEADER = "PersonId,ManagerId,Organization,EffectiveDate,Layer,HireDate,Team\n"


def _data(rows: list[str]) -> io.BytesIO:
    return io.BytesIO((HEADER + "".join(f"{row}\n" for row in rows)).encode("utf-8"))


class Tenant:
    """One tenant's state carried from run to run, as the ledger would after each accepted upload."""

    def __init__(self) -> None:
        self.digester = Digester(KEY)
        self.sealer = AddressSealer(KEY)
        self.state = empty_state()
        self.columns = plan_columns(KINDS).columns

    def run(self, rows: list[str], *, today: datetime.date = TODAY, **options):
        current = current_rows(_data(rows), self.digester, date_order=DateOrder.MDY, today=today)
        delta = compute_delta(
            current, self.columns, self.state, self.digester, self.sealer, date_order=DateOrder.MDY, **options
        )
        self.state = delta.new_state
        return delta


def _rows(table: pa.Table) -> list[dict[str, str | None]]:
    return table.to_pylist()


def test_legacy_fields_take_microsoft_names_and_custom_columns_keep_theirs() -> None:
    plan = plan_columns({**KINDS, "FunctionType": ValueKind.STRING, "job_title": ValueKind.STRING})
    assert plan.header == [
        "Microsoft_PersonEmail",
        "Microsoft_ManagerEmail",
        "Microsoft_Organization",
        "Microsoft_Layer",
        "Microsoft_HireDate",
        "Team",
        "Microsoft_JobDiscipline",
        "Microsoft_JobTitle",
    ]
    assert plan.header_csv().decode().startswith("Microsoft_PersonEmail,Microsoft_ManagerEmail,")


def test_a_name_given_by_column_mapping_is_kept_exactly() -> None:
    plan = plan_columns(
        {"PersonId": ValueKind.EMAIL, "JobTitle": ValueKind.STRING}, column_mapping={"t": "JobTitle"}
    )
    assert plan.header == ["Microsoft_PersonEmail", "JobTitle"]
    mapped = plan_columns({"PersonId": ValueKind.EMAIL, "Microsoft_JobTitle": ValueKind.STRING})
    assert mapped.header == ["Microsoft_PersonEmail", "Microsoft_JobTitle"]


def test_supervisor_indicator_is_microsofts_only_for_its_levels_and_stated_synonyms() -> None:
    kinds = {"PersonId": ValueKind.EMAIL, "SupervisorIndicator": ValueKind.STRING}
    known = plan_columns(kinds, supervisor_values=["Manager", "IC", None])
    assert known.header[1] == "Microsoft_SupervisorIndicator"
    assert any("Manager -> Mngr" in message for _, message in known.notes)
    other = plan_columns(kinds, supervisor_values=["Boss"])
    assert other.header[1] == "SupervisorIndicator"
    column = known.columns[1]
    assert m365_columns.formatted_values(pa.array(["manager", "IC"]), column, DateOrder.MDY).to_pylist() == [
        "Mngr",
        "IC",
    ]


def test_values_are_written_as_microsoft_365_reads_them() -> None:
    date = M365Column("HireDate", "Microsoft_HireDate", ValueKind.DATE)
    assert m365_columns.formatted_values(
        pa.array(["31/01/2024", "x", "", None]), date, DateOrder.DMY
    ).to_pylist() == [
        "01/31/2024",
        "x",
        None,
        None,
    ]
    rate = M365Column("HourlyRate", "Microsoft_HourlyRate", ValueKind.DOUBLE)
    assert m365_columns.formatted_values(
        pa.array(["$1,250.50", "12", "1,5"]), rate, DateOrder.MDY
    ).to_pylist() == [
        "1250.50",
        "12",
        "1,5",
    ]


def test_first_run_sends_everyone_once_with_their_current_row() -> None:
    tenant = Tenant()
    delta = tenant.run(
        [
            "a@x.com,,Sales,01/01/2025,0,01/02/2020,Red",
            "a@x.com,,Sales,05/01/2025,0,01/02/2020,Blue",
            "a@x.com,,Sales,12/01/2025,0,01/02/2020,Green",  # after today: held back
            "b@x.com,a@x.com,Sales,05/01/2025,1,,",
        ]
    )
    rows = _rows(delta.upload)
    assert [row["Microsoft_PersonEmail"] for row in rows] == ["a@x.com", "b@x.com"]
    assert rows[0]["Team"] == "Blue"
    assert rows[1]["Microsoft_HireDate"] is None and rows[1]["Team"] is None  # nothing held: blank
    assert "EffectiveDate" not in delta.upload.column_names
    assert (delta.rows_held_back, delta.people_new, delta.people_sent) == (1, 2, 2)


def test_an_unchanged_rerun_sends_nothing_and_a_change_sends_only_that_person() -> None:
    tenant = Tenant()
    rows = ["a@x.com,,Sales,01/01/2025,0,,Red", "b@x.com,a@x.com,Sales,01/01/2025,1,,Blue"]
    tenant.run(rows)
    assert tenant.run(rows).people_sent == 0
    delta = tenant.run([rows[0], "b@x.com,a@x.com,Ops,01/01/2025,1,,Blue"])
    assert _rows(delta.upload) == [
        {
            "Microsoft_PersonEmail": "b@x.com",
            "Microsoft_ManagerEmail": "a@x.com",
            "Microsoft_Organization": "Ops",
            "Microsoft_Layer": "1",
            "Microsoft_HireDate": None,
            "Team": "Blue",
        }
    ]
    assert (delta.people_changed, delta.people_unchanged) == (1, 1)


def test_a_removed_value_is_sent_as_the_delete_token_never_as_a_blank() -> None:
    tenant = Tenant()
    tenant.run(["a@x.com,,Sales,01/01/2025,0,,Red"])
    delta = tenant.run(["a@x.com,,Sales,01/01/2025,,,"])
    [row] = _rows(delta.upload)
    assert row["Team"] == "''" and row["Microsoft_Layer"] == "-1"
    assert row["Microsoft_HireDate"] is None  # never delivered: a blank keeps nothing
    assert delta.values_deleted == 2
    assert tenant.run(["a@x.com,,Sales,01/01/2025,,,"]).people_sent == 0


def test_people_absent_from_a_partial_input_are_left_alone() -> None:
    tenant = Tenant()
    tenant.run(["a@x.com,,Sales,01/01/2025,0,,", "b@x.com,a@x.com,Sales,01/01/2025,1,,"])
    delta = tenant.run(["a@x.com,,Sales,01/01/2025,0,,"])
    assert (delta.people_sent, delta.people_missing, delta.people_deleted) == (0, 0, 0)
    assert tenant.state.num_rows == 2


def test_a_whole_population_input_counts_and_optionally_deletes_the_missing() -> None:
    tenant = Tenant()
    everyone = [f"p{n}@x.com,,Sales,01/01/2025,0,,T" for n in range(10)]
    tenant.run(everyone)
    counted = tenant.run(everyone[1:], whole_population=True)
    assert (counted.people_missing, counted.people_deleted, counted.people_sent) == (1, 0, 0)
    with pytest.raises(PopulationDropRefused, match="more than max_population_drop_percent 5"):
        tenant.run(everyone[1:], whole_population=True, remove_missing=True, max_drop_percent=5)
    deleted = tenant.run(everyone[1:], whole_population=True, remove_missing=True, max_drop_percent=20)
    assert _rows(deleted.upload) == [
        {
            "Microsoft_PersonEmail": "p0@x.com",
            "Microsoft_ManagerEmail": "''",
            "Microsoft_Organization": "''",
            "Microsoft_Layer": "-1",
            "Microsoft_HireDate": "''",
            "Team": "''",
        }
    ]
    assert tenant.state.num_rows == 9
    assert tenant.run(everyone[1:], whole_population=True).people_missing == 0


def test_people_dated_only_later_are_neither_sent_nor_missing() -> None:
    tenant = Tenant()
    tenant.run(["a@x.com,,Sales,01/01/2025,0,,"])
    delta = tenant.run(["a@x.com,,Sales,01/01/2026,0,,"], whole_population=True)
    assert (delta.people_sent, delta.people_held_back, delta.people_missing) == (0, 1, 0)


def test_resend_all_sends_every_current_person() -> None:
    tenant = Tenant()
    rows = ["a@x.com,,Sales,01/01/2025,0,,", "b@x.com,a@x.com,Sales,01/01/2025,1,,"]
    tenant.run(rows)
    assert tenant.run(rows, resend_all=True).people_sent == 2


def test_the_state_keeps_no_value_in_clear() -> None:
    tenant = Tenant()
    tenant.run(["secret.person@x.com,,HiddenOrg,01/01/2025,0,,Covert"])
    sink = pa.BufferOutputStream()
    import pyarrow.parquet as pq

    pq.write_table(tenant.state, sink)
    stored = sink.getvalue().to_pybytes()
    for value in (b"secret.person", b"HiddenOrg", b"Covert"):
        assert value not in stored


def test_the_upload_csv_has_one_header_blank_cells_and_delete_tokens(tmp_path: Path) -> None:
    tenant = Tenant()
    tenant.run(['a@x.com,,"Sales, EMEA",01/01/2025,0,,Red'])
    delta = tenant.run(['a@x.com,,"Sales, EMEA",01/01/2025,0,,'])
    path = write_upload_csv(delta.upload, tmp_path / "upload.csv")
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == (
        "Microsoft_PersonEmail,Microsoft_ManagerEmail,Microsoft_Organization,Microsoft_Layer,Microsoft_HireDate,Team"
    )
    assert text.splitlines()[1] == "a@x.com,,\"Sales, EMEA\",0,,''"
    assert list(csv.reader(io.StringIO(text)))[1][2] == "Sales, EMEA"
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_state_is_kept_in_the_tenants_ledger_folder(tmp_path: Path) -> None:
    from target_viva_insights.ledger.store import Ledger

    ledger = Ledger(str(tmp_path / "ledger"), "tenant-1")
    assert ledger.read_m365_state() is None
    tenant = Tenant()
    tenant.digester, tenant.sealer = ledger.digester, AddressSealer(ledger.key)
    tenant.run(["a@x.com,,Sales,01/01/2025,0,,Red"])
    with pytest.raises(RuntimeError, match="under its lock"):
        ledger.write_m365_state(tenant.state)
    with ledger.locked():
        ledger.write_m365_state(tenant.state)
    stored = tmp_path / "ledger" / "tenant-1" / "m365-state.parquet"
    assert stored.stat().st_mode & 0o777 == 0o600
    again = Ledger(str(tmp_path / "ledger"), "tenant-1")
    assert again.read_m365_state().equals(tenant.state)
    rerun = Tenant()
    rerun.digester, rerun.sealer, rerun.state = (
        again.digester,
        AddressSealer(again.key),
        again.read_m365_state(),
    )
    assert rerun.run(["a@x.com,,Sales,01/01/2025,0,,Red"]).people_sent == 0


def test_a_person_is_known_by_address_whatever_its_case() -> None:
    tenant = Tenant()
    tenant.run(["Ann.Lee@x.com,,Sales,01/01/2025,0,,Red"])
    delta = tenant.run(["ann.lee@x.com,,Sales,01/01/2025,0,,Red"], whole_population=True, remove_missing=True)
    assert (delta.people_new, delta.people_missing, delta.people_deleted) == (0, 0, 0)
    assert [row["Microsoft_PersonEmail"] for row in _rows(delta.upload)] == ["ann.lee@x.com"]


def test_the_plan_judges_supervisor_indicator_by_the_current_rows() -> None:
    from target_viva_insights.destinations.m365.delta import upload_plan

    data = io.BytesIO(
        b"PersonId,EffectiveDate,SupervisorIndicator\na@x.com,01/01/2024,Boss\na@x.com,01/01/2025,Manager\n"
    )
    current = current_rows(data, Digester(KEY), date_order=DateOrder.MDY, today=TODAY)
    kinds = {
        "PersonId": ValueKind.EMAIL,
        "EffectiveDate": ValueKind.DATE,
        "SupervisorIndicator": ValueKind.STRING,
    }
    assert upload_plan(current, kinds).header == ["Microsoft_PersonEmail", "Microsoft_SupervisorIndicator"]


def test_a_header_only_input_sends_nobody_and_keeps_the_state() -> None:
    tenant = Tenant()
    tenant.run(["a@x.com,,Sales,01/01/2025,0,,Red"])
    delta = tenant.run([])
    assert (delta.people_sent, delta.people_current, tenant.state.num_rows) == (0, 0, 1)


def test_the_targets_mapping_and_its_hr_synonyms_feed_the_microsoft_names() -> None:
    from target_viva_insights.build.mapping import plan_columns as plan_data_csv

    schema = {
        "properties": {
            "work_email": {"type": "string"},
            "manager_email": {"type": ["string", "null"]},
            "department": {"type": "string"},
            "job_function": {"type": "string"},
            "first_name": {"type": "string"},
            "team_code": {"type": "string"},
            "effective_date": {"type": "string", "format": "date"},
        }
    }
    data_csv = plan_data_csv(schema, column_mapping={"team_code": "TeamCode"}).columns
    plan = plan_columns(
        {column.field: column.kind for column in data_csv}, column_mapping={"team_code": "TeamCode"}
    )
    assert plan.header == [
        "Microsoft_PersonEmail",
        "Microsoft_ManagerEmail",
        "Microsoft_Organization",
        "Microsoft_JobDiscipline",
        "Microsoft_FirstName",
        "TeamCode",
    ]
