"""The sample HR dataset: reproducible, and consistent at every effective date."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from collections import Counter, defaultdict
from itertools import groupby, pairwise
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "sample-data" / "generate.py"
HEADERS = [
    "EmployeeNumber", "PersonId", "ManagerId", "Organization", "FunctionType", "LevelDesignation", "Layer",
    "SupervisorIndicator", "Location", "CountryOrRegion", "HireDate", "EffectiveDate", "TerminationDate",
    "HourlyRate",
]  # fmt: skip


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    with (REPO / "sample-data" / "hr" / "employees.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == HEADERS
        return list(reader)


def test_generator_reproduces_the_committed_csv_byte_for_byte(tmp_path, sample_csv):
    output = tmp_path / "employees.csv"
    subprocess.run([sys.executable, str(GENERATOR), "--output", str(output)], check=True)
    assert output.read_bytes() == sample_csv.read_bytes()


def test_values_have_the_documented_shapes(rows):
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+[0-9]*@contoso\.com", r["PersonId"]) for r in rows)
    assert all(re.fullmatch(r"[0-9]{6}", r["EmployeeNumber"]) for r in rows)
    assert any(r["EmployeeNumber"].startswith("000") for r in rows)
    assert all(re.fullmatch(r"[0-9]+\.[0-9]{2}", r["HourlyRate"]) for r in rows)
    for column in ("HireDate", "EffectiveDate"):
        assert all(re.fullmatch(r"20[0-9]{2}-[0-9]{2}-[0-9]{2}", r[column]) for r in rows)
    assert {r["SupervisorIndicator"] for r in rows} == {"IC", "Mngr", "Mngr+"}
    assert min(r["EffectiveDate"] for r in rows) == "2024-11-01"
    assert max(r["EffectiveDate"] for r in rows) <= "2026-10-31"
    ceo_rows = [r for r in rows if not r["ManagerId"]]
    assert {r["PersonId"] for r in ceo_rows} == {ceo_rows[0]["PersonId"]}
    assert {r["Layer"] for r in ceo_rows} == {"0"}


def test_two_years_of_every_kind_of_change(rows):
    by_person = defaultdict(list)
    for row in rows:
        by_person[row["PersonId"]].append(row)
    hires = sum(1 for r in rows if r["HireDate"] == r["EffectiveDate"])
    leavers = sum(1 for r in rows if r["TerminationDate"])
    promotions = manager_changes = reorganizations = 0
    for history in by_person.values():
        for before, after in pairwise(history):
            promotions += before["LevelDesignation"] != after["LevelDesignation"]
            manager_changes += before["ManagerId"] != after["ManagerId"]
            reorganizations += before["Organization"] != after["Organization"]
    assert hires > 300
    assert leavers > 300
    assert promotions > 100
    assert manager_changes > 100
    assert reorganizations > 20
    assert 2_000 <= len(by_person) <= 3_000


def test_the_tree_is_consistent_at_every_effective_date(rows):
    """At each date: managers are active people, no loops, Layer = depth, SupervisorIndicator fits."""
    current: dict[str, dict[str, str]] = {}
    ordered = sorted(rows, key=lambda r: r["EffectiveDate"])
    checked_dates = 0
    for day, changes in groupby(ordered, key=lambda r: r["EffectiveDate"]):
        for row in changes:
            current[row["PersonId"]] = row
        active = {p: r for p, r in current.items() if not r["TerminationDate"] or r["TerminationDate"] >= day}
        reports = Counter(r["ManagerId"] for r in active.values() if r["ManagerId"])
        managers_of_managers = {active[m]["ManagerId"] for m in reports if m in active}
        for person, row in active.items():
            depth, boss, seen = 0, row["ManagerId"], {person}
            while boss:
                assert boss in active, f"{day}: {person}'s manager {boss} is not an active person"
                assert boss not in seen, f"{day}: reporting loop through {boss}"
                seen.add(boss)
                depth, boss = depth + 1, active[boss]["ManagerId"]
            assert int(row["Layer"]) == depth, f"{day}: {person} Layer {row['Layer']} but depth {depth}"
            expected = (
                "IC" if not reports[person] else ("Mngr+" if person in managers_of_managers else "Mngr")
            )
            assert row["SupervisorIndicator"] == expected, f"{day}: {person} SupervisorIndicator"
        checked_dates += 1
    assert checked_dates > 400


def test_thirteen_monthly_snapshots_of_about_2000_people(run_tap, sample_csv):
    config = {
        "streams": [
            {
                "name": "employees",
                "path": str(sample_csv),
                "key_properties": ["PersonId", "EffectiveDate"],
                "history": "monthly_snapshots",
                "person_key": "PersonId",
                "effective_date_column": "EffectiveDate",
                "end_date_column": "TerminationDate",
                "months": 13,
                "snapshot_end_date": "2026-10-01",
            }
        ]
    }
    records = run_tap(config).of("employees")
    months = defaultdict(list)
    for record in records:
        months[record["EffectiveDate"]].append(record)
    assert sorted(months) == [f"{y}-{m:02d}-01" for y, m in [(2025, 10), (2025, 11), (2025, 12)]] + [
        f"2026-{m:02d}-01" for m in range(1, 11)
    ]
    for month, people in months.items():
        assert 1_900 <= len(people) <= 2_200, month
        ids = {p["PersonId"] for p in people}
        assert len(ids) == len(people), month
        assert all(p["ManagerId"] in ids for p in people if p["ManagerId"]), month
        assert sum(1 for p in people if p["ManagerId"] is None) == 1, month
        assert all(p["TerminationDate"] is None or p["TerminationDate"] >= month for p in people), month
        assert all(isinstance(p["Layer"], int) and isinstance(p["HourlyRate"], float) for p in people)
