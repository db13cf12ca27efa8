"""Microsoft 365's rules for the m365 upload: one test per rule, and docs/m365-rules.md in step."""

from __future__ import annotations

import datetime
import io
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from target_viva_insights.catalogue import M365_SOURCES, Rule
from target_viva_insights.destinations.m365.columns import plan_columns
from target_viva_insights.destinations.m365.delta import current_rows, formatted_table
from target_viva_insights.destinations.m365.rules import check_upload
from target_viva_insights.errors import DataValidationFailed
from target_viva_insights.ledger.digests import Digester
from target_viva_insights.rules import DateOrder, ValueKind
from target_viva_insights.validation.report import ValidationReport

RULES_PAGE = Path(__file__).parents[2] / "docs" / "m365-rules.md"
TODAY = datetime.date(2025, 6, 15)


def _check(header: str, rows: list[str], kinds: dict[str, ValueKind] | None = None) -> ValidationReport:
    """The findings for a data.csv (header and rows) as the m365 destination would judge it."""
    names = header.split(",")
    field_kinds = {name: (kinds or {}).get(name, ValueKind.STRING) for name in names}
    data = io.BytesIO((header + "\n" + "".join(f"{row}\n" for row in rows)).encode("utf-8"))
    current = current_rows(data, Digester(b"k" * 32), date_order=DateOrder.MDY, today=TODAY)
    supervisor = (
        current.table.column("SupervisorIndicator").to_pylist() if "SupervisorIndicator" in names else []
    )
    plan = plan_columns(field_kinds, supervisor_values=supervisor)
    view = formatted_table(current, plan.columns, DateOrder.MDY)
    return check_upload(view, plan.columns, current.lines, ValidationReport("data.csv"))


def _found(report: ValidationReport, rule: Rule) -> list[tuple[int | None, str | None]]:
    return [(issue.row, issue.value) for issue in report.issues if issue.rule is rule]


def test_person_email_is_a_valid_address_on_every_row() -> None:
    report = _check("PersonId,Team", ["a@x.com,T", "not-an-address,T", "b@x.com,T"])
    assert _found(report, Rule.M365_PERSON_EMAIL) == [(3, "not-an-address")]
    assert _found(_check("PersonId,Team", ["a@x.com,T"]), Rule.M365_PERSON_EMAIL) == []
    columns = plan_columns({"Team": ValueKind.STRING}).columns
    view = pa.table({"Team": pa.array(["T"])})
    missing = check_upload(view, columns, np.array([2]), ValidationReport("data.csv"))
    assert [issue.message for issue in missing.issues if issue.rule is Rule.M365_PERSON_EMAIL] == [
        "the upload has no Microsoft_PersonEmail column; every row needs one"
    ]
    with pytest.raises(DataValidationFailed, match="no PersonId column"):
        _check("Email2,Team", ["a@x.com,T"])


def test_manager_and_organization_coverage_below_95_percent_is_refused_naming_it() -> None:
    rows = [f"p{n}@x.com,{'' if n < 2 else 'a@x.com'},Sales" for n in range(20)]
    report = _check("PersonId,ManagerId,Organization", rows)
    [issue] = [issue for issue in report.issues if issue.rule is Rule.M365_COVERAGE]
    assert issue.column == "Microsoft_ManagerEmail"
    assert "18 of 20 people (90.0%)" in issue.message
    assert not report.ok
    one_blank = [f"p{n}@x.com,{'' if n < 1 else 'a@x.com'},Sales" for n in range(20)]
    assert _found(_check("PersonId,ManagerId,Organization", one_blank), Rule.M365_COVERAGE) == []


def test_the_name_group_is_all_set_or_all_empty_warning_by_row_only() -> None:
    report = _check(
        "PersonId,FirstName,LastName,DisplayName",
        ["a@x.com,Ann,Lee,Ann Lee", "b@x.com,Bob,,", "c@x.com,,,"],
    )
    assert _found(report, Rule.M365_NAME_GROUP) == [(3, None)]
    assert Rule.M365_NAME_GROUP.severity.value == "warning" and report.ok


def test_at_most_105_attributes() -> None:
    header = ",".join(["PersonId", *(f"Custom{n}" for n in range(105))])
    report = _check(header, ["a@x.com" + "," * 105])
    assert [issue.rule for issue in report.issues] == [Rule.M365_TOO_MANY_ATTRIBUTES]
    fits = ",".join(["PersonId", *(f"Custom{n}" for n in range(104))])
    assert _check(fits, ["a@x.com" + "," * 104]).issues == []


def test_supervisor_indicator_holds_microsofts_levels() -> None:
    report = _check("PersonId,Microsoft_SupervisorIndicator", ["a@x.com,Mngr", "b@x.com,Boss", "c@x.com,"])
    assert _found(report, Rule.M365_SUPERVISOR_INDICATOR) == [(3, "Boss")]


def test_glint_employment_status_is_active_or_inactive() -> None:
    report = _check(
        "PersonId,GlintEmploymentStatus", ["a@x.com,ACTIVE", "b@x.com,Terminated", "c@x.com,INACTIVE"]
    )
    assert _found(report, Rule.M365_GLINT_EMPLOYMENT_STATUS) == [(3, "Terminated")]


def test_hourly_rate_is_a_number() -> None:
    kinds = {"HourlyRate": ValueKind.DOUBLE}
    report = _check("PersonId,HourlyRate", ['a@x.com,"$1,250.5"', "b@x.com,ten", "c@x.com,12"], kinds)
    assert _found(report, Rule.M365_HOURLY_RATE) == [(3, "ten")]


def test_layer_is_a_whole_number_of_zero_or_more_or_minus_one() -> None:
    kinds = {"Layer": ValueKind.INTEGER}
    report = _check(
        "PersonId,Layer", ["a@x.com,0", "b@x.com,-1", "c@x.com,-2", "d@x.com,1.5", "e@x.com,3"], kinds
    )
    assert _found(report, Rule.M365_LAYER) == [(4, "-2"), (5, "1.5")]


def test_dates_are_calendar_dates() -> None:
    kinds = {"HireDate": ValueKind.DATE}
    report = _check(
        "PersonId,HireDate", ["a@x.com,02/28/2020", "b@x.com,02/30/2020", "c@x.com,13/01/2020"], kinds
    )
    assert _found(report, Rule.M365_DATE) == [(3, "02/30/2020"), (4, "13/01/2020")]


def _documented() -> dict[str, list[str]]:
    """Rule id -> its row's cells, from the table of docs/m365-rules.md."""
    table = {}
    for line in RULES_PAGE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\|\s*`(m365-[a-z0-9-]+)`\s*\|", line)
        if match:
            table[match.group(1)] = [cell.strip() for cell in line.strip().strip("|").split("|")]
    return table


def test_the_rules_page_lists_every_rule_with_its_source_severity_and_test() -> None:
    documented = _documented()
    m365_rules = [rule for rule in Rule if rule.source in M365_SOURCES]
    assert sorted(documented) == sorted(rule.id for rule in m365_rules)
    tests = set(
        re.findall(r"^def (test_[a-z0-9_]+)", Path(__file__).read_text(encoding="utf-8"), re.MULTILINE)
    )
    for rule in m365_rules:
        _, _, source, severity, test = documented[rule.id]
        assert source == rule.source.rsplit(" (", 1)[0], rule.id
        assert severity == rule.severity.value, rule.id
        assert test.strip("`") in tests, rule.id
