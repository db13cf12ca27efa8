"""The data-quality report: its aggregates on small hand-made files, its privacy, the `viva-insights
report` command and the target writing it beside every package (real processes)."""

from __future__ import annotations

import datetime
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from target_viva_insights.quality.html import render
from target_viva_insights.quality.inputs import load
from target_viva_insights.quality.profile import (
    AttributeProfile,
    AttributeWarning,
    Change,
    InputKind,
    QualityProfile,
    profile_table,
)
from viva_testing import hr_schema, run_target_process, singer_lines, small_org

CLI = str(Path(sys.executable).parent / "viva-insights")
TODAY = datetime.date(2026, 6, 15)


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def profile_of(path: Path) -> QualityProfile:
    loaded = load(path)
    profile = profile_table(
        loaded.table, loaded.columns, source=path.name, kind=loaded.kind, reference_day=TODAY
    )
    return profile.with_findings(loaded.report)


def attribute(profile: QualityProfile, name: str) -> AttributeProfile:
    return next(a for a in profile.attributes if a.name == name)


def org_rows(month: str, people: int, *, extra: str = "") -> list[str]:
    """person 0 leads, person i reports to i // 3; Organization in two groups of unequal size."""
    rows = []
    for i in range(people):
        manager = "" if i == 0 else f"p{i // 3}@contoso.com"
        organization = "Sales" if i % 4 else "Finance"
        rows.append(f"p{i}@contoso.com,{manager},{organization},{month}{extra}")
    return rows


# ---- totals and coverage over time --------------------------------------------------------------


def test_totals_and_a_sudden_drop_in_people_per_month(tmp_path: Path) -> None:
    rows = org_rows("2026-01-01", 40) + org_rows("2026-02-01", 40) + org_rows("2026-03-01", 20)
    path = write_csv(tmp_path / "data.csv", "PersonId,ManagerId,Organization,EffectiveDate", rows)
    profile = profile_of(path)
    assert (profile.rows, profile.people, profile.effective_dates) == (100, 40, 3)
    assert [(p.month.isoformat(), p.people, p.change) for p in profile.months] == [
        ("2026-01-01", 40, None),
        ("2026-02-01", 40, None),
        ("2026-03-01", 20, Change.DROP),
    ]
    html = render(profile)
    assert re.search(r'id="total-people">40<', html) and re.search(r'id="total-rows">100<', html)
    assert "2026-03</td><td class='num'>20</td><td>drop</td>" in html


def test_a_month_without_rows_counts_as_zero_and_the_next_one_as_a_jump(tmp_path: Path) -> None:
    rows = org_rows("2026-01-01", 10) + org_rows("2026-03-01", 10)
    profile = profile_of(write_csv(tmp_path / "d.csv", "PersonId,ManagerId,Organization,EffectiveDate", rows))
    assert [(p.people, p.change) for p in profile.months] == [(10, None), (0, Change.DROP), (10, None)]


# ---- per attribute --------------------------------------------------------------------------------


def test_attribute_shares_groups_and_vivainsights_warnings(tmp_path: Path) -> None:
    header = "PersonId,ManagerId,Organization,EffectiveDate,Team,Country,Badge"
    rows = []
    for i in range(120):
        manager = "" if i == 0 else "p0@contoso.com"
        organization = "Sales" if i < 117 else "Legal"  # Legal: 3 people, under the privacy minimum
        team = "" if i % 4 == 0 else f"team{i % 7}"  # 25% missing
        rows.append(f"p{i}@contoso.com,{manager},{organization},2026-01-01,{team},US,b{i}")
    profile = profile_of(write_csv(tmp_path / "d.csv", header, rows))
    organization = attribute(profile, "Organization")
    assert organization.filled_share == 1.0 and organization.unique_values == 2
    assert [(g.label, g.people) for g in organization.largest_groups] == [("Sales", 117), (None, 3)]
    assert organization.warnings == [AttributeWarning.SMALL_GROUPS]
    assert (organization.small_groups, organization.people_in_small_groups) == (1, 3)
    team = attribute(profile, "Team")
    assert team.filled_share == pytest.approx(0.75) and AttributeWarning.MOSTLY_MISSING in team.warnings
    assert attribute(profile, "Country").warnings == [AttributeWarning.CONSTANT]
    badge = attribute(profile, "Badge")
    assert badge.unique_values == 120 and AttributeWarning.TOO_MANY_VALUES in badge.warnings
    assert all(group.label is None for group in badge.largest_groups)  # one person each: never named
    assert "PersonId" not in [a.name for a in profile.attributes]
    html = render(profile)
    assert "Sales: 117" in html and "(hidden): 3" in html and "Legal" not in html


def test_placeholder_values_are_counted_per_column(tmp_path: Path) -> None:
    header = "PersonId,ManagerId,Organization,EffectiveDate,HireDate,Region"
    rows = [
        "a@contoso.com,,Exec,2026-01-01,1900-01-01,N/A",
        "b@contoso.com,a@contoso.com,TBD,2026-01-01,01/01/1970,N/A",
        "c@contoso.com,a@contoso.com,Sales,2026-01-01,2020-05-01,#N/A",
        "d@contoso.com,a@contoso.com,Sales,2026-01-01,9999-12-31,none",
        "e@contoso.com,a@contoso.com,-,2026-01-01,2021-05-01,NULL",
    ]
    profile = profile_of(write_csv(tmp_path / "d.csv", header, rows))
    assert attribute(profile, "Region").placeholders == {"#N/A": 1, "N/A": 2, "NULL": 1, "none": 1}
    assert attribute(profile, "Organization").placeholders == {"-": 1, "TBD": 1}
    assert attribute(profile, "HireDate").placeholders == {"1900-01-01": 1, "1970-01-01": 1, "9999-12-31": 1}
    assert "<code>N/A</code>: 2" in render(profile)


# ---- the org tree and HireDate -------------------------------------------------------------------


def test_org_tree_depth_span_missing_managers_loops_and_layer(tmp_path: Path) -> None:
    header = "PersonId,ManagerId,Organization,EffectiveDate,Layer"
    rows = [
        "ceo@contoso.com,,Exec,2026-01-01,0",
        "vp@contoso.com,ceo@contoso.com,Exec,2026-01-01,1",
        "a@contoso.com,vp@contoso.com,Sales,2026-01-01,2",
        "b@contoso.com,vp@contoso.com,Sales,2026-01-01,3",  # Layer says 3, the chart says 2
        "c@contoso.com,gone@contoso.com,Sales,2026-01-01,2",  # manager without a row
        "x@contoso.com,y@contoso.com,Ops,2026-01-01,2",  # x and y report to each other
        "y@contoso.com,x@contoso.com,Ops,2026-01-01,2",
        # an older row of a: the latest row (above) is the one judged
        "a@contoso.com,ceo@contoso.com,Sales,2025-12-01,1",
    ]
    org = profile_of(write_csv(tmp_path / "d.csv", header, rows)).org
    assert org is not None
    assert (org.people, org.tops, org.manager_not_in_file, org.in_cycles) == (7, 1, 1, 2)
    assert org.depth_counts == {0: 1, 1: 1, 2: 2}
    assert org.unknown_depth == 3
    assert dict(org.span_counts)["1"] == 3 and dict(org.span_counts)["2-3"] == 1
    assert org.managers == 4  # ceo, vp, x, y (x and y: one report each, with ceo)
    assert org.layer_vs_depth == {(0, 0): 1, (1, 1): 1, (2, 2): 1, (3, 2): 1}
    assert (org.layer_matches, org.layer_compared) == (3, 4)


def test_hire_dates_of_forty_years_and_in_the_future(tmp_path: Path) -> None:
    header = "PersonId,ManagerId,Organization,EffectiveDate,HireDate"
    rows = [
        "a@contoso.com,,Exec,2026-01-01,1986-06-15",  # 40 years on the reference day
        "b@contoso.com,a@contoso.com,Sales,2026-01-01,1986-06-16",  # a day short
        "c@contoso.com,a@contoso.com,Sales,2026-01-01,2026-06-16",  # tomorrow
        "d@contoso.com,a@contoso.com,Sales,2026-01-01,soon",
    ]
    hire = profile_of(write_csv(tmp_path / "d.csv", header, rows)).hire
    assert hire is not None
    assert (hire.people, hire.dated, hire.long_tenure, hire.future, hire.unreadable) == (4, 3, 1, 1, 1)


# ---- Microsoft 365 exports ------------------------------------------------------------------------


def test_m365_csv_is_judged_by_the_95_percent_coverage_gates(tmp_path: Path) -> None:
    header = "Microsoft_PersonId,Microsoft_ManagerEmail,Microsoft_Organization"
    rows = [
        f"p{i}@contoso.com,{'' if i == 0 else 'p0@contoso.com'},{'' if i < 3 else 'Sales'}" for i in range(40)
    ]
    profile = profile_of(write_csv(tmp_path / "m365.csv", header, rows))
    assert profile.kind is InputKind.M365_CSV and profile.people == 40 and not profile.months
    gates = {gate.column: gate for gate in profile.gates}
    assert gates["Microsoft_ManagerEmail"].passed  # 39 of 40: 97.5%
    assert not gates["Microsoft_Organization"].passed  # 37 of 40: 92.5%
    assert AttributeWarning.BELOW_GATE in attribute(profile, "Microsoft_Organization").warnings
    assert profile.org is not None and profile.org.tops == 1
    html = render(profile)
    assert "Not fit: below the 95% coverage gate: Microsoft_Organization" in html
    assert "<td>Microsoft_Organization</td><td class='num'>92%</td><td>FAIL</td>" in html


# ---- privacy --------------------------------------------------------------------------------------


def privacy_file(tmp_path: Path) -> Path:
    # Mentor and ReviewedOn are text columns whose one value six people share: still a person's own
    # address and a date, never shown.
    header = "PersonId,ManagerId,Organization,EffectiveDate,HireDate,Name,HourlyRate,Mentor,ReviewedOn"
    rows = [
        "ceo@contoso.com,,Exec,2026-01-01,2001-02-03,Zelda Quartermain,98.25",
        "ana@contoso.com,ceo@contoso.com,Exec,2026-01-01,2011-04-05,Anastasia Wilberforce,45.50",
        "ben@contoso.com,ceo@contoso.com,Exec,2026-01-01,2012-06-07,Benedikt Oyelaran,44.10",
        "cat@contoso.com,ben@contoso.com,Exec,2026-01-01,2013-08-09,Catalina Fitzgerald,43.00",
        "dan@contoso.com,ben@contoso.com,Exec,2026-01-01,2014-10-11,Daniel Okonkwo,42.00",
        "eve@contoso.com,ben@contoso.com,Exec,2026-01-01,sometime soon,Evelyn Marchetti,41.00",
    ]
    rows = [f"{row},mentor@fabrikam.com,2025-03-31" for row in rows]
    return write_csv(tmp_path / "people.csv", header, rows)


RECORD_VALUES = [
    "contoso.com",
    "Quartermain",
    "Wilberforce",
    "Oyelaran",
    "Fitzgerald",
    "Okonkwo",
    "Marchetti",
    "2001-02-03",
    "2011-04-05",
    "98.25",
    "45.50",
    "sometime soon",
    "fabrikam",
    "2025-03-31",
]


def test_the_default_report_holds_no_record_value(tmp_path: Path) -> None:
    html = render(profile_of(privacy_file(tmp_path)))
    leaked = [value for value in RECORD_VALUES if value in html]
    assert leaked == []
    assert "Exec: 6" in html  # a group of six is an aggregate and keeps its label
    assert "invalid-date" in html  # the finding is there, without its value


def test_a_header_only_file_still_gets_a_report(tmp_path: Path) -> None:
    profile = profile_of(write_csv(tmp_path / "d.csv", "PersonId,ManagerId,Organization,EffectiveDate", []))
    assert (profile.rows, profile.people, profile.months) == (0, 0, [])
    assert "empty-file" in render(profile)


def test_show_examples_adds_the_first_rows_of_each_finding(tmp_path: Path) -> None:
    html = render(profile_of(privacy_file(tmp_path)), show_examples=True)
    assert "row 7, column HireDate: value <code>sometime soon</code>" in html
    assert "personal data" in html


# ---- the command ----------------------------------------------------------------------------------


def test_report_command_writes_a_private_page_and_prints_its_path(tmp_path: Path) -> None:
    source = privacy_file(tmp_path)
    result = subprocess.run([CLI, "report", str(source)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    written = tmp_path / "people-quality.html"
    assert result.stdout.strip() == str(written)
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    html = written.read_text(encoding="utf-8")
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and "Content-Security-Policy" in html
    assert "Not fit to upload: 1 error(s)" in html


def test_report_command_on_a_package_with_examples_to_a_chosen_file(tmp_path: Path) -> None:
    from conftest import GOOD_ROWS, write_package

    package = write_package(
        tmp_path / "p.zip", [*GOOD_ROWS, "dan@contoso.com,ceo@contoso.com,Sales,13/13/2026"]
    )
    out = tmp_path / "sub" / "r.html"
    result = subprocess.run(
        [CLI, "report", str(package), "-o", str(out), "--show-examples"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    html = out.read_text(encoding="utf-8")
    assert "Viva HR package" in html and "full import (as the file says)" in html
    assert "value <code>13/13/2026</code>" in html


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [(None, 2, "is not a file"), (b"PK\x03\x04 not really a zip", 3, "not a zip file")],
)
def test_report_command_refuses_what_it_cannot_read(
    tmp_path: Path, content: bytes | None, code: int, message: str
) -> None:
    path = tmp_path / "broken.zip"
    if content is not None:
        path.write_bytes(content)
    result = subprocess.run([CLI, "report", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == code
    assert message in result.stderr and "Traceback" not in result.stderr


def test_report_command_compares_with_the_delivery_ledger(tmp_path: Path) -> None:
    header = "PersonId,ManagerId,Organization,EffectiveDate"
    delivered = write_csv(tmp_path / "delivered.csv", header, org_rows("01/01/2026", 12))
    ledger = [
        "--tenant-id",
        "6f1c2a7e-0000-4000-8000-00000000a001",
        "--ledger-path",
        str(tmp_path / "ledger"),
    ]
    adopt = subprocess.run([CLI, "ledger", "adopt", str(delivered), *ledger], capture_output=True, text=True)
    assert adopt.returncode == 0, adopt.stderr
    rows = org_rows("01/01/2026", 12)
    rows[5] = rows[5].replace("Sales", "Legal")  # p5 changed
    rows = rows[:11] + org_rows("01/01/2026", 14)[12:]  # p11 removed, p12 and p13 added
    changed = write_csv(tmp_path / "next.csv", header, rows)
    result = subprocess.run(
        [CLI, "report", str(changed), *ledger], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "next-quality.html").read_text(encoding="utf-8")
    table = re.search(r"<table id='changes'>(.*?)</table>", html)
    assert table is not None
    figures = dict(re.findall(r"<th>([^<]+)</th><td class='num'>(\d+)</td>", table.group(1)))
    assert figures == {
        "People added": "2",
        "People removed (held by Viva, absent from the file)": "1",
        "People changed": "1",
        "Rows new": "2",
        "Rows changed": "1",
        "Rows unchanged": "10",
    }
    assert "Against ingestion adopted:delivered.csv of" in html


def test_report_command_without_a_ledger_says_so(tmp_path: Path) -> None:
    source = privacy_file(tmp_path)
    subprocess.run([CLI, "report", str(source)], capture_output=True, text=True, check=True)
    html = (tmp_path / "people-quality.html").read_text(encoding="utf-8")
    assert "Not known: set tenant_id (and ledger_path) to compare with the delivery ledger." in html


# ---- the target -----------------------------------------------------------------------------------


def test_a_dry_run_writes_the_report_beside_the_package_and_logs_its_path(tmp_path: Path) -> None:
    out = tmp_path / "out"
    records = small_org("2026-01-01") + small_org("2026-02-01")
    result = run_target_process(
        {"output_dir": str(out), "dry_run": True}, singer_lines(hr_schema(), records), tmp_path
    )
    assert result.returncode == 0, result.stderr
    (package,) = out.glob("viva-insights-*.zip")
    page = package.with_name(package.stem + "-quality.html")
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    assert f"Data-quality report: {page}" in result.stderr
    html = page.read_text(encoding="utf-8")
    assert re.search(r'id="total-people">6<', html) and re.search(r'id="total-rows">12<', html)
    assert re.search(r'id="total-months">2<', html)
    assert "dry run: not uploaded (no tenant_id set)" in html and "full import of 12 rows" in html
    assert "contoso.com" not in html


def test_a_run_refused_by_the_validation_still_leaves_the_report(tmp_path: Path) -> None:
    out = tmp_path / "out"
    records = small_org()
    records[3]["PersonId"] = "not-an-address"
    result = run_target_process(
        {"output_dir": str(out), "dry_run": True}, singer_lines(hr_schema(), records), tmp_path
    )
    assert result.returncode == 3
    (page,) = out.glob("viva-insights-*-quality.html")
    assert f"Data-quality report: {page}" in result.stderr
    html = page.read_text(encoding="utf-8")
    assert "Not fit to upload" in html and "invalid-email" in html and "not-an-address" not in html
    assert not list(out.glob("viva-insights-*[0-9]Z.zip"))


def test_without_output_dir_no_report_path_is_logged(tmp_path: Path) -> None:
    result = run_target_process({"dry_run": True}, singer_lines(hr_schema(), small_org()), tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Data-quality report:" not in result.stderr
    assert "Set output_dir to keep the data-quality report" in result.stderr
