"""An incremental import judged with what the ledger says Viva holds: known managers, loops that close
through Viva's data, monthly coverage across earlier imports. Real ledger files, the real validator."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

import pyarrow as pa
import pytest
from target_viva_insights.catalogue import Rule
from target_viva_insights.import_mode import ImportMode
from target_viva_insights.ledger.digests import digest_batch
from target_viva_insights.ledger.held import HeldPersonIds, LedgerOrganization
from target_viva_insights.ledger.store import IngestionRecord, Ledger, now_iso
from target_viva_insights.package import CsvField
from target_viva_insights.rules import DateOrder
from target_viva_insights.validation.report import ValidationReport
from target_viva_insights.validation.validator import validate_data_csv

TENANT = "00000000-0000-0000-0000-0000000000a7"
FIELDS = [
    CsvField("PersonId", "PersonId", "EmailType"),
    CsvField("ManagerId", "ManagerId", "EmailType"),
    CsvField("Organization", "Organization", "StringType"),
    CsvField("EffectiveDate", "EffectiveDate", "DateTime_MM/DD/YYYY"),
]
Row = tuple[str, str, str]  # person, manager ("" for none), date MM/DD/YYYY


def person(index: int) -> str:
    return f"p{index}@contoso.com"


def org(people: int, months: list[int]) -> list[Row]:
    """Person 0 leads; person i reports to i // 4 (so p20 -> p5 -> p1 -> p0)."""
    return [
        (person(i), "" if i == 0 else person(i // 4), f"{month:02d}/01/2026")
        for month in months
        for i in range(people)
    ]


def table(rows: list[Row]) -> pa.Table:
    return pa.table(
        {
            "PersonId": [row[0] for row in rows],
            "ManagerId": [row[1] for row in rows],
            "Organization": ["Sales"] * len(rows),
            "EffectiveDate": [row[2] for row in rows],
        }
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    """A tenant that holds 24 people for January and February 2026."""
    ledger = Ledger(str(tmp_path / "ledger"), TENANT)
    digests = digest_batch(ledger.digester, table(org(24, [1, 2])), DateOrder.MDY)
    record = IngestionRecord(str(uuid.uuid4()), now_iso(), ImportMode.FULL, len(digests), 24, "0" * 64)
    with ledger.locked():
        ledger.record_completed(record, digests)
    return Ledger(ledger.root, TENANT)  # as a later run opens it


def judge(rows: list[Row], held: object) -> ValidationReport:
    lines = ["PersonId,ManagerId,Organization,EffectiveDate"]
    lines += [f"{p},{m},Sales,{d}" for p, m, d in rows]
    data = io.BytesIO(("\n".join(lines) + "\n").encode("utf-8"))
    return validate_data_csv(
        data, FIELDS, date_order=DateOrder.MDY, import_mode=ImportMode.INCREMENTAL, known_people=held
    )


def findings(report: ValidationReport, rule: Rule) -> list[str]:
    return [issue.message for issue in report.issues if issue.rule is rule]


def test_a_manager_viva_holds_is_a_known_person(ledger: Ledger) -> None:
    report = judge([("new@contoso.com", person(7), "03/01/2026")], LedgerOrganization(ledger))
    assert findings(report, Rule.MANAGER_NOT_A_PERSON) == []
    unknown = judge([("new@contoso.com", "nobody@contoso.com", "03/01/2026")], LedgerOrganization(ledger))
    assert len(findings(unknown, Rule.MANAGER_NOT_A_PERSON)) == 1


def test_a_loop_closed_by_a_manager_viva_holds_is_an_error(ledger: Ledger) -> None:
    # In Viva p5 reports to p1; the file makes p1 report to p5.
    report = judge([(person(1), person(5), "03/01/2026")], LedgerOrganization(ledger))
    assert not report.ok
    assert findings(report, Rule.REPORTING_LOOP) == [
        "reporting loop as of 2026-03-01: row 2 -> a person Viva holds -> row 2 (each row's ManagerId is "
        "the PersonId of the next)"
    ]
    loop = next(issue for issue in report.issues if issue.rule is Rule.REPORTING_LOOP)
    assert (loop.row, loop.column, loop.value) == (2, "ManagerId", person(5))


def test_a_loop_through_people_the_file_does_not_name(ledger: Ledger) -> None:
    # In Viva p20 -> p5 -> p1; the file makes p1 report to p20, and never names p5.
    report = judge([(person(1), person(20), "03/01/2026")], LedgerOrganization(ledger))
    assert findings(report, Rule.REPORTING_LOOP) == [
        "reporting loop as of 2026-03-01: row 2 -> a person Viva holds -> (1 more person Viva holds) -> "
        "row 2 (each row's ManagerId is the PersonId of the next)"
    ]
    # The message names rows only: no address of anyone, least of all of the unnamed p5.
    assert person(5) not in " ".join(findings(report, Rule.REPORTING_LOOP))


def test_a_change_that_closes_no_loop_passes(ledger: Ledger) -> None:
    # p20 moves under p2: p2 -> p0 in Viva, no loop.
    report = judge([(person(20), person(2), "03/01/2026")], LedgerOrganization(ledger))
    assert report.ok, report.issues
    assert findings(report, Rule.REPORTING_LOOP) == []


def test_a_loop_mended_by_the_file_itself_is_not_reported(ledger: Ledger) -> None:
    # p1 under p5 would loop, but the same file moves p5 under p0 first.
    rows = [(person(5), person(0), "03/01/2026"), (person(1), person(5), "03/01/2026")]
    assert findings(judge(rows, LedgerOrganization(ledger)), Rule.REPORTING_LOOP) == []


def test_without_the_ledger_the_cross_loop_is_invisible(ledger: Ledger) -> None:
    # A list of PersonIds knows people, not their managers: the same file passes.
    people = [person(i) for i in range(24)]
    report = judge([(person(1), person(5), "03/01/2026")], HeldPersonIds(people))
    assert findings(report, Rule.REPORTING_LOOP) == []
    assert findings(report, Rule.MANAGER_NOT_A_PERSON) == []


def test_monthly_coverage_counts_the_months_viva_holds(ledger: Ledger) -> None:
    held = LedgerOrganization(ledger)
    # March follows February in Viva: no gap, though the file has one month only.
    assert findings(judge(org(24, [3]), held), Rule.MISSING_MONTHLY_SNAPSHOT) == []
    # April after February: March is missing for everyone the file names.
    april = org(24, [4])
    report = judge(april, held)
    gaps = findings(report, Rule.MISSING_MONTHLY_SNAPSHOT)
    counted = [count for (_, rule), count in report.counts.items() if rule is Rule.MISSING_MONTHLY_SNAPSHOT]
    assert counted == [24]
    assert "counting the months Viva already holds" in gaps[0]
    # January and March in the file, February in Viva: the ledger fills the gap.
    assert findings(judge(org(24, [1, 3]), held), Rule.MISSING_MONTHLY_SNAPSHOT) == []
    # Without the ledger the same file has a gap of its own.
    assert findings(judge(org(24, [1, 3]), None), Rule.MISSING_MONTHLY_SNAPSHOT)


def test_the_chart_follows_chains_through_unnamed_people(ledger: Ledger) -> None:
    held = LedgerOrganization(ledger).chart(pa.array([person(3), "new@contoso.com", person(23)]))
    assert held.held.tolist() == [True, False, True]
    # p3 -> p0 and p23 -> p5 -> p1 -> p0: none of them named here, so both chains end.
    assert held.manager.tolist() == [-1, -1, -1]
    chart = LedgerOrganization(ledger).chart(pa.array([person(0), person(5), person(21)]))
    # p21 -> p5 (named), p5 -> p1 -> p0 (named, one unnamed on the way), p0 leads.
    assert chart.manager.tolist() == [-1, 0, 1]
    assert chart.unnamed_on_the_way.tolist() == [0, 1, 0]
    from target_viva_insights.ledger.held import split_month_keys

    addresses, months = split_month_keys(chart.held_months)
    assert addresses.tolist() == [0, 0, 1, 1, 2, 2]
    assert months.tolist() == [672, 673] * 3  # January and February 2026, as months since 1970-01
